//! Security headers on every response: a strict Content-Security-Policy per
//! kind of page, no MIME sniffing, no referrer.
//!
//! - The web wallet (HTML served from the web dir): scripts only from this
//!   origin plus WebAssembly compilation, no inline script (so a `javascript:`
//!   URL never runs), no plugins, no `<base>`, forms only to this origin.
//!   `connect-src` is `'self' https:` plus loopback http: the wallet talks to
//!   the bank it was created with and to whatever shop a user pays, and
//!   neither can be listed ahead. Every URL is checked in the wallet before
//!   it is fetched; the CSP only keeps out plain-http hosts beyond loopback.
//!   `frame-ancestors` is this origin plus the origins configured with
//!   `--frame-ancestor` (pages embedding `<ecash-wallet-panel>`).
//!   `frame-src 'self'` lets a page of the wallet's origin (the embedding
//!   example) show the wallet panel.
//! - The shop's pages ([`SHOP_CSP`], set by the shop's handlers themselves,
//!   so no spelling of a path can serve them under another policy): scripts,
//!   styles and requests only to this origin; no framing.
//! - Everything else (JSON): nothing may load, nothing may frame it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// The policy of the shop's pages.
pub const SHOP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The policies, built once at start.
pub struct Policies {
    wallet: HeaderValue,
    api: HeaderValue,
}

/// The wallet page's `connect-src`: see the module docs.
pub const WALLET_CONNECT_SRC: &str = "'self' https: http://127.0.0.1:* http://localhost:*";

impl Policies {
    /// Policies that let `frame_ancestors` (checked origins) frame the wallet.
    pub fn new(frame_ancestors: &[String]) -> Result<Self, String> {
        let mut ancestors = String::from("'self'");
        for a in frame_ancestors {
            ancestors.push(' ');
            ancestors.push_str(a);
        }
        let wallet = format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self'; connect-src {WALLET_CONNECT_SRC}; frame-src 'self'; \
             manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors {ancestors}"
        );
        let api = "default-src 'none'; frame-ancestors 'none'";
        let value = |s: &str| HeaderValue::from_str(s).map_err(|e| format!("CSP {s:?}: {e}"));
        Ok(Self {
            wallet: value(&wallet)?,
            api: value(api)?,
        })
    }

    /// The policy for a response of this content type that set none itself.
    fn for_response(&self, content_type: Option<&str>) -> &HeaderValue {
        if content_type.is_some_and(|c| c.starts_with("text/html")) {
            &self.wallet
        } else {
            &self.api
        }
    }
}

/// Adds the security headers to every response (errors included).
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policies = req.app_data::<web::Data<Policies>>().cloned();
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    if let Some(p) = policies
        && !h.contains_key(header::CONTENT_SECURITY_POLICY)
    {
        let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let csp = p.for_response(ct).clone();
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_page_gets_its_policy() {
        let p = Policies::new(&["https://shop.example".into()]).expect("policies");
        let wallet = p
            .for_response(Some("text/html; charset=utf-8"))
            .to_str()
            .expect("ascii");
        assert!(wallet.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!wallet.contains("unsafe-inline"));
        assert!(wallet.contains("frame-ancestors 'self' https://shop.example"));
        assert!(wallet.contains("object-src 'none'") && wallet.contains("base-uri 'none'"));
        assert!(
            SHOP_CSP.contains("connect-src 'self';") && SHOP_CSP.contains("frame-ancestors 'none'")
        );
        let api = p
            .for_response(Some("application/json"))
            .to_str()
            .expect("ascii");
        assert_eq!(api, "default-src 'none'; frame-ancestors 'none'");
    }
}
