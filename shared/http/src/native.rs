//! The native transport: `reqwest` (rustls).

use std::time::Duration;

use ecash_core::api::Method;
use ecash_core::client::{HttpRequest, HttpResponse, Transport, TransportError};

/// HTTP over `reqwest`.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_answer: usize,
}

impl ReqwestTransport {
    /// A client with connect and request timeouts, so a dead server fails
    /// instead of hanging.
    pub fn new() -> Result<Self, TransportError> {
        Self::with_timeout(Duration::from_secs(60))
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| TransportError(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            max_answer: crate::MAX_ANSWER_BYTES,
        })
    }

    /// The same client, reading answers of at most `bytes`.
    pub fn with_max_answer(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }
}

impl Transport for ReqwestTransport {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut r = match req.method {
            Method::Get => self.client.get(&req.url),
            Method::Post => self.client.post(&req.url),
        };
        for (k, v) in &req.headers {
            r = r.header(*k, v);
        }
        if let Some((ty, body)) = req.body {
            r = r.header("content-type", ty).body(body);
        }
        let mut resp = r.send().await.map_err(|e| TransportError(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        // Refused before reading when it says it is too large; counted
        // chunk by chunk when it does not say (or lies).
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_answer as u64)
        {
            return Err(crate::too_large(self.max_answer));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| TransportError(format!("reading the answer: {e}")))?
        {
            if body.len() + chunk.len() > self.max_answer {
                return Err(crate::too_large(self.max_answer));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One canned answer on a loopback port; returns the request it read.
    async fn serve_once(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.expect("read");
            s.write_all(answer.as_bytes()).await.expect("write");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (url, task)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sends_body_and_headers_and_follows_no_redirect() {
        let (url, seen) = serve_once(
            "HTTP/1.1 303 See Other\r\nLocation: http://elsewhere.example/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let t = ReqwestTransport::new().expect("client");
        let resp = t
            .send(HttpRequest {
                method: Method::Post,
                url: format!("{url}/x"),
                headers: vec![("x-test", "1".into())],
                body: Some(("application/json", b"{}".to_vec())),
            })
            .await
            .expect("answer");
        assert_eq!(
            resp.status, 303,
            "the redirect is handed back, not followed"
        );
        assert_eq!(resp.header("location"), Some("http://elsewhere.example/"));
        let req = seen.await.expect("server");
        assert!(req.starts_with("POST /x "), "{req}");
        assert!(req.contains("x-test: 1") && req.contains("content-type: application/json"));
        assert!(req.ends_with("{}"), "{req}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_over_the_bound_is_refused_with_or_without_a_length() {
        let t = ReqwestTransport::new().expect("client").with_max_answer(8);
        let get = |url: String| HttpRequest {
            method: Method::Get,
            url,
            headers: vec![],
            body: None,
        };
        let (url, _) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n123456789",
        )
        .await;
        let e = t.send(get(url)).await.expect_err("too long");
        assert!(e.0.contains("larger than"), "{e}");
        let (url, _) = serve_once(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n",
        )
        .await;
        let e = t.send(get(url)).await.expect_err("too long, unsaid");
        assert!(e.0.contains("larger than"), "{e}");
        let (url, _) =
            serve_once("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n12345678")
                .await;
        assert_eq!(t.send(get(url)).await.expect("fits").body, b"12345678");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dead_port_is_a_transport_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let t = ReqwestTransport::new().expect("client");
        let r = t
            .send(HttpRequest {
                method: Method::Get,
                url: format!("http://127.0.0.1:{port}/"),
                headers: vec![],
                body: None,
            })
            .await;
        assert!(r.is_err());
    }
}
