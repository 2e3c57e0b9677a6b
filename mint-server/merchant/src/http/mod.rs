//! The merchant's HTTP edge: one route per endpoint the protocol describes
//! (`ecash_core::api::merchant`), thin handlers, shop refusals mapped to
//! `{code, message}` and a status, and the OpenAPI document generated from
//! the same descriptions.

pub mod pages;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use ecash_core::api::{self, AUTHORIZATION_HEADER, Endpoint};
use ecash_core::messages::{Health, Payment};
use ecash_core::shop::{GoodsRequest, NewOrder};
use ecash_core::{ErrorCode, PublicKey};
use ecash_serve::limits::{ClientIp, ClientQuota};
use ecash_serve::{Answer, Cached, HttpError, Reply, Routes};

use crate::catalog;
use crate::shop::{Shop, ShopError};

impl From<ShopError> for HttpError {
    fn from(e: ShopError) -> Self {
        HttpError(e.to_api())
    }
}

type Json<E> = Result<Answer<E>, HttpError>;
type Page<E> = Result<Reply<E>, HttpError>;

/// Every merchant route.
pub fn routes() -> Routes {
    let mut r = Routes::new();
    r.add(catalogue_page)
        .add(item_page)
        .add(order_item)
        .add(order_page)
        .add(fulfillment_page)
        .add(orders_page)
        .add(asset)
        .add(items)
        .add(new_order)
        .add(payreq)
        .add(goods)
        .add(pay)
        .add(offline_request)
        .add(offline_pay)
        .add(order_list)
        .add(healthz)
        .add(openapi);
    r
}

/// The merchant's API document, generated from the endpoint descriptions.
pub fn openapi_document() -> serde_json::Value {
    ecash_core::openapi::document(
        "Browser e-cash demo merchant",
        "A shop that sells for e-cash: payment requests, payments deposited at its bank, \
         signed receipts, goods. Every error is JSON {code, message}.",
        ecash_core::api::merchant,
    )
}

/// The quotas per client of what costs the shop: orders (stored until they
/// expire) and payments (each deposited at the bank).
pub struct Quotas {
    /// Orders made.
    pub orders: ClientQuota,
    /// Payments sent.
    pub payments: ClientQuota,
}

impl Quotas {
    /// The quotas the flags set.
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            orders: ClientQuota::new(config.order_rate, config.order_burst, "orders"),
            payments: ClientQuota::new(config.pay_rate, config.pay_burst, "payments"),
        }
    }

    /// Forgets clients idle long enough to have full quotas again.
    pub fn shrink(&self) {
        self.orders.shrink();
        self.payments.shrink();
    }
}

/// The OpenAPI document, encoded once at start.
#[derive(Debug, Clone)]
pub struct OpenApiDoc(pub Arc<String>);

fn html<E: Endpoint>(shop: &Shop, title: &str, body: &str, script: Option<&str>) -> Reply<E> {
    Reply::new(pages::page(
        title,
        &shop.settings().wallet_url,
        body,
        script,
    ))
}

fn product(id: &str) -> Result<&'static catalog::Product, HttpError> {
    catalog::product(id).ok_or_else(|| ShopError::NoItem(id.to_owned()).into())
}

/// Refuses a browser request made from another site's page.
fn same_site(shop: &Shop, req: &HttpRequest) -> Result<(), HttpError> {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if shop.from_another_site(h("sec-fetch-site"), h("origin")) {
        return Err(HttpError::new(
            ErrorCode::MalformedRequest,
            "orders are made from the shop's own pages",
        ));
    }
    Ok(())
}

/// `GET /`
pub async fn catalogue_page(shop: web::Data<Shop>) -> Page<api::CataloguePage> {
    let currency = shop.currency().await;
    let items: Vec<_> = catalog::PRODUCTS
        .iter()
        .map(|p| p.item(&currency))
        .collect();
    Ok(html(&shop, "Catalogue", &pages::catalogue(&items), None))
}

/// `GET /item/{item_id}`
pub async fn item_page(shop: web::Data<Shop>, id: web::Path<String>) -> Page<api::ItemPage> {
    let p = product(&id)?;
    let item = p.item(&shop.currency().await);
    Ok(html(&shop, p.title, &pages::item(&item), None))
}

/// `POST /item/{item_id}/order`: creates an order, then shows it (303).
pub async fn order_item(
    shop: web::Data<Shop>,
    quotas: web::Data<Quotas>,
    client: ClientIp,
    id: web::Path<String>,
    req: HttpRequest,
) -> Page<api::OrderItem> {
    same_site(&shop, &req)?;
    quotas.orders.take(client)?;
    let payreq = shop.create_order(&id).await?;
    let to = api::OrderPage::path(&payreq.payreq_id);
    Ok(Reply::new(
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to))
            .finish(),
    ))
}

/// `GET /order/{payreq_id}`
pub async fn order_page(shop: web::Data<Shop>, id: web::Path<String>) -> Page<api::OrderPage> {
    let payreq = match shop.payreq(&id).await {
        Err(ShopError::OrderTaken) => {
            return Ok(html(&shop, "Your order", &pages::order_taken(&id), None));
        }
        other => other?,
    };
    let body = pages::order(
        &payreq,
        &shop.payreq_url(&payreq.payreq_id),
        &shop.settings().wallet_url,
        shop.now(),
    );
    Ok(html(&shop, "Your order", &body, None))
}

