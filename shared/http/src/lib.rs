//! HTTP transports for [`ecash_core::client`]: `reqwest` natively
//! ([`ReqwestTransport`]), the Fetch API in browsers and workers
//! (`FetchTransport`). Both follow no redirects and send no cookies or
//! referrer: a URL is checked before it is used, and a redirect would lead a
//! request somewhere unchecked.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod fetch;
#[cfg(not(target_arch = "wasm32"))]
mod native;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use fetch::FetchTransport;
#[cfg(not(target_arch = "wasm32"))]
pub use native::ReqwestTransport;

pub use ecash_core::client::{HttpRequest, HttpResponse, Transport, TransportError};
