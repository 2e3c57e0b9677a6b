//! Test harness: a real bank and shop (in this process, SQLite in temp
//! dirs) on one test clock the wallet shares, and fault injectors around the
//! real transport and store.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecash_core::client::{HttpRequest, MerchantClient};
use ecash_testkit::{InProcMerchant, InProcMint, TestClock};
use wallet_wasm::Offer;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::store::{Store, StoreError, Write};
use wallet_wasm::transport::{HttpResponse, ReqwestTransport, Transport, TransportError};
use wallet_wasm::{Wallet, WalletSettings};

/// A bank and a shop banking there, both on `clock`.
pub struct Mint {
    /// The bank's URL.
    pub url: String,
    /// The shop's URL (its origin).
    pub shop_url: String,
    pub clock: Arc<TestClock>,
    pub bank: InProcMint,
    pub shop: InProcMerchant,
}

impl Mint {
    /// Restores the wallet of `phrase` into `store`, on a fresh transport.
    pub async fn restore<S: Store>(
        &self,
        store: S,
        phrase: &str,
    ) -> Result<(Wallet<S, Flaky>, wallet_wasm::wallet::RestoreReport), wallet_wasm::WalletError>
    {
        Wallet::restore(
            store,
            Flaky::new(),
            &self.url,
            None,
            phrase,
            self.settings(),
            None,
        )
        .await
    }

    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra flags for the bank (`--payreq-ttl-secs` goes to the shop).
    pub fn start_with(extra: &[&str]) -> Self {
        let (mut bank_args, mut shop_args) = (Vec::new(), Vec::new());
        let mut it = extra.iter();
        while let Some(a) = it.next() {
            if *a == "--payreq-ttl-secs" {
                shop_args.push(*a);
                shop_args.extend(it.next());
            } else {
                bank_args.push(*a);
            }
        }
        let clock = Arc::new(TestClock::at(ecash_testkit::now()));
        let bank = InProcMint::start(&bank_args, clock.clone());
        let shop = InProcMerchant::start(&bank, &shop_args, clock.clone());
        Self {
            url: bank.url.clone(),
            shop_url: shop.url.clone(),
            clock,
            bank,
            shop,
        }
    }

    /// A fresh order at the shop: its payment request, from the shop's origin.
    pub async fn order(&self, item_id: &str) -> Offer {
        let shop = MerchantClient::new(&self.shop_url, ReqwestTransport::new().expect("http"));
        Offer {
            payreq: shop.order(item_id).await.expect("order"),
            origin: self.shop_url.clone(),
        }
    }

    /// The URL wallets fetch an order's payment request from.
    pub fn payreq_url(&self, payreq_id: &str) -> String {
        MerchantClient::new(&self.shop_url, ReqwestTransport::new().expect("http"))
            .payreq_url(payreq_id)
    }

    /// The shop keeper's list of orders.
    pub async fn shop_orders(&self) -> ecash_core::shop::OrderList {
        MerchantClient::new(&self.shop_url, ReqwestTransport::new().expect("http"))
            .orders(&self.shop.admin_token)
            .await
            .expect("orders")
    }

    /// Now, on every party's clock.
    pub fn now(&self) -> u64 {
        use ecash_core::Clock;
        self.clock.now()
    }

    /// Moves every party's clock forward (the bank's keys rotate with it).
    pub fn advance(&self, secs: u64) {
        self.bank.advance(&self.clock, secs);
    }

    /// Wallet settings on this world's clock.
    pub fn settings(&self) -> WalletSettings {
        WalletSettings {
            restore_gap: 8,
            clock: self.clock.clone(),
            ..WalletSettings::default()
        }
    }
}

pub type NativeWallet = Wallet<SqliteStore, Flaky>;

/// No coin the wallet holds is spent at the bank.
pub async fn assert_all_unspent<S: Store, T: Transport>(w: &Wallet<S, T>, mint: &Mint) {
    let bank =
        ecash_core::client::BankClient::new(&mint.url, ReqwestTransport::new().expect("http"));
    let held: Vec<_> = w.coins().iter().map(|r| r.coin.id()).collect();
    if held.is_empty() {
        return;
    }
    let spent = bank.coin_state(held).await.expect("state");
    assert!(spent.iter().all(|f| !f), "the wallet holds a spent coin");
}

/// A new wallet in a fresh SQLite file under `dir`, funded through the faucet.
pub async fn funded(mint: &Mint, dir: &Path, name: &str, faucet: u64) -> (NativeWallet, PathBuf) {
    let path = dir.join(format!("{name}.db"));
    let store = SqliteStore::open(&path).expect("store");
    let (mut w, _phrase) = Wallet::create(store, Flaky::new(), &mint.url, None, mint.settings())
        .await
        .expect("create wallet");
    if faucet > 0 {
        w.faucet(faucet).await.expect("faucet");
    }
    (w, path)
}

pub async fn reopen(mint: &Mint, path: &Path) -> NativeWallet {
    Wallet::open(
        SqliteStore::open(path).expect("store"),
        Flaky::new(),
        mint.settings(),
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

    async fn run<F>(&self, url: &str, send: F) -> Result<HttpResponse, TransportError>
    where
        F: AsyncFnOnce() -> Result<HttpResponse, TransportError>,
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
                return Ok(HttpResponse {
                    status: *status,
                    headers: vec![],
                    body: body.clone(),
                });
            }
            _ => {}
        }
        let mut resp = send().await?;
        let rules = self.rules.borrow();
        match &rules[idx].fault {
            Fault::CutBefore | Fault::Refuse(..) => unreachable!("answered above"),
            Fault::Replace(status, body) => Ok(HttpResponse {
                status: *status,
                headers: vec![],
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
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        if let Some((_, body)) = &req.body {
            self.posts
                .borrow_mut()
                .push((req.url.clone(), String::from_utf8_lossy(body).into_owned()));
        }
        let url = req.url.clone();
        self.run(&url, async || self.inner.send(req).await).await
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
    async fn apply_unless(
        &self,
        guards: &[String],
        writes: Vec<Write>,
    ) -> Result<bool, StoreError> {
        self.step()?;
        self.inner.apply_unless(guards, writes).await
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
