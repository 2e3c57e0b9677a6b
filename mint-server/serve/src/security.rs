//! Security headers on every response: a Content-Security-Policy for pages
//! and one for everything else, no MIME sniffing, no referrer, no opener.
//!
//! Each server names the policy of its pages (the bank: the web wallet's;
//! the merchant: the shop's). A handler that sets a policy itself keeps it.
//! Everything else (JSON, errors) gets [`API_CSP`]: nothing may load, and
//! nothing may frame it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// The policy of every answer that is not a page.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The policies, built once at start.
#[derive(Debug, Clone)]
pub struct Policies {
    page: HeaderValue,
    api: HeaderValue,
}

impl Policies {
    /// `page` for HTML answers, [`API_CSP`] for the rest.
    pub fn new(page: &str) -> Result<Self, String> {
        let value = |s: &str| HeaderValue::from_str(s).map_err(|e| format!("CSP {s:?}: {e}"));
        Ok(Self {
            page: value(page)?,
            api: value(API_CSP)?,
        })
    }

    /// The policy for an answer of this content type that set none itself.
    pub fn for_response(&self, content_type: Option<&str>) -> &HeaderValue {
        if content_type.is_some_and(|c| c.starts_with("text/html")) {
            &self.page
        } else {
            &self.api
        }
    }
}

/// Adds the security headers to every response, errors included: an
/// error from inside (the rate limit, the timeout) leaves as the response
/// it makes, with them.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policies = req.app_data::<web::Data<Policies>>().cloned();
    match next.call(req).await {
        Ok(mut res) => {
            secure(res.headers_mut(), policies.as_ref().map(|p| p.get_ref()));
            Ok(res)
        }
        Err(e) => {
            // The request went down with the inner service, so the error
            // cannot become a `ServiceResponse` here; it carries its answer.
            let mut answer = e.error_response();
            secure(answer.headers_mut(), policies.as_ref().map(|p| p.get_ref()));
            Err(InternalError::from_response(e.to_string(), answer).into())
        }
    }
}

/// Sets the headers on one answer.
fn secure(h: &mut HeaderMap, policies: Option<&Policies>) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_get_their_policy_and_the_rest_none_at_all() {
        let p = Policies::new("default-src 'self'").expect("policies");
        assert_eq!(
            p.for_response(Some("text/html; charset=utf-8")),
            "default-src 'self'"
        );
        assert_eq!(p.for_response(Some("application/json")), API_CSP);
        assert_eq!(p.for_response(None), API_CSP);
        assert!(Policies::new("bad\nvalue").is_err());
    }
}
