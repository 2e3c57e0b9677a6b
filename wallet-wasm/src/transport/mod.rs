//! How requests reach the bank and the shop: HTTP behind a trait.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod fetch;
#[cfg(not(target_arch = "wasm32"))]
pub mod http;

/// A network failure: nothing (or no answer) came back.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// An HTTP answer: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// HTTP as the wallet needs it: GET with headers, POST of JSON.
// Single-threaded executors (the browser, the CLI) run the wallet, so the
// futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// `GET url` with extra headers.
    async fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, TransportError>;
    /// `POST url` with a JSON body.
    async fn post_json(&self, url: &str, body: String) -> Result<Response, TransportError>;
}

impl<T: Transport> Transport for &T {
    async fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, TransportError> {
        (*self).get(url, headers).await
    }
    async fn post_json(&self, url: &str, body: String) -> Result<Response, TransportError> {
        (*self).post_json(url, body).await
    }
}
