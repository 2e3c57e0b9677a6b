//! Every HTTP endpoint of the protocol, described once: method, path, path
//! parameters, request and response types, success status and error codes.
//!
//! The servers register their routes from these descriptions, their OpenAPI
//! documents are generated from them (`openapi`, feature `schema`), and the
//! clients ([`crate::client`]) build their requests from them, so a route
//! cannot exist in one place and be missing in another. [`bank`] and
//! [`merchant`] list each party's endpoints for whoever needs all of them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bytes::B32;
use crate::error::ErrorCode;
use crate::keyset::SignedKeySet;
use crate::messages::*;
use crate::shop::{Delivery, GoodsRequest, Item, NewOrder, OrderList};
use crate::signing::Signed;
use crate::spent::SpentList;

/// An HTTP method the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: reads, never changes state.
    Get,
    /// `POST`: everything that sends a body or changes state.
    Post,
}

impl Method {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// What a request carries besides its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    /// Nothing.
    None,
    /// A JSON body.
    Json,
    /// Values in headers (see the endpoint's `headers`).
    Headers,
}

/// What a successful answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// JSON of the response type.
    Json,
    /// An HTML page for people.
    Html,
    /// Plain text (`text/plain`).
    Text,
    /// A static file (stylesheet, script, image), typed by its name.
    File,
    /// A redirect (`303 See Other`): the response is its `Location`.
    Redirect,
}

/// A path parameter or header of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name, as in the path template (`{name}`) or as the header's name.
    pub name: &'static str,
    /// What it holds.
    pub description: &'static str,
}

/// One endpoint's description (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Stable name (the OpenAPI `operationId`).
    pub id: &'static str,
    /// Method.
    pub method: Method,
    /// Path template, `{name}` for each parameter (actix uses the same syntax).
    pub path: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// More, where one line is not enough (may be empty).
    pub description: &'static str,
    /// Path parameters, in the order the path names them.
    pub params: &'static [Param],
    /// Request headers the endpoint reads.
    pub headers: &'static [Param],
    /// What the request carries.
    pub body: RequestBody,
    /// Status of a successful answer.
    pub status: u16,
    /// What a successful answer carries.
    pub content: Content,
    /// Error codes this endpoint answers with, beside those every endpoint
    /// may ([`COMMON_ERRORS`]).
    pub errors: &'static [ErrorCode],
}

/// Codes any endpoint may answer with: limits, timeouts, server faults, and
/// for a body, a malformed or too large one.
pub const COMMON_ERRORS: &[ErrorCode] = &[
    ErrorCode::RateLimited,
    ErrorCode::Timeout,
    ErrorCode::Internal,
];

/// Codes any endpoint with a JSON body may answer with, too.
pub const BODY_ERRORS: &[ErrorCode] = &[ErrorCode::MalformedRequest, ErrorCode::PayloadTooLarge];

/// A request or response type of the protocol.
#[cfg(not(feature = "schema"))]
pub trait Payload: Serialize + DeserializeOwned {}
#[cfg(not(feature = "schema"))]
impl<T: Serialize + DeserializeOwned> Payload for T {}

/// A request or response type of the protocol (with its JSON Schema).
#[cfg(feature = "schema")]
pub trait Payload: Serialize + DeserializeOwned + schemars::JsonSchema {}
#[cfg(feature = "schema")]
impl<T: Serialize + DeserializeOwned + schemars::JsonSchema> Payload for T {}

/// Values that fill a path template's parameters, in order.
pub trait PathParams {
    /// The values, unencoded.
    fn values(&self) -> Vec<String>;
}

impl PathParams for () {
    fn values(&self) -> Vec<String> {
        Vec::new()
    }
}

