//! Harness for the cross-crate tests: the parties as real processes,
//! started by the test kit (`ecash-testkit`): the `mint-server` binary
//! (serving the Trunk-built wallet when the browser needs it) and the
//! `merchant` binary banking at it over HTTP, alone or behind the kit's
//! [`proxy`] (network faults, or a hostile shop rewriting answers); typed
//! clients of both; chromedriver and Chromium sessions with their own
//! profiles. Screenshots go to `target/e2e-screenshots/`.
//!
//! Binaries come from next to the test executable (`target/debug/`) or
//! from `MINT_BIN` / `MERCHANT_BIN`; the built wallet from `E2E_DIST`
//! (default: the workspace's `dist/`).

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub use ecash_core::api::{self, Endpoint};
pub use ecash_core::client::{BankClient, MerchantClient};
pub use ecash_testkit::process::merchant_key;
pub use ecash_testkit::proxy::{self, Proxy, Rewrite};
pub use ecash_testkit::{MerchantProc, MintProc, free_port, now};
pub use wallet_wasm::transport::ReqwestTransport;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The built web wallet: `E2E_DIST`, default the workspace's `dist/`.
/// Fails, saying how to build it, when it holds no `index.html`.
pub fn dist() -> PathBuf {
    let dist = std::env::var_os("E2E_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("dist"));
    assert!(
        dist.join("index.html").exists(),
        "{} has no index.html: build the wallet first (make test-e2e does: trunk build --release)",
        dist.display()
    );
    dist
}

/// A mint (demo faucet on, the kit's test defaults) serving the built web
/// wallet, with `args` added.
pub fn wallet_mint(args: &[&str]) -> MintProc {
    let dist = dist();
    let dist = dist.to_string_lossy();
    let mut all = vec!["--web-dir", dist.as_ref()];
    all.extend_from_slice(args);
    MintProc::start(&all)
}

/// A mint without the web wallet (demo faucet on, the kit's test defaults).
pub fn bank_mint(args: &[&str]) -> MintProc {
    MintProc::start(args)
}

/// The web wallet's address at `mint` (its root page).
pub fn wallet_url(mint: &MintProc) -> String {
    format!("{}/", mint.url())
}

/// The demo merchant banking at `mint` directly, with `args` added.
pub fn merchant_at(mint: &MintProc, args: &[&str]) -> MerchantProc {
    MerchantProc::at(mint, args)
}

/// The demo merchant banking at `bank_url` (e.g. a proxy in front of
/// `mint`), behind a proxy of its own: its public URL (`--public-url`, so
/// every link it makes) is the proxy's, which forwards to it, rewriting
/// answers with `rewrite`. Faults start off.
pub fn merchant_behind_proxy(
    mint: &MintProc,
    bank_url: &str,
    rewrite: Option<Arc<Rewrite>>,
    args: &[&str],
) -> (MerchantProc, Proxy) {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut all = vec!["--public-url", public.as_str()];
    all.extend_from_slice(args);
    let merchant = MerchantProc::start(bank_url, &mint.master, &all);
    let upstream = format!("127.0.0.1:{}", merchant.proc.port());
    let proxy = Proxy::start(port, &upstream, rewrite);
    assert_eq!(
        merchant.url(),
        proxy.url,
        "the shop's links lead to its proxy"
    );
    (merchant, proxy)
}

/// A proxy in front of `mint` (faults off until asked).
pub fn proxy_to(mint: &MintProc) -> Proxy {
    Proxy::start(0, &format!("127.0.0.1:{}", mint.proc.port()), None)
}

/// An HTTP transport for the typed clients.
pub fn transport() -> ReqwestTransport {
    ReqwestTransport::with_timeout(Duration::from_secs(30)).expect("an HTTP client")
}

/// A typed client of the bank at `url`.
pub fn bank_client(url: &str) -> BankClient<ReqwestTransport> {
    BankClient::new(url, transport())
}

/// A typed client of the shop at `url`.
pub fn shop_client(url: &str) -> MerchantClient<ReqwestTransport> {
    MerchantClient::new(url, transport())
}

/// What the shop's account at its bank holds now, asked with the shop's
/// own key (read from its data dir) through `bank`.
pub async fn shop_statement(
    bank: &BankClient<ReqwestTransport>,
    merchant: &MerchantProc,
) -> ecash_core::messages::AccountStatement {
    let key = merchant_key(&merchant.proc.data_dir());
    let id = ecash_core::messages::account_id(&key.public());
    assert_eq!(
        id, merchant.account_id,
        "merchant.key is the shop's account key"
    );
    bank.statement(&id, &key, now())
        .await
        .expect("the shop's statement")
}

/// `s` percent-encoded as a fragment value (all but ASCII letters and digits).
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The wallet link that pays the order whose payment request is at
/// `payreq_url`: the request's address in the fragment.
pub fn pay_link(wallet: &str, payreq_url: &str) -> String {
    format!("{wallet}#payreq={}", encode_component(payreq_url))
}

/// chromedriver on a free port.
pub struct Driver {
    child: Child,
    /// Its WebDriver URL.
    pub url: String,
}

impl Driver {
    /// Starts chromedriver (CHROMEDRIVER, default `chromedriver` on PATH).
    pub fn start() -> Self {
        // Two rustls crypto providers are linked in (fantoccini's, reqwest's):
        // pick one, or the first TLS client built panics.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e} (make test installs chromium-driver)"));
        wait_port(port, "chromedriver");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session with its own profile directory.
    pub async fn session(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        let mut opts = serde_json::json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1000,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if let Ok(bin) = std::env::var("CHROME_BIN") {
            opts["binary"] = serde_json::Value::String(bin);
        } else if Path::new("/usr/bin/chromium").exists() {
            opts["binary"] = serde_json::Value::String("/usr/bin/chromium".into());
        }
        caps.insert("goog:chromeOptions".into(), opts);
        ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves screenshots under `target/e2e-screenshots/`.
pub async fn screenshot(c: &Client, name: &str) {
    let dir = root().join("target/e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// Text of the element at `css`, or empty.
pub async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the element at `css` shows text for which `ok` holds; on timeout
/// fails with what the page showed (and saves a screenshot).
pub async fn wait_text(c: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = text(c, css).await;
        if ok(&t) {
            return t;
        }
        if Instant::now() > deadline {
            screenshot(c, "failure").await;
            let msg = text(c, "#message").await;
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!(
                "timed out waiting for {what} in {css}: it shows {t:?}; page {url}; message {msg:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the element at `css`; on timeout fails with the page's state.
async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            screenshot(c, "failure").await;
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let src = c.source().await.unwrap_or_default();
            panic!("no {css} ({e}) on {url}; page:\n{src}");
        }
    }
}

/// Clicks the element at `css` (waiting for it).
pub async fn click(c: &Client, css: &str) {
    let e = element(c, css).await;
    e.click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Replaces the value of the input at `css` with `value`.
pub async fn fill(c: &Client, css: &str, value: &str) {
    let e = element(c, css).await;
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("type");
}

/// The `value` property of the input at `css`.
pub async fn value(c: &Client, css: &str) -> String {
    let e = element(c, css).await;
    e.prop("value").await.ok().flatten().unwrap_or_default()
}

/// The attribute `name` of the element at `css` (waiting for it).
pub async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    let e = element(c, css).await;
    e.attr(name).await.ok().flatten()
}

/// The (UTC) calendar year of unix time `t`, to recognise a date written
/// for people.
pub fn year_of(t: u64) -> i64 {
    // Howard Hinnant's civil_from_days.
    let z = (t / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

/// A check that a text shows exactly the money `s` (e.g. "1.00 DEMO").
pub fn money(s: &str) -> impl Fn(&str) -> bool + '_ {
    move |t: &str| t.trim() == s
}

/// A wallet (the real wallet core) in a fresh SQLite file under `dir`,
/// banking at `bank` and funded with `faucet` from the demo faucet.
pub async fn funded_wallet(
    dir: &Path,
    name: &str,
    bank: &str,
    faucet: u64,
) -> wallet_wasm::Wallet<wallet_wasm::store::sqlite::SqliteStore, ReqwestTransport> {
    let store = wallet_wasm::store::sqlite::SqliteStore::open(&dir.join(format!("{name}.db")))
        .expect("store");
    let net = ReqwestTransport::new().expect("http");
    let (mut w, _) = wallet_wasm::Wallet::create(
        store,
        net,
        bank,
        None,
        wallet_wasm::WalletSettings::default(),
    )
    .await
    .expect("create");
    w.faucet(faucet).await.expect("faucet");
    w
}

/// What a wallet has paid shops, by its history.
pub fn paid<S: wallet_wasm::store::Store, T: ecash_core::client::Transport>(
    w: &wallet_wasm::Wallet<S, T>,
) -> u64 {
    w.history()
        .iter()
        .filter(|h| matches!(h.event, wallet_wasm::records::Event::Paid { .. }))
        .map(|h| h.amount)
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn years_of_unix_times() {
        assert_eq!(super::year_of(0), 1970);
        assert_eq!(super::year_of(1_795_607_740), 2026);
        assert_eq!(super::year_of(951_782_400), 2000); // 29 February 2000
        assert_eq!(super::year_of(946_684_799), 1999);
    }
}
