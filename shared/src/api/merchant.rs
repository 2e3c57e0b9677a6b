//! A merchant's endpoints.

use serde::Serialize;

use super::bank::{Health, OpenApi};
use super::{
    AUTHORIZATION_HEADER, Content, Encoded, Endpoint, EndpointInfo, Method, P_ITEM, P_PAYREQ,
    Param, RequestBody, Visitor, json,
};
use crate::error::ErrorCode;
use crate::messages::{PayReq, Payment, PaymentResponse};
use crate::shop::{Delivery, GoodsRequest, Item, NewOrder, OrderList};

/// A page for people.
const fn page(
    id: &'static str,
    path: &'static str,
    summary: &'static str,
    params: &'static [Param],
    errors: &'static [ErrorCode],
) -> EndpointInfo {
    EndpointInfo {
        params,
        content: Content::Html,
        ..json(id, Method::Get, path, summary, errors)
    }
}

endpoint!(
    /// `GET /`: the catalogue.
    CataloguePage, (), () => String,
    page("catalogue_page", "/", "The shop's catalogue", &[], &[])
);

endpoint!(
    /// `GET /item/{item_id}`: an item, with a form that orders it.
    ItemPage, str, () => String,
    page(
        "item_page",
        "/item/{item_id}",
        "An item and a form that orders it (showing it stores nothing)",
        &[P_ITEM],
        &[ErrorCode::NotFound],
    )
);

endpoint!(
    /// `POST /item/{item_id}/order`: the item page's form; answers `303` to the order page.
    OrderItem, str, () => String,
    EndpointInfo {
        params: &[P_ITEM],
        body: RequestBody::None,
        status: 303,
        content: Content::Redirect,
        description: "Only from the shop's own pages (Sec-Fetch-Site / Origin) or origins named \
            with --order-origin: another site's form cannot fill the order book.",
        ..json(
            "order_item",
            Method::Post,
            "/item/{item_id}/order",
            "Order an item; redirects to the order page",
            &[ErrorCode::NotFound, ErrorCode::MalformedRequest, ErrorCode::Unavailable],
        )
    }
);

endpoint!(
    /// `GET /order/{payreq_id}`: an order with its "Pay with Ecash" links.
    OrderPage, str, () => String,
    page(
        "order_page",
        "/order/{payreq_id}",
        "An order: price, expiry, and links to pay it with a wallet",
        &[P_PAYREQ],
        &[ErrorCode::NotFound],
    )
);

endpoint!(
    /// `GET /fulfillment/{payreq_id}`: the goods, once paid (goods key in the fragment).
    FulfillmentPage, str, () => String,
    page(
        "fulfillment_page",
        "/fulfillment/{payreq_id}",
        "The goods and receipt; the page reads the goods key from its URL fragment",
        &[P_PAYREQ],
        &[],
    )
);

endpoint!(
    /// `GET /orders`: the shop keeper's list of orders (admin token in the fragment).
    OrdersPage, (), () => String,
    page(
        "orders_page",
        "/orders",
        "The shop keeper's page of orders and their state (its script reads the admin token \
         from the URL fragment)",
        &[],
        &[],
    )
);

endpoint!(
    /// `GET /assets/{name}`: the pages' stylesheet, scripts and images.
    Asset, str, () => String,
    EndpointInfo {
        params: &[Param {
            name: "name",
            description: "file name",
        }],
        content: Content::File,
        ..json("asset", Method::Get, "/assets/{name}", "The pages' files", &[ErrorCode::NotFound])
    }
);

endpoint!(
    /// `GET /api/items`: the catalogue as data.
    Items, (), () => Vec<Item>,
    json("items", Method::Get, "/api/items", "The catalogue", &[])
);

endpoint!(
    /// `POST /api/orders`: a new order; answers its payment request (`201`).
    NewOrderApi, (), NewOrder => PayReq,
    EndpointInfo {
        status: 201,
        description: "Programs may order; a browser only from the shop's own pages or origins \
            named with --order-origin. At most 50,000 orders are open at once (then 503).",
        ..json(
            "new_order",
            Method::Post,
            "/api/orders",
            "Create an order and its payment request",
            &[ErrorCode::NotFound, ErrorCode::MalformedRequest, ErrorCode::Unavailable],
        )
    }
);

endpoint!(
    /// `GET /api/orders/{payreq_id}`: an order's payment request (what wallets fetch).
    PayreqApi, str, () => PayReq,
    EndpointInfo {
        params: &[P_PAYREQ],
        description: "Only while no payment holds the order: once one does, the request \
            (what is sold) is no longer shown (in_progress while it is at the bank, then \
            order_taken), so the bank, which learns the order's id from the deposit, cannot \
            read what was bought.",
        ..json(
            "payreq",
            Method::Get,
            "/api/orders/{payreq_id}",
            "An order's payment request",
            &[ErrorCode::NotFound, ErrorCode::InProgress, ErrorCode::OrderTaken],
        )
    }
);

