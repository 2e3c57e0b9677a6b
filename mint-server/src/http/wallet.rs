//! The web wallet's files (Trunk's `dist/`), served at `/` when built, and
//! the policy of its pages.
//!
//! Scripts only from this origin plus WebAssembly compilation, no inline
//! script (so a `javascript:` URL never runs), no plugins, no `<base>`,
//! forms only to this origin. `connect-src` is `'self' https:` plus loopback
//! http: the wallet talks to the bank it was created with and to whatever
//! shop a user pays, and neither can be listed ahead. Every URL is checked
//! in the wallet before it is fetched; the CSP only keeps out plain-http
//! hosts beyond loopback. `frame-ancestors` is this origin plus the origins
//! configured with `--frame-ancestor` (pages embedding
//! `<ecash-wallet-panel>`); `frame-src 'self'` lets a page of the wallet's
//! origin (the embedding example) show the panel.

use actix_web::HttpResponse;

/// The wallet page's `connect-src`: see the module docs.
pub const WALLET_CONNECT_SRC: &str = "'self' https: http://127.0.0.1:* http://localhost:*";

/// The policy of the wallet's pages, letting `frame_ancestors` (checked
/// origins) frame it.
pub fn wallet_policy(frame_ancestors: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for a in frame_ancestors {
        ancestors.push(' ');
        ancestors.push_str(a);
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self'; connect-src {WALLET_CONNECT_SRC}; frame-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors {ancestors}"
    )
}

/// `GET /` when no built web wallet is present.
pub async fn landing() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Browser e-cash mint</title>\
         <h1>Browser e-cash mint</h1><p>The bank is running. The web wallet is not built here \
         (run <code>make run</code>).</p><ul><li><a href=/keys>Signed key set</a></li>\
         <li><a href=/openapi.json>API (OpenAPI)</a></li></ul></html>",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wallet_policy_is_strict() {
        let p = wallet_policy(&["https://shop.example".into()]);
        assert!(p.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!p.contains("unsafe-inline"));
        assert!(p.contains("frame-ancestors 'self' https://shop.example"));
        assert!(p.contains("object-src 'none'") && p.contains("base-uri 'none'"));
    }
}
