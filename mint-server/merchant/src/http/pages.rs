//! The shop's pages for people: catalogue, item, order with "Pay with
//! Ecash", fulfillment, and the shop keeper's orders. No inline script or
//! style (the pages carry a strict CSP): styles and scripts are files under
//! `/assets/`. Every text from data is escaped; money and times are written
//! for people.

use actix_web::HttpResponse;
use actix_web::http::header;
use ecash_core::Amount;
use ecash_core::api::{self, Endpoint};
use ecash_core::shop::GoodsKind;

/// The policy of the shop's pages: scripts, styles and requests only to
/// this origin, images from it or inline (`data:`, the goods), no framing.
pub const SHOP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// An amount as people write it: `0.99 DEMO`.
pub fn money(a: &Amount) -> String {
    format!(
        "{}.{:02} {}",
        a.value / 100,
        a.value % 100,
        esc(a.currency.as_str())
    )
}

/// A unix time as people read it: `1 December 2026, 08:45 UTC`.
pub fn date(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%-d %B %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|| "an unknown time".into())
}

/// How long from `now` until `then`, in words.
pub fn until(now: u64, then: u64) -> String {
    let secs = then.saturating_sub(now);
    match secs {
        0 => "expired".into(),
        1..=90 => format!("in {secs} seconds"),
        91..=5399 => format!("in {} minutes", secs.div_ceil(60)),
        _ => format!("in {} hours", secs / 3600),
    }
}

/// One page of the shop, with `script` (a file under `/assets/`) if any.
pub fn page(title: &str, wallet_url: &str, body: &str, script: Option<&str>) -> HttpResponse {
    let script = script
        .map(|s| {
            format!(
                "<script type=module src='{}'></script>",
                api::Asset::path(s)
            )
        })
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, SHOP_CSP))
        .body(format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8>\
             <meta name=viewport content='width=device-width, initial-scale=1'>\
             <title>{t} · Demo shop</title><link rel=stylesheet href='{css}'>{script}\
             </head><body><header><a class=brand href='{home}'>Demo shop</a><nav>\
             <a href='{home}'>Catalogue</a><a href='{w}/'>Your wallet</a></nav></header>\
             <main>{body}</main><footer>Paid with e-cash: your coins are sealed for the bank, \
             and neither the shop nor the bank learns who you are.</footer></body></html>",
            t = esc(title),
            w = esc(wallet_url.trim_end_matches('/')),
            css = api::Asset::path("style.css"),
            home = api::CataloguePage::path(&()),
        ))
}

fn kind(k: GoodsKind) -> &'static str {
    match k {
        GoodsKind::Text => "Text",
        GoodsKind::SvgImage => "Image",
    }
}

/// The catalogue.
pub fn catalogue(items: &[ecash_core::shop::Item]) -> String {
    let cards: String = items
        .iter()
        .map(|i| {
            format!(
                "<li class=card><h2><a href='{link}'>{t}</a></h2><p class=kind>{k}</p>\
                 <p>{d}</p><p class=price>{p}</p><a class=button href='{link}'>See it</a></li>",
                link = esc(&api::ItemPage::path(&i.id)),
                t = esc(&i.title),
                k = kind(i.kind),
                d = esc(&i.description),
                p = money(&i.price),
            )
        })
        .collect();
    format!(
        "<h1>Digital goods, paid with e-cash</h1>\
         <p class=lead>Pick something; your wallet pays, and nobody learns who you are.</p>\
         <ul class=items id=items>{cards}</ul>"
    )
}

/// An item and the form that orders it. Showing it stores nothing.
pub fn item(i: &ecash_core::shop::Item) -> String {
    format!(
        "<section><h1>{t}</h1><p class=kind>{k}</p><p>{d}</p><p class=price>{p}</p>\
         <form method=post action='{action}'>\
         <button class=button id=buy type=submit>Buy with Ecash</button></form>\
         <p class=note>Buying makes an order that stays payable for a while; pay it with \
         your e-cash wallet.</p></section>",
        t = esc(&i.title),
        k = kind(i.kind),
        d = esc(&i.description),
        p = money(&i.price),
        action = esc(&api::OrderItem::path(&i.id)),
    )
}