impl PathParams for str {
    fn values(&self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl PathParams for B32 {
    fn values(&self) -> Vec<String> {
        vec![self.to_b64()]
    }
}

/// A request's headers and body, as the endpoint encodes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Headers to send.
    pub headers: Vec<(&'static str, String)>,
    /// The body, with its media type.
    pub body: Option<(&'static str, Vec<u8>)>,
}

/// An endpoint: its description and its types.
pub trait Endpoint {
    /// The description.
    const INFO: EndpointInfo;
    /// What fills the path's parameters.
    type Params: PathParams + ?Sized;
    /// What the request carries (`()` for nothing).
    type Request: Payload;
    /// What a successful answer carries.
    type Response: Payload;

    /// The path with `params` filled in, each percent-encoded.
    fn path(params: &Self::Params) -> String {
        fill_path(Self::INFO.path, &params.values())
    }

    /// The request's headers and body.
    fn encode(req: &Self::Request) -> Result<Encoded, String> {
        match Self::INFO.body {
            RequestBody::Json => Ok(Encoded {
                headers: Vec::new(),
                body: Some((
                    "application/json",
                    serde_json::to_vec(req).map_err(|e| e.to_string())?,
                )),
            }),
            RequestBody::None | RequestBody::Headers => Ok(Encoded::default()),
        }
    }

    /// The response from a successful answer's body (or, for a redirect, its `Location`).
    fn decode(body: &[u8], location: Option<&str>) -> Result<Self::Response, String> {
        let value = match Self::INFO.content {
            Content::Json => return serde_json::from_slice(body).map_err(|e| e.to_string()),
            Content::Redirect => serde_json::Value::String(
                location.ok_or("a redirect without a Location")?.to_owned(),
            ),
            Content::Html | Content::Text | Content::File => serde_json::Value::String(
                String::from_utf8(body.to_vec()).map_err(|_| "the body is not UTF-8")?,
            ),
        };
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

/// `template` with each `{name}` replaced by the next of `values`,
/// percent-encoded as one path segment.
pub fn fill_path(template: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if let Some(v) = values.next() {
            out.extend(percent_encoding::utf8_percent_encode(v, SEGMENT));
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// What a path segment may not hold unencoded (RFC 3986: all but unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Something that wants to see every endpoint of a party with its types:
/// the OpenAPI generator, the route checks.
pub trait Visitor {
    /// Called once per endpoint.
    fn visit<E: Endpoint>(&mut self);
}

/// Collects the descriptions.
#[derive(Debug, Default)]
pub struct Infos(pub Vec<EndpointInfo>);

impl Visitor for Infos {
    fn visit<E: Endpoint>(&mut self) {
        self.0.push(E::INFO);
    }
}

const P_KEY_ID: Param = Param {
    name: "key_id",
    description: "a denomination key's id, base64url",
};
const P_ACCOUNT: Param = Param {
    name: "id",
    description: "an account id",
};
const P_ITEM: Param = Param {
    name: "item_id",
    description: "an item of the catalogue",
};
const P_PAYREQ: Param = Param {
    name: "payreq_id",
    description: "an order's payment request id",
};

/// Header carrying the unix time of a signed account query.
pub const TIMESTAMP_HEADER: &str = "x-ecash-timestamp";
/// Header carrying the base64url signature of a signed account query.
pub const SIGNATURE_HEADER: &str = "x-ecash-signature";
/// Header carrying a shop's admin token (`Bearer <token>`).
pub const AUTHORIZATION_HEADER: &str = "authorization";

/// An endpoint with a JSON answer and the given shape (saves repeating defaults).
const fn json(
    id: &'static str,
    method: Method,
    path: &'static str,
    summary: &'static str,
    errors: &'static [ErrorCode],
) -> EndpointInfo {
    EndpointInfo {
        id,
        method,
        path,
        summary,
        description: "",
        params: &[],
        headers: &[],
        body: match method {
            Method::Get => RequestBody::None,
            Method::Post => RequestBody::Json,
        },
        status: 200,
        content: Content::Json,
        errors,
    }
}

/// Declares an endpoint type.
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $params:ty, $req:ty => $resp:ty, $info:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Endpoint for $name {
            const INFO: EndpointInfo = $info;
            type Params = $params;
            type Request = $req;
            type Response = $resp;
        }
    };
}

// ---------------------------------------------------------------- the bank

endpoint!(
    /// `GET /keys`: the key set, signed by the master key.
    Keys, (), () => SignedKeySet,
    EndpointInfo {
        description: "Every denomination key not yet past its deposit window (with its period \
            index: one key per value and period), the envelope key, the period length; signed \
            as a whole by the master key, which wallets pin.",
        ..json("keys", Method::Get, "/keys", "The key set signed by the mint master key", &[])
    }
);

endpoint!(
    /// `GET /keys/{key_id}/spent`: the public list of coins spent under a key.
    SpentCoins, B32, () => SpentList,
    EndpointInfo {
        description: "The same bytes for every client (rebuilt at most every \
            --spent-list-max-age seconds, cacheable): sorted, distinct 8-byte fingerprints \
            (the first 8 bytes of each serial), with a header signed by the master key. A \
            restored wallet checks its coins against it locally, so the bank never learns \
            which coins a wallet holds.",
        params: &[P_KEY_ID],
        ..json(
            "spent_list",
            Method::Get,
            "/keys/{key_id}/spent",
            "The signed list of every coin spent under a denomination key",
            &[ErrorCode::InvalidField, ErrorCode::UnknownKey, ErrorCode::KeyExpired],
        )
    }
);

endpoint!(
    /// `POST /accounts`: registers the key that signed the request.
    Register, (), Signed<RegisterAccount> => AccountCreated,
    json(
        "register",
        Method::Post,
        "/accounts",
        "Register an account key (self-signed); the same key again answers the same id",
        &[ErrorCode::BadSignature, ErrorCode::InvalidField],
    )
);

/// The signature of a query for an account statement, sent in headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountAuth {
    /// The query's time, unix seconds.
    pub timestamp: u64,
    /// The account key's signature over [`AccountQuery`].
    pub signature: crate::signing::Signature,
}

/// `GET /accounts/{id}`: balance and ledger, for the holder of the account key.
#[derive(Debug, Clone, Copy)]
pub struct Statement;

impl Endpoint for Statement {
    const INFO: EndpointInfo = EndpointInfo {
        params: &[P_ACCOUNT],
        headers: &[
            Param {
                name: TIMESTAMP_HEADER,
                description: "unix time of the query",
            },
            Param {
                name: SIGNATURE_HEADER,
                description: "base64url Ed25519 signature of AccountQuery{id, timestamp} by the account key",
            },
        ],
        body: RequestBody::Headers,
        ..json(
            "account",
            Method::Get,
            "/accounts/{id}",
            "Balance and ledger (signed query in headers)",
            &[
                ErrorCode::BadSignature,
                ErrorCode::StaleRequest,
                ErrorCode::UnknownAccount,
            ],
        )
    };
    type Params = str;
    type Request = AccountAuth;
    type Response = AccountStatement;

    fn encode(req: &AccountAuth) -> Result<Encoded, String> {
        Ok(Encoded {
            headers: vec![
                (TIMESTAMP_HEADER, req.timestamp.to_string()),
                (SIGNATURE_HEADER, req.signature.0.to_b64()),
            ],
            body: None,
        })
    }
}

endpoint!(
    /// `GET /accounts/{id}/public-key`: an account's key, to check its receipts.
    PublicKeyOf, str, () => AccountKey,
    EndpointInfo {
        params: &[P_ACCOUNT],
        ..json(
            "public_key",
            Method::Get,
            "/accounts/{id}/public-key",
            "An account's public key (to check a shop's receipts)",
            &[ErrorCode::UnknownAccount],
        )
    }
);

endpoint!(
    /// `POST /accounts/{id}/faucet`: demo credit, when the bank has it on.
    Faucet, str, FaucetRequest => AccountStatement,
    EndpointInfo {
        params: &[P_ACCOUNT],
        ..json(
            "faucet",
            Method::Post,
            "/accounts/{id}/faucet",
            "Demo credit (only with --demo-faucet)",
            &[
                ErrorCode::FaucetDisabled,
                ErrorCode::InvalidField,
                ErrorCode::UnknownAccount,
            ],
        )
    }
);

endpoint!(
    /// `POST /withdraw`: an account-signed batch of blinded coins.
    Withdraw, (), Signed<WithdrawRequest> => BlindSignatures,
    EndpointInfo {
        description: "Checks the signature, keys, ranges and balance before any signing; \
            debits once; stores the blind signatures under the request id (a retry with the \
            same id and body gets the same answer).",
        ..json(
            "withdraw",
            Method::Post,
            "/withdraw",
            "Blind-sign a batch of coins against the account",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::InsufficientFunds,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::AmountMismatch,
                ErrorCode::RequestIdReused,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /deposit`: a merchant-signed payment.
    Deposit, (), Signed<crate::messages::Deposit> => Signed<DepositAck>,
    EndpointInfo {
        description: "Opens the envelope, checks its binding to payment_info, the merchant and \
            every coin, then records the serials and credits the merchant in one transaction. \
            The same payment again answers the same ack; a spent coin refuses it whole \
            (409 coin_spent, naming the coins).",
        ..json(
            "deposit",
            Method::Post,
            "/deposit",
            "Deposit a payment; the answer is the bank's signed ack",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::WrongMerchant,
                ErrorCode::EnvelopeInvalid,
                ErrorCode::AmountMismatch,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::InvalidCoin,
                ErrorCode::DuplicateCoin,
                ErrorCode::CoinSpent,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /exchange`: coins in, blinded coins of the same total out.
    Exchange, (), ExchangeRequest => BlindSignatures,
    EndpointInfo {
        description: "Every cheap check (keys, ranges, coin signatures, spent state) before \
            any signing; idempotent under request_id.",
        ..json(
            "exchange",
            Method::Post,
            "/exchange",
            "Exchange coins for new blind signatures of the same total",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::InvalidCoin,
                ErrorCode::DuplicateCoin,
                ErrorCode::AmountMismatch,
                ErrorCode::CoinSpent,
                ErrorCode::RequestIdReused,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /coins/state`: which of these serials are spent.
    CoinState, (), CoinStateRequest => CoinStateResponse,
    EndpointInfo {
        description: "Privacy cost: the bank learns that the serials asked about belong \
            together. Wallets ask it only about the coins of one unfinished payment or \
            exchange, which that operation already showed the bank together.",
        ..json(
            "coin_state",
            Method::Post,
            "/coins/state",
            "Which serials are spent",
            &[ErrorCode::InvalidField, ErrorCode::TooManyCoins],
        )
    }
);

endpoint!(
    /// `POST /proofs`: the payer's `payer_code` for a bank-signed proof of payment.
    Proof, (), ProofRequest => Signed<PaymentProof>,
    json(
        "proofs",
        Method::Post,
        "/proofs",
        "Reveal payer_code; get a bank-signed proof of payment",
        &[ErrorCode::NotFound, ErrorCode::BadPayerCode],
    )
);

endpoint!(
    /// `POST /restore`: the stored blind signatures of re-derived blinded coins.
    Restore, (), RestoreRequest => RestoreResponse,
    json(
        "restore",
        Method::Post,
        "/restore",
        "Stored blind signatures for blinded messages re-derived from a seed",
        &[ErrorCode::InvalidField, ErrorCode::TooManyCoins],
    )
);

endpoint!(
    /// `GET /healthz`: the server and its database answer.
    Health, (), () => crate::messages::Health,
    json("healthz", Method::Get, "/healthz", "Liveness: the database answers", &[])
);

endpoint!(
    /// `GET /openapi.json`: the party's API document, generated from these descriptions.
    OpenApi, (), () => serde_json::Value,
    json("openapi", Method::Get, "/openapi.json", "This API document (OpenAPI 3.1)", &[])
);

endpoint!(
    /// `GET /metrics`: counters of costly work, when the operator turned them on.
    Metrics, (), () => String,
    EndpointInfo {
        content: Content::Text,
        description: "Prometheus text format. Off unless --metrics: their timing could help an \
            onlooker link a withdrawal to a payment.",
        ..json(
            "metrics",
            Method::Get,
            "/metrics",
            "Counters of costly work (blind signatures, envelope unwraps, coin checks)",
            &[ErrorCode::NotFound],
        )
    }
);

/// Every endpoint of the bank.
pub fn bank<V: Visitor>(v: &mut V) {
    v.visit::<Keys>();
    v.visit::<SpentCoins>();
    v.visit::<Register>();
    v.visit::<Statement>();
    v.visit::<PublicKeyOf>();
    v.visit::<Faucet>();
    v.visit::<Withdraw>();
    v.visit::<Deposit>();
    v.visit::<Exchange>();
    v.visit::<CoinState>();
    v.visit::<Proof>();
    v.visit::<Restore>();
    v.visit::<Health>();
    v.visit::<OpenApi>();
    v.visit::<Metrics>();
}

// ------------------------------------------------------------ the merchant

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
    /// `GET /fulfillment/{payreq_id}`: the goods, once paid (payment id in the fragment).
    FulfillmentPage, str, () => String,
    page(
        "fulfillment_page",
        "/fulfillment/{payreq_id}",
        "The goods and receipt; the page reads the payment id from its URL fragment",
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
        ..json(
            "payreq",
            Method::Get,
            "/api/orders/{payreq_id}",
            "An order's payment request",
            &[ErrorCode::NotFound],
        )
    }
);

endpoint!(
    /// `POST /api/orders/{payreq_id}/goods`: the goods, for the holder of the payment id.
    Goods, str, GoodsRequest => Delivery,
    EndpointInfo {
        params: &[P_PAYREQ],
        description: "The payment id travels in the body, never in a URL.",
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
    v.visit::<OrderListApi>();
    v.visit::<Health>();
    v.visit::<OpenApi>();
}

/// The descriptions a listing function visits.
pub fn infos(list: fn(&mut Infos)) -> Vec<EndpointInfo> {
    let mut all = Infos::default();
    list(&mut all);
    all.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_filled_and_encoded() {
        assert_eq!(fill_path("/keys", &[]), "/keys");
        assert_eq!(
            fill_path("/accounts/{id}/faucet", &["a/b c".into()]),
            "/accounts/a%2Fb%20c/faucet"
        );
        assert_eq!(
            SpentCoins::path(&B32::default()),
            format!("/keys/{}/spent", B32::default())
        );
        assert_eq!(Pay::path("x-Y_z.~"), "/api/pay/x-Y_z.~");
    }

    #[test]
    fn every_endpoint_is_described_once_and_its_path_names_its_params() {
        for list in [bank as fn(&mut Infos), merchant] {
            let all = infos(list);
            let mut seen = std::collections::HashSet::new();
            for e in &all {
                assert!(seen.insert((e.method, e.path)), "{} twice", e.path);
                let named: Vec<&str> = e
                    .path
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                    .collect();
                let declared: Vec<&str> = e.params.iter().map(|p| p.name).collect();
                assert_eq!(named, declared, "{}", e.path);
                assert!(!e.summary.is_empty(), "{}", e.id);
                if e.method == Method::Get {
                    assert_ne!(e.body, RequestBody::Json, "{}: a GET with a body", e.id);
                }
            }
        }
    }

    #[test]
    fn non_json_answers_decode_to_text_and_redirects_to_their_location() {
        assert_eq!(
            ItemPage::decode(b"<p>hi</p>", None).as_deref(),
            Ok("<p>hi</p>")
        );
        assert_eq!(
            OrderItem::decode(b"", Some("/order/x")).as_deref(),
            Ok("/order/x")
        );
        assert!(OrderItem::decode(b"", None).is_err());
        let enc = Statement::encode(&AccountAuth {
            timestamp: 5,
            signature: crate::signing::Signature(crate::bytes::B64::default()),
        })
        .expect("encodes");
        assert_eq!(enc.headers[0], (TIMESTAMP_HEADER, "5".into()));
        assert!(enc.body.is_none());
        let enc = OrderListApi::encode(&AdminToken("t".into())).expect("encodes");
        assert_eq!(
            enc.headers,
            vec![(AUTHORIZATION_HEADER, "Bearer t".to_owned())]
        );
    }
}
