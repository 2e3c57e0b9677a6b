//! How requests reach the bank and the shop: the protocol's [`Transport`]
//! trait, with `reqwest` natively and `fetch` in the browser
//! (`ecash-http`).

pub use ecash_core::client::{HttpRequest, HttpResponse, Transport, TransportError};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use ecash_http::FetchTransport;
pub use ecash_http::MAX_ANSWER_BYTES;
#[cfg(not(target_arch = "wasm32"))]
pub use ecash_http::ReqwestTransport;
