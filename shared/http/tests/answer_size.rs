//! The native transport does not read a huge answer whole: a hostile shop
//! (the wallet pays any shop it is pointed at), a hostile bank, or anything
//! on the path could otherwise make the wallet CLI, the merchant or
//! mint-bench buffer gigabytes until killed. Every answer of the protocol
//! is small (the largest, a key's spent list, a few bytes a spent coin);
//! the transport stops past `MAX_ANSWER_BYTES` and fails. (Found by the
//! outside audit.)

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ecash_core::api::Method;
use ecash_core::client::{HttpRequest, Transport};
use ecash_http::ReqwestTransport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a client may be made to buffer, at most, in this test.
const BOUND: u64 = 128 << 20;
/// What the hostile server offers.
const OFFERED: u64 = 512 << 20;

#[tokio::test(flavor = "current_thread")]
async fn a_huge_answer_is_not_read_whole() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/healthz", l.local_addr().expect("addr"));
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let _ = s.read(&mut buf).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {OFFERED}\r\n\r\n"
        );
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; 1 << 20];
        while w.load(Ordering::SeqCst) < OFFERED {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
            w.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    let t = ReqwestTransport::with_timeout(Duration::from_secs(60)).expect("client");
    let r = t
        .send(HttpRequest {
            method: Method::Get,
            url,
            headers: vec![],
            body: None,
        })
        .await;
    let _ = server.await;
    let got = r.as_ref().map(|a| a.body.len()).unwrap_or(0);
    assert!(
        r.is_err() && written.load(Ordering::SeqCst) <= BOUND,
        "the client read {} MiB of a {} MiB answer into memory (the server wrote {} MiB) \
         instead of giving up past {} MiB",
        got >> 20,
        OFFERED >> 20,
        written.load(Ordering::SeqCst) >> 20,
        BOUND >> 20
    );
}
