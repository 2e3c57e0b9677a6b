//! HTTP transports for [`ecash_core::client`]: `reqwest` natively
//! ([`ReqwestTransport`]), the Fetch API in browsers and workers
//! (`FetchTransport`). Both follow no redirects and send no cookies or
//! referrer: a URL is checked before it is used, and a redirect would lead a
//! request somewhere unchecked. Both stop reading an answer past
//! [`MAX_ANSWER_BYTES`].

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod fetch;
#[cfg(not(target_arch = "wasm32"))]
mod native;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use fetch::FetchTransport;
#[cfg(not(target_arch = "wasm32"))]
pub use native::ReqwestTransport;

pub use ecash_core::client::{HttpRequest, HttpResponse, Transport, TransportError};

/// The largest answer either transport reads (64 MiB): a hostile shop or
/// bank, or anything on the path, must not make a client buffer without
/// end. The protocol's largest answer, a key's spent list, stays far below
/// it (a few bytes a spent coin).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The error for an answer over `limit` bytes.
fn too_large(limit: usize) -> TransportError {
    TransportError(format!(
        "the answer is larger than {} MiB: refused",
        limit >> 20
    ))
}