/// `GET /fulfillment/{payreq_id}#goods_key=...`: the page's script sends
/// the goods key (from the fragment) in a request body.
pub async fn fulfillment_page(
    shop: web::Data<Shop>,
    id: web::Path<String>,
) -> Page<api::FulfillmentPage> {
    Ok(html(
        &shop,
        "Thank you",
        &pages::fulfillment(&id),
        Some("fulfillment.js"),
    ))
}

/// `GET /orders#key=...`: the page's script sends the token (from the fragment) in a header.
pub async fn orders_page(shop: web::Data<Shop>) -> Page<api::OrdersPage> {
    Ok(html(&shop, "Orders", &pages::orders(), Some("orders.js")))
}

/// `GET /assets/{name}`
pub async fn asset(name: web::Path<String>) -> Page<api::Asset> {
    pages::asset(&name)
        .map(Reply::new)
        .ok_or_else(|| HttpError::new(ErrorCode::NotFound, "no such file"))
}

/// `GET /api/items`
pub async fn items(shop: web::Data<Shop>) -> Json<api::Items> {
    let currency = shop.currency().await;
    Ok(Answer(
        catalog::PRODUCTS
            .iter()
            .map(|p| p.item(&currency))
            .collect(),
    ))
}

/// `POST /api/orders`
pub async fn new_order(
    shop: web::Data<Shop>,
    quotas: web::Data<Quotas>,
    client: ClientIp,
    req: HttpRequest,
    body: web::Json<NewOrder>,
) -> Json<api::NewOrderApi> {
    same_site(&shop, &req)?;
    quotas.orders.take(client)?;
    Ok(Answer(shop.create_order(&body.item_id).await?))
}

/// `GET /api/orders/{payreq_id}`
pub async fn payreq(shop: web::Data<Shop>, id: web::Path<String>) -> Json<api::PayreqApi> {
    Ok(Answer(shop.payreq(&id).await?))
}

/// `POST /api/orders/{payreq_id}/goods`
pub async fn goods(
    shop: web::Data<Shop>,
    id: web::Path<String>,
    body: web::Json<GoodsRequest>,
) -> Json<api::Goods> {
    Ok(Answer(shop.deliver(&id, &body.goods_key).await?))
}

/// `POST /api/pay/{payreq_id}`
pub async fn pay(
    shop: web::Data<Shop>,
    quotas: web::Data<Quotas>,
    client: ClientIp,
    id: web::Path<String>,
    body: web::Json<Payment>,
) -> Json<api::Pay> {
    let shop = shop.into_inner();
    let paid = shop.pay(&id, body.into_inner(), &quotas.payments, client);
    Ok(Answer(paid.await?))
}

/// `POST /api/offline/request`: each request is stored, so it takes the order quota.
pub async fn offline_request(
    shop: web::Data<Shop>,
    quotas: web::Data<Quotas>,
    client: ClientIp,
) -> Json<api::OfflineRequestApi> {
    quotas.orders.take(client)?;
    Ok(Answer(shop.offline_request().await?))
}

/// `POST /api/offline/pay`: each spend costs a verification, so it takes the payment quota.
pub async fn offline_pay(
    shop: web::Data<Shop>,
    quotas: web::Data<Quotas>,
    client: ClientIp,
    body: web::Json<ecash_core::offline::Spend>,
) -> Json<api::OfflinePay> {
    quotas.payments.take(client)?;
    Ok(Answer(shop.offline_pay(body.into_inner()).await?))
}

/// `GET /api/admin/orders` (`Authorization: Bearer <admin token>`)
pub async fn order_list(shop: web::Data<Shop>, req: HttpRequest) -> Json<api::OrderListApi> {
    let token = req
        .headers()
        .get(AUTHORIZATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    Ok(Answer(shop.orders(token).await?))
}

/// `GET /healthz`: the shop's database answers.
pub async fn healthz(shop: web::Data<Shop>) -> Json<api::Health> {
    shop.healthy().await?;
    Ok(Answer(Health {
        status: "ok".into(),
    }))
}

/// `GET /openapi.json`
pub async fn openapi(doc: web::Data<OpenApiDoc>) -> Result<Cached<api::OpenApi>, HttpError> {
    Ok(Cached::new(doc.0.clone(), 300))
}

/// Parses a master key given on the command line (base64url).
pub fn parse_master(text: &str) -> Result<PublicKey, String> {
    ecash_core::B32::from_b64(text.trim())
        .map(PublicKey)
        .ok_or_else(|| "--bank-master-key must be 32 bytes of base64url".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_described_merchant_endpoint_is_routed_and_documented() {
        routes()
            .check(ecash_core::api::merchant)
            .expect("routes are the description");
        let doc = openapi_document();
        assert_eq!(
            ecash_core::openapi::operations(&doc),
            ecash_core::openapi::described(ecash_core::api::merchant)
        );
        assert!(doc["paths"].get("/withdraw").is_none(), "no bank routes");
    }
}
