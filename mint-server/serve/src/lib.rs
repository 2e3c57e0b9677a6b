//! What the bank (`mint-server`) and the merchant share to serve the
//! protocol over actix-web, so the two servers behave alike at the edge:
//!
//! - [`routes`]: the route table, built from the endpoint descriptions;
//! - [`error`]: every error as JSON `{code, message}` with its status;
//! - [`security`]: strict Content-Security-Policy and friends on every answer;
//! - [`access_log`]: method, path, status, milliseconds; never a query;
//! - [`limits`] and [`client_addr`]: a rate limit per client (behind trusted
//!   proxies, the client they name) and a request timeout;
//! - [`ready`]: the ready file a server writes once it listens;
//! - [`secret_file`]: a server's key or token in a file of its own;
//! - [`logging`]: stderr, times to the second;
//! - [`origin_of`]: the check every configured origin passes.

pub mod access_log;
pub mod client_addr;
pub mod error;
pub mod limits;
pub mod logging;
pub mod ready;
pub mod routes;
pub mod secret_file;
pub mod security;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, web};

pub use error::{HttpError, blocking};
pub use routes::{Answer, Cached, Reply, Routes};

/// The edge every server shares: limits, policies, body limits.
#[derive(Clone)]
pub struct Edge {
    /// Rate limit and timeout.
    pub limits: Arc<limits::Limits>,
    /// Content-Security-Policies.
    pub policies: security::Policies,
    /// Largest JSON body, in bytes.
    pub max_body_bytes: usize,
}

/// The edge as a server's flags give it.
pub struct EdgeSettings<'a> {
    /// The policy of the server's own pages.
    pub page_csp: &'a str,
    /// Largest JSON body, in bytes.
    pub max_body_bytes: usize,
    /// Requests per second allowed per client address (sustained).
    pub rate_per_sec: u32,
    /// Burst size of the per-address rate limit.
    pub rate_burst: u32,
    /// A request taking longer is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// Reverse proxies that may name the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// The header in which they name it.
    pub client_ip_header: &'a str,
}

impl Edge {
    /// The edge `settings` describe, or why they are refused.
    pub fn new(settings: EdgeSettings<'_>) -> Result<Self, String> {
        let clients =
            client_addr::ClientAddr::new(settings.trusted_proxies, settings.client_ip_header)?;
        Ok(Self {
            limits: limits::Limits::new(
                settings.rate_per_sec,
                settings.rate_burst,
                settings.request_timeout,
                clients,
            ),
            policies: security::Policies::new(settings.page_csp)?,
            max_body_bytes: settings.max_body_bytes,
        })
    }
}

/// An app with the shared edge: CORS for any origin (no cookies or other
/// ambient credentials exist, and wallets on other origins call in), the
/// access log, security headers, JSON errors, the rate limit and timeout,
/// and JSON bodies limited and their errors mapped. Its routes come after.
pub fn app(
    edge: Edge,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(edge.max_body_bytes)
        .error_handler(error::json_error);
    App::new()
        .app_data(web::Data::from(edge.limits))
        .app_data(web::Data::new(edge.policies))
        .app_data(json)
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .wrap(from_fn(limits::limit))
        .wrap(ErrorHandlers::new().default_handler(error::ensure_json_error))
        .wrap(from_fn(security::headers))
        .wrap(from_fn(access_log::log))
        .wrap(
            actix_cors::Cors::default()
                .allow_any_origin()
                .allow_any_method()
                .allow_any_header()
                .max_age(3600),
        )
}

/// `text` as an origin (`scheme://host[:port]`), refused unless it is http(s)
/// with nothing after the authority. Configured origins end up in headers
/// (CSP) and links, so nothing else may pass.
pub fn origin_of(text: &str) -> Result<String, String> {
    let u = url::Url::parse(text).map_err(|e| e.to_string())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must be http or https".into());
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        return Err("must be an origin, without path, query or fragment".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(u.origin().ascii_serialization())
}

/// `--public-url` checked as an origin, or the one the bound address implies
/// (loopback when listening on every address).
pub fn public_base(
    configured: Option<&str>,
    bound: std::net::SocketAddr,
) -> Result<String, String> {
    match configured {
        Some(u) => origin_of(u).map_err(|e| format!("--public-url {u:?}: {e}")),
        None => {
            let ip = if bound.ip().is_unspecified() {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                bound.ip()
            };
            Ok(format!(
                "http://{}",
                std::net::SocketAddr::new(ip, bound.port())
            ))
        }
    }
}

/// Each of `values` as an origin, named after `flag` in errors.
pub fn origins(flag: &str, values: &[String]) -> Result<Vec<String>, String> {
    values
        .iter()
        .map(|a| origin_of(a).map_err(|e| format!("{flag} {a:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        assert_eq!(
            origin_of("https://Shop.Example:443/").as_deref(),
            Ok("https://shop.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        for bad in [
            "javascript:alert(1)",
            "ftp://x",
            "https://x/path",
            "https://x/?q",
            "https://x/#f",
            "https://u:p@x",
            "https://x; script-src *",
            "not a url",
        ] {
            assert!(origin_of(bad).is_err(), "{bad}");
        }
        let bound: std::net::SocketAddr = "0.0.0.0:9".parse().expect("addr");
        assert_eq!(
            public_base(None, bound).as_deref(),
            Ok("http://127.0.0.1:9")
        );
        assert!(public_base(Some("https://x/p"), bound).is_err());
    }
}