endpoint!(
    /// `POST /api/orders/{payreq_id}/goods`: the goods, for the holder of the goods key.
    Goods, str, GoodsRequest => Delivery,
    EndpointInfo {
        params: &[P_PAYREQ],
        description: "The goods key (derived from the payer code, so the bank, which knows \
            the payment id, cannot ask) travels in the body, never in a URL.",
        ..json(
            "goods",
            Method::Post,
            "/api/orders/{payreq_id}/goods",
            "The goods and receipt of a paid order",
            &[ErrorCode::NotFound, ErrorCode::PayreqInvalid],
        )
    }
);

endpoint!(
    /// `POST /api/pay/{payreq_id}`: a payment for an order (the payreq's `pay_url`).
    Pay, str, Payment => PaymentResponse,
    EndpointInfo {
        params: &[P_PAYREQ],
        description: "The shop checks the payment against its request, claims the order for \
            it, deposits it at its bank and answers the bank's signed ack with its own signed \
            receipt. The same payment again gets the same answer; another payment of a paid \
            order gets order_taken, of an order being paid in_progress; the bank's refusals \
            pass through with their codes; an unreachable bank is unavailable (retry).",
        ..json(
            "pay",
            Method::Post,
            "/api/pay/{payreq_id}",
            "Pay an order",
            &[
                ErrorCode::NotFound,
                ErrorCode::PayreqInvalid,
                ErrorCode::OrderTaken,
                ErrorCode::InProgress,
                ErrorCode::Unavailable,
                ErrorCode::EnvelopeInvalid,
                ErrorCode::AmountMismatch,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::InvalidCoin,
                ErrorCode::DuplicateCoin,
                ErrorCode::CoinSpent,
            ],
        )
    }
);

endpoint!(
    /// `POST /api/offline/request`: a single-use request for an offline payment.
    OfflineRequestApi, (), () => crate::offline::PaymentRequest,
    EndpointInfo {
        body: RequestBody::None,
        description: "The shop's account id, a fresh 16-byte nonce and its own clock: the \
            payer's challenge follows from them, so the payer chooses nothing it depends on. \
            Shown as a QR code or a link; open for --payreq-ttl-secs.",
        ..json(
            "offline_request",
            Method::Post,
            "/api/offline/request",
            "A request for an offline payment",
            &[ErrorCode::RateLimited, ErrorCode::Unavailable],
        )
    }
);

endpoint!(
    /// `POST /api/offline/pay`: an offline spend, accepted with no bank.
    OfflinePay, (), crate::offline::Spend => crate::offline::messages::OfflineAccepted,
    EndpointInfo {
        description: "Checked with no network: the request is this shop's, open and unused; \
            the key is an offline key of the bank's signed set, in its deposit window; the \
            challenge, term order and signature hold; the coin is not in the shop's own list \
            of coins received. The shop deposits what it took in batches once its bank \
            answers. Offline acceptance is guaranteed only up to the double spender's \
            collateral at the bank.",
        ..json(
            "offline_pay",
            Method::Post,
            "/api/offline/pay",
            "Pay offline",
            &[
                ErrorCode::NotFound,
                ErrorCode::PayreqInvalid,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::InvalidCoin,
                ErrorCode::CoinSpent,
                ErrorCode::RateLimited,
            ],
        )
    }
);

/// `GET /api/admin/orders`: every order and its state, for the shop keeper.
#[derive(Debug, Clone, Copy)]
pub struct OrderListApi;

impl Endpoint for OrderListApi {
    const INFO: EndpointInfo = EndpointInfo {
        headers: &[Param {
            name: AUTHORIZATION_HEADER,
            description: "Bearer <the shop's admin token>",
        }],
        body: RequestBody::Headers,
        ..json(
            "order_list",
            Method::Get,
            "/api/admin/orders",
            "Every order and its state (shop keeper only)",
            &[ErrorCode::Unauthorized],
        )
    };
    type Params = ();
    type Request = AdminToken;
    type Response = OrderList;

    fn encode(req: &AdminToken) -> Result<Encoded, String> {
        Ok(Encoded {
            headers: vec![(AUTHORIZATION_HEADER, format!("Bearer {}", req.0))],
            body: None,
        })
    }
}

/// The shop keeper's admin token, sent as `Authorization: Bearer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct AdminToken(pub String);

/// Every endpoint of a merchant.
pub fn merchant<V: Visitor>(v: &mut V) {
    v.visit::<CataloguePage>();
    v.visit::<ItemPage>();
    v.visit::<OrderItem>();
    v.visit::<OrderPage>();
    v.visit::<FulfillmentPage>();
    v.visit::<OrdersPage>();
    v.visit::<Asset>();
    v.visit::<Items>();
    v.visit::<NewOrderApi>();
    v.visit::<PayreqApi>();
    v.visit::<Goods>();
    v.visit::<Pay>();
    v.visit::<OfflineRequestApi>();
    v.visit::<OfflinePay>();
    v.visit::<OrderListApi>();
    v.visit::<Health>();
    v.visit::<OpenApi>();
}
