//! The shop's HTML pages: catalogue, item with "Pay with Ecash", fulfillment.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{PaymentQuery, Shop, base_url, catalog, parse_payment_id};
use crate::api::error::HttpError;
use crate::api::handlers::blocking;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width, initial-scale=1'><title>{t} · Demo shop</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}\
         a.button{{display:inline-block;background:#1b4d3e;color:#fff;padding:.6rem 1rem;border-radius:.4rem;text-decoration:none}}\
         a.button:focus{{outline:3px solid #f0b400}}li{{margin:.5rem 0}}pre{{white-space:pre-wrap;background:#f3f3f3;padding:1rem}}</style>\
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
    )
}

/// `GET /shop/item/{id}`: creates an order and offers its payreq as a
/// `web+ecash:` link and as a plain link to the wallet.
pub async fn item_page(
    shop: web::Data<Shop>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let base = base_url(&req);
    let item_id = id.into_inner();
    let wanted = item_id.clone();
    let payreq = blocking(&shop, move |s| s.create_order(&wanted, &base)).await?;
    let item = catalog::item(&item_id)
        .ok_or_else(|| HttpError::new(ecash_core::ErrorCode::NotFound, "no such item"))?;
    let payreq_url = format!("{}/shop/api/orders/{}", base_url(&req), payreq.payreq_id);
    let enc =
        percent_encoding::utf8_percent_encode(&payreq_url, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Ok(page(
        item.title,
        &format!(
            "<h1>{t}</h1><p>{d}</p><p><strong>{p} {c}</strong></p>\
             <p><a class=button id=pay-link href='/?payreq={enc}'>Pay with Ecash</a> \
             <a id=pay-protocol href='web+ecash:{enc}'>open in your e-cash wallet</a></p>\
             <p><small>Order {id}, payable for 15 minutes.</small></p>",
            t = esc(item.title),
            d = esc(item.description),
            p = price(item.price),
            c = esc(payreq.amount.currency.as_str()),
            id = esc(&payreq.payreq_id),
        ),
    ))
}

/// `GET /shop/fulfillment/{payreq_id}?payment_id=...`: the goods and the receipt.
pub async fn fulfillment(
    shop: web::Data<Shop>,
    id: web::Path<String>,
    q: web::Query<PaymentQuery>,
) -> Result<HttpResponse, HttpError> {
    let pid = parse_payment_id(&q)?;
    let id = id.into_inner();
    let d = blocking(&shop, move |s| s.deliver(&id, &pid)).await?;
    let r = &d.receipt.body;
    Ok(page(
        "Thank you",
        &format!(
            "<h1>Thank you!</h1><h2 id=goods-title>{t}</h2><pre id=goods>{g}</pre>\
             <h2>Receipt</h2><dl id=receipt><dt>Amount</dt><dd>{a}</dd><dt>Transaction</dt><dd>{tx}</dd>\
             <dt>Date (unix)</dt><dd>{date}</dd><dt>Payment</dt><dd><code>{pid}</code></dd>\
             <dt>Shop signature</dt><dd><code>{sig}</code></dd></dl>",
            t = esc(&d.title),
            g = esc(&d.goods),
            a = esc(&r.amount.to_string()),
            tx = esc(&r.transaction_id),
            date = r.date,
            pid = r.payment_id,
            sig = d.receipt.signature.0,
        ),
    ))
}
