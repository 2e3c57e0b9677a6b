//! Harness for the cross-crate tests: the real `mint-server` binary (serving
//! the Trunk-built wallet when the browser needs it), chromedriver, Chromium
//! sessions with their own profiles, and an HTTP proxy that injects network
//! faults or plays a hostile shop ([`proxy`]). Screenshots go to
//! `target/e2e-screenshots/`.

#[path = "proxy.rs"]
pub mod proxy;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// A free loopback port (for a server started next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
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

/// A running mint, on a fixed port so it can restart.
pub struct Mint {
    child: Option<Child>,
    pub url: String,
    port: u16,
    pub data: tempfile::TempDir,
    args: Vec<String>,
    wallet: bool,
}

impl Mint {
    /// Starts `mint-server` (E2E_MINT_BIN, default target/debug/mint-server)
    /// serving `dist/` (E2E_DIST, default the workspace's dist/).
    pub fn start() -> Self {
        Self::start_with(&[], true)
    }

    /// Starts `mint-server` with extra flags; `wallet`: serve the built web wallet.
    pub fn start_with(args: &[&str], wallet: bool) -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let mut m = Self {
            child: None,
            url: String::new(),
            port: free_port(),
            data,
            args: args.iter().map(|a| a.to_string()).collect(),
            wallet,
        };
        m.restart();
        m
    }

    fn bin() -> PathBuf {
        std::env::var_os("E2E_MINT_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/debug/mint-server"))
    }

    fn dist() -> PathBuf {
        std::env::var_os("E2E_DIST")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("dist"))
    }

    /// The mint's log (stderr of every run so far).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("mint.log")).unwrap_or_default()
    }

    /// (Re)starts the mint on the same port and data dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "mint already running");
        let bin = Self::bin();
        let dist = Self::dist();
        assert!(
            bin.exists(),
            "{} is missing: build it first (make test does: cargo build -p mint-server)",
            bin.display()
        );
        let web_dir = if self.wallet {
            assert!(
                dist.join("index.html").exists(),
                "{} has no index.html: build the wallet first (make test does: trunk build --release)",
                dist.display()
            );
            dist
        } else {
            PathBuf::from("/nonexistent")
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("mint.log"))
            .expect("log");
        let mut child = Command::new(bin)
            .args([
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--data-dir",
            ])
            .arg(self.data.path())
            .args(["--demo-faucet", "--web-dir"])
            .arg(web_dir)
            .args(["--rate-limit", "100000", "--rate-burst", "100000"])
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start mint-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("mint-server listening on ") => break,
                Some(Ok(_)) => {}
                _ => panic!("mint-server exited before listening:\n{}", self.log()),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        wait_port(self.port, "mint-server");
        self.url = format!("http://127.0.0.1:{}", self.port);
        self.child = Some(child);
    }

    /// Stops the mint (as a crash would: SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mint {
    fn drop(&mut self) {
        self.kill();
    }
}

/// chromedriver on a free port.
pub struct Driver {
    child: Child,
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
