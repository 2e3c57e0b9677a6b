//! The native transport: `reqwest` (rustls).

use std::time::Duration;

use super::{Response, Transport, TransportError};

/// HTTP over `reqwest`.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A client with connect and request timeouts, so a dead bank fails instead of hanging.
    pub fn new() -> Result<Self, TransportError> {
        // No redirects: a URL is checked before it is fetched, and a
        // redirect would lead the request somewhere unchecked.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TransportError(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Response, TransportError> {
        let resp = req
            .send()
            .await
            .map_err(|e| TransportError(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TransportError(format!("reading the answer: {e}")))?;
        Ok(Response {
            status,
            body: body.to_vec(),
        })
    }
}

impl Transport for ReqwestTransport {
    async fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, TransportError> {
        let mut req = self.client.get(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        self.send(req).await
    }

    async fn post_json(&self, url: &str, body: String) -> Result<Response, TransportError> {
        self.send(
            self.client
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }
}