/// An order with its payment request, offered as a link to the wallet (the
/// request's URL in the fragment) and as a `web+ecash:` link.
pub fn order(
    payreq: &ecash_core::messages::PayReq,
    payreq_url: &str,
    wallet_url: &str,
    now: u64,
) -> String {
    let enc = percent_encoding::utf8_percent_encode(payreq_url, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    format!(
        "<section><h1>Your order</h1><p>{d}</p><p class=price id=order-price>{p}</p>\
         <p><a class=button id=pay-link href='{w}/#payreq={enc}'>Pay with Ecash</a>\
         <a class=secondary id=pay-protocol href='web+ecash:{enc}'>Open in your e-cash wallet app</a></p>\
         <dl class=facts><dt>Pay by</dt><dd id=order-until>{until} ({left})</dd>\
         <dt>Order</dt><dd>{id}</dd></dl>\
         <p class=note>Your wallet shows this shop's address before it pays, and brings you \
         back here for your goods.</p></section>",
        d = esc(&payreq.description),
        p = money(&payreq.amount),
        w = esc(wallet_url.trim_end_matches('/')),
        until = date(payreq.expires_at),
        left = until(now, payreq.expires_at),
        id = esc(&payreq.payreq_id),
    )
}

/// An order a payment holds: what was bought is no longer shown.
pub fn order_taken(payreq_id: &str) -> String {
    format!(
        "<section><h1>Your order</h1><p class='message info' id=order-taken>This order is \
         paid, or a payment for it is at the bank. Your wallet's history links to the goods.</p>\
         <dl class=facts><dt>Order</dt><dd>{}</dd></dl></section>",
        esc(payreq_id)
    )
}

/// The fulfillment page: its script fetches the goods with the goods key
/// from the fragment.
pub fn fulfillment(payreq_id: &str) -> String {
    format!(
        "<section><h1>Thank you!</h1><p id=status role=status class='message info'>Fetching your goods…</p>\
         <h2 id=goods-title></h2><div id=goods></div>\
         <h2>Receipt</h2><dl class=facts id=receipt data-order='{}'></dl></section>",
        esc(payreq_id)
    )
}

/// The shop keeper's page; its script fetches the list with the token
/// from the fragment.
pub fn orders() -> String {
    "<h1>Orders</h1><p id=status role=status class='message info'>Loading the orders…</p>\
     <p id=summary></p><table id=orders><thead><tr><th>Ordered</th><th>Item</th>\
     <th class=num>Price</th><th>State</th><th>Paid</th><th>Order</th></tr></thead>\
     <tbody></tbody></table>"
        .into()
}

/// `GET /assets/{name}`: the stylesheet and scripts.
pub fn asset(name: &str) -> Option<HttpResponse> {
    let (body, ty) = match name {
        "style.css" => (
            include_str!("../../assets/style.css"),
            "text/css; charset=utf-8",
        ),
        "fulfillment.js" => (
            include_str!("../../assets/fulfillment.js"),
            "text/javascript; charset=utf-8",
        ),
        "orders.js" => (
            include_str!("../../assets/orders.js"),
            "text/javascript; charset=utf-8",
        ),
        "money.js" => (
            include_str!("../../assets/money.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return None,
    };
    Some(
        HttpResponse::Ok()
            .content_type(ty)
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header((header::CONTENT_SECURITY_POLICY, SHOP_CSP))
            .body(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_time_are_written_for_people() {
        let a = Amount::new(ecash_core::Currency::new("DEMO").expect("c"), 99);
        assert_eq!(money(&a), "0.99 DEMO");
        assert_eq!(date(1_795_607_740), "25 November 2026, 11:55 UTC");
        assert_eq!(until(0, 900), "in 15 minutes");
        assert_eq!(until(0, 30), "in 30 seconds");
        assert_eq!(until(10, 5), "expired");
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
