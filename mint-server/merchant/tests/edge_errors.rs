//! Answers made by the edge's own middleware (429 `rate_limited`, 503
//! `timeout`) carry the security headers like every other answer: CSP,
//! `nosniff`, `Referrer-Policy`, `Cross-Origin-Opener-Policy`, on the bank
//! and on the shop alike. (Found by the outside audit: an error from inside
//! the headers middleware skipped it.)

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ecash_core::clock::SystemClock;
use ecash_serve::security::API_CSP;
use ecash_testkit::{InProcMerchant, InProcMint};

/// `GET path` on `host`, raw; the whole answer.
fn get(host: &str, path: &str) -> String {
    let mut s = TcpStream::connect(host).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The headers every answer must carry, missing from `answer`.
fn missing(answer: &str) -> Vec<&'static str> {
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let want = [
        ("content-security-policy", API_CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    want.iter()
        .filter(|(h, v)| !head.contains(&format!("{h}: {}", v.to_ascii_lowercase())))
        .map(|(h, _)| *h)
        .collect()
}

/// The rate limit's 429, from the bank and from the shop.
#[test]
fn rate_limited_answers_carry_the_security_headers() {
    let tight = ["--rate-limit", "1", "--rate-burst", "1"];
    let mint = InProcMint::start(&tight, Arc::new(SystemClock));
    // (The shop banks at a mint of its own: its start would trip the
    // tight limit of this one.)
    let its_bank = InProcMint::start(&[], Arc::new(SystemClock));
    let shop = InProcMerchant::start(&its_bank, &tight, Arc::new(SystemClock));
    for (who, url) in [("bank", &mint.url), ("shop", &shop.url)] {
        let host = url.strip_prefix("http://").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let first = get(host, "/healthz");
        assert!(first.starts_with("HTTP/1.1 200"), "{who}: {first}");
        assert!(
            missing(&first).is_empty(),
            "{who}: a normal answer has them all"
        );
        let limited = get(host, "/healthz");
        assert!(limited.starts_with("HTTP/1.1 429"), "{who}: {limited}");
        assert!(limited.contains("rate_limited"), "{who}: JSON error body");
        assert!(
            missing(&limited).is_empty(),
            "{who}: the 429 answer lacks {:?}:\n{limited}",
            missing(&limited)
        );
    }
}

/// A proxy in front of `upstream` that holds every request for `delay`.
fn slow(upstream: String, delay: Duration) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                // Requests here are small: read until the body is in.
                let (head_end, len) = loop {
                    let Ok(n) = conn.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let Ok(n) = conn.read(&mut chunk) else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut req: String = head
                    .trim_end()
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                req.push_str("connection: close\r\n\r\n");
                let mut bytes = req.into_bytes();
                bytes.extend_from_slice(&buf[head_end..]);
                if head.contains("/deposit") {
                    std::thread::sleep(delay);
                }
                let Ok(mut up) = TcpStream::connect(&upstream) else {
                    return;
                };
                let _ = up.write_all(&bytes);
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = conn.write_all(&answer);
            });
        }
    });
    url
}

/// The request timeout's 503, from the shop (a deposit the bank is slow to answer).
#[test]
fn timed_out_answers_carry_the_security_headers() {
    let mint = InProcMint::start(&[], Arc::new(SystemClock));
    let proxy = slow(
        mint.url.strip_prefix("http://").unwrap().to_owned(),
        Duration::from_secs(3),
    );
    let m = InProcMerchant::start_at(
        &proxy,
        &mint.master,
        &["--request-timeout-secs", "1"],
        Arc::new(SystemClock),
    );
    let shop = m.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 100);
    let payreq = shop.order("haiku");
    let (_, payment) = bank.pay_from(&buyer, &payreq);
    let req = ecash_core::client::request::<ecash_core::api::Pay>(
        &m.url,
        payreq.payreq_id.as_str(),
        &payment,
    )
    .expect("request");
    let (_, body) = req.body.expect("body");
    let path = req.url.strip_prefix(&m.url).unwrap();
    let host = m.url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .expect("head");
    s.write_all(&body).expect("body");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    assert!(
        missing(&answer).is_empty(),
        "the 503 timeout answer lacks {:?}:\n{answer}",
        missing(&answer)
    );
}
