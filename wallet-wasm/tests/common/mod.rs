//! Test harness: a real mint (bank + demo shop, SQLite in a temp dir) on a
//! loopback port, and fault injectors around the real transport and store.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use wallet_wasm::Offer;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::store::{Store, StoreError, Write};
use wallet_wasm::transport::http::ReqwestTransport;
use wallet_wasm::transport::{Response, Transport, TransportError};
use wallet_wasm::{Wallet, WalletSettings};

/// A mint running in this process on its own actix system thread.
pub struct Mint {
    pub url: String,
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Mint {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut args: Vec<String> = [
            "mint-server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.path().to_str().expect("utf8 path"),
            "--demo-faucet",
            "--max-denomination-exp",
            "10",
            "--web-dir",
            "/nonexistent",
            "--rate-limit",
            "100000",
            "--rate-burst",
            "100000",
            "--workers",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let config = mint_server::config::Config::parse_from(args);
        std::thread::spawn(move || {
            if let Err(e) = actix_web::rt::System::new().block_on(mint_server::run(config)) {
                eprintln!("mint stopped: {e}");
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mint did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// A fresh order at the demo shop: its payment request, from the shop's origin.
    pub async fn order(&self, item_id: &str) -> Offer {
        let net = ReqwestTransport::new().expect("http");
        let r = net
            .post_json(
                &format!("{}/shop/api/orders", self.url),
                format!(r#"{{"item_id":"{item_id}"}}"#),
            )
            .await
            .expect("order");
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        Offer {
            payreq: serde_json::from_slice(&r.body).expect("payreq"),
            origin: self.url.clone(),
        }
    }

    /// The shop's view of an order (`paid` etc.).
    pub async fn order_url(&self, payreq_id: &str) -> String {
        format!("{}/shop/api/orders/{payreq_id}", self.url)
    }
}

pub fn settings() -> WalletSettings {
    WalletSettings {
        restore_gap: 8,
        ..WalletSettings::default()
    }
}

pub type NativeWallet = Wallet<SqliteStore, Flaky>;

/// A new wallet in a fresh SQLite file under `dir`, funded through the faucet.
pub async fn funded(mint: &Mint, dir: &Path, name: &str, faucet: u64) -> (NativeWallet, PathBuf) {
    let path = dir.join(format!("{name}.db"));
    let store = SqliteStore::open(&path).expect("store");
    let (mut w, _phrase) = Wallet::create(store, Flaky::new(), &mint.url, None, settings())
        .await
        .expect("create wallet");
    if faucet > 0 {
        w.faucet(faucet).await.expect("faucet");
    }
    (w, path)
}

pub async fn reopen(path: &Path) -> NativeWallet {
    Wallet::open(
        SqliteStore::open(path).expect("store"),
        Flaky::new(),
        settings(),
    )
    .await
    .expect("reopen")
}

/// What to do to a matching request.
pub enum Fault {
    /// Fail before sending: the server never sees it.
    CutBefore,
    /// Send it, let the server act, then lose the answer.
    DropAnswer,
    /// Rewrite the JSON answer.
    Tamper(Box<dyn Fn(&mut serde_json::Value)>),
    /// Do not send; answer with this status and body instead.
    Refuse(u16, Vec<u8>),
    /// Send it (the server acts), then answer with this instead.
    Replace(u16, Vec<u8>),
}

struct Rule {
    url_contains: String,
    fault: Fault,
    times: usize,
}

/// The real HTTP transport with faults injected on chosen URLs.
pub struct Flaky {
    inner: ReqwestTransport,
    rules: RefCell<Vec<Rule>>,
    pub offline: Cell<bool>,
    pub requests: RefCell<Vec<String>>,
    /// Every POST as (URL, body), sent or not.
    pub posts: RefCell<Vec<(String, String)>>,
}

impl Flaky {
    pub fn new() -> Self {
        Self {
            inner: ReqwestTransport::new().expect("http"),
            rules: RefCell::new(vec![]),
            offline: Cell::new(false),
            requests: RefCell::new(vec![]),
            posts: RefCell::new(vec![]),
        }
    }

    /// Applies `fault` to the next `times` requests whose URL contains `url_contains`.
    pub fn inject(&self, url_contains: &str, fault: Fault, times: usize) {
        self.rules.borrow_mut().push(Rule {
            url_contains: url_contains.into(),
            fault,
            times,
        });
    }

    pub fn clear(&self) {
        self.rules.borrow_mut().clear();
        self.offline.set(false);
    }

    async fn run<F>(&self, url: &str, send: F) -> Result<Response, TransportError>
    where
        F: AsyncFnOnce() -> Result<Response, TransportError>,
    {
        self.requests.borrow_mut().push(url.to_owned());
        if self.offline.get() {
            return Err(TransportError("network is down (test)".into()));
        }
        let idx = {
            let rules = self.rules.borrow();
            rules
                .iter()
                .position(|r| r.times > 0 && url.contains(&r.url_contains))
        };
        let Some(idx) = idx else { return send().await };
        self.rules.borrow_mut()[idx].times -= 1;
        match &self.rules.borrow()[idx].fault {
            Fault::CutBefore => {
                return Err(TransportError(
                    "connection cut before sending (test)".into(),
                ));
            }
            Fault::Refuse(status, body) => {
                return Ok(Response {
                    status: *status,
                    body: body.clone(),
                });
            }
            _ => {}
        }
        let mut resp = send().await?;
        let rules = self.rules.borrow();
        match &rules[idx].fault {
            Fault::CutBefore | Fault::Refuse(..) => unreachable!("answered above"),
            Fault::Replace(status, body) => Ok(Response {
                status: *status,
                body: body.clone(),
            }),
            Fault::DropAnswer => Err(TransportError(
                "connection cut before the answer (test)".into(),
            )),
            Fault::Tamper(f) => {
                let mut v: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
                f(&mut v);
                resp.body = serde_json::to_vec(&v).expect("json");
                Ok(resp)
            }
        }
    }
}

impl Transport for Flaky {
    async fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, TransportError> {
        self.run(url, async || self.inner.get(url, headers).await)
            .await
    }
    async fn post_json(&self, url: &str, body: String) -> Result<Response, TransportError> {
        self.posts.borrow_mut().push((url.to_owned(), body.clone()));
        self.run(url, async || self.inner.post_json(url, body).await)
            .await
    }
}

/// A store that "crashes" (refuses every write) after a number of writes.
pub struct Crashing<S> {
    pub inner: S,
    pub writes_left: Cell<usize>,
}

impl<S: Store> Crashing<S> {
    fn step(&self) -> Result<(), StoreError> {
        let left = self.writes_left.get();
        if left == 0 {
            return Err(StoreError("the process died here (test)".into()));
        }
        self.writes_left.set(left - 1);
        Ok(())
    }
}

impl<S: Store> Store for Crashing<S> {
    async fn load_all(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.load_all().await
    }
    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.step()?;
        self.inner.apply(writes).await
    }
    async fn reserve(&self, key: &str, n: u64) -> Result<u64, StoreError> {
        self.step()?;
        self.inner.reserve(key, n).await
    }
}

/// Flips one character of the base64url string at `v[field][index]`.
pub fn flip_b64(s: &mut serde_json::Value) {
    if let Some(text) = s.as_str() {
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        *s = serde_json::Value::String(chars.into_iter().collect());
    }
}
