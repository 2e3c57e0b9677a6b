//! The shop's HTML pages: catalogue, item, order with "Pay with Ecash", and
//! fulfillment. No inline script or style (the pages carry a strict CSP):
//! styles and the fulfillment script are files under `/shop/assets/`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{Shop, catalog};
use crate::api::error::HttpError;
use crate::api::handlers::blocking;
use crate::api::security::SHOP_CSP;
use ecash_core::ErrorCode;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str, script: Option<&str>) -> HttpResponse {
    let script = script
        .map(|s| format!("<script type=module src='/shop/assets/{s}'></script>"))
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, SHOP_CSP))
        .body(format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8>\
             <meta name=viewport content='width=device-width, initial-scale=1'><title>{t} · Demo shop</title>\
             <link rel=stylesheet href='/shop/assets/style.css'>{script}\
             </head><body><nav><a href=/shop>Demo shop</a> · <a href=/>Wallet</a></nav><main>{body}</main></body></html>",
            t = esc(title)
        ))
}

fn price(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `GET /shop`
pub async fn index() -> HttpResponse {
    let items: String = catalog::ITEMS
        .iter()
        .map(|i| {
            format!(
                "<li><a href='/shop/item/{id}'>{t}</a> — {p} DEMO<br><small>{d}</small></li>",
                id = i.id,
                t = esc(i.title),
                p = price(i.price),
                d = esc(i.description)
            )
        })
        .collect();
    page(
        "Catalogue",
        &format!("<h1>Demo shop</h1><p>Digital goods, paid with e-cash.</p><ul>{items}</ul>"),
        None,
    )
}

/// `GET /shop/item/{id}`: the item, and a form that orders it. Showing the
/// page stores nothing: an order exists only once someone asks for one.
pub async fn item_page(id: web::Path<String>) -> Result<HttpResponse, HttpError> {
    let item =
        catalog::item(&id).ok_or_else(|| HttpError::new(ErrorCode::NotFound, "no such item"))?;
    Ok(page(
        item.title,
        &format!(
            "<h1>{t}</h1><p>{d}</p><p><strong>{p} DEMO</strong></p>\
             <form method=post action='/shop/item/{id}/order'>\
             <button class=button id=buy type=submit>Buy with Ecash</button></form>",
            t = esc(item.title),
            d = esc(item.description),
            p = price(item.price),
            id = item.id,
        ),
        None,
    ))
}

/// `POST /shop/item/{id}/order`: creates an order, then shows it (303).
/// Only from the shop's own pages: another site's form cannot make orders.
pub async fn order_item(
    shop: web::Data<Shop>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    if super::from_another_site(&req, &shop) {
        return Err(HttpError::new(
            ErrorCode::MalformedRequest,
            "orders are made from the shop's own pages",
        ));
    }
    let item_id = id.into_inner();
    let payreq = blocking(&shop, move |s| s.create_order(&item_id)).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/shop/order/{}", payreq.payreq_id),
        ))
        .finish())
}

/// `GET /shop/order/{payreq_id}`: the order with its payment request, as a
/// link to the wallet (the request's URL in the fragment) and a `web+ecash:` link.
pub async fn order_page(
    shop: web::Data<Shop>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let payreq_id = id.into_inner();
    let wanted = payreq_id.clone();
    let payreq = blocking(&shop, move |s| s.payreq(&wanted)).await?;
    let url = shop.payreq_url(&payreq.payreq_id);
    let enc =
        percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC).to_string();
    Ok(page(
        "Your order",
        &format!(
            "<h1>Your order</h1><p>{d}</p><p><strong>{p} {c}</strong></p>\
             <p><a class=button id=pay-link href='{base}/#payreq={enc}'>Pay with Ecash</a> \
             <a id=pay-protocol href='web+ecash:{enc}'>open in your e-cash wallet</a></p>\
             <p><small>Order {id}, payable until unix time {until}.</small></p>",
            d = esc(&payreq.description),
            p = price(payreq.amount.value),
            c = esc(payreq.amount.currency.as_str()),
            base = esc(shop.base_url()),
            id = esc(&payreq_id),
            until = payreq.expires_at,
        ),
        None,
    ))
}

/// `GET /shop/fulfillment/{payreq_id}#payment_id=...`: the goods and the
/// receipt. The payment id stays in the fragment; the page's script sends it
/// in a request body.
pub async fn fulfillment(id: web::Path<String>) -> HttpResponse {
    page(
        "Thank you",
        &format!(
            "<h1>Thank you!</h1><p id=status role=status>Fetching your goods…</p>\
             <h2 id=goods-title></h2><pre id=goods></pre>\
             <h2>Receipt</h2><dl id=receipt data-order='{}'></dl>",
            esc(&id)
        ),
        Some("fulfillment.js"),
    )
}

/// `GET /shop/assets/{name}`: the pages' stylesheet and script.
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, HttpError> {
    let (body, ty) = match name.as_str() {
        "style.css" => (include_str!("assets/style.css"), "text/css; charset=utf-8"),
        "fulfillment.js" => (
            include_str!("assets/fulfillment.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return Err(HttpError::new(ErrorCode::NotFound, "no such file")),
    };
    Ok(HttpResponse::Ok()
        .content_type(ty)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::CONTENT_SECURITY_POLICY, SHOP_CSP))
        .body(body))
}
