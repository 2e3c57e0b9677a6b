//! Servers inside the test process, each on its own actix system thread,
//! telling time by a clock the test passes in. With a [`TestClock`] shared
//! by bank, merchant and wallet, a test moves time for all of them at once
//! ([`InProcMint::advance`] also rotates the bank's keys), so expiry and
//! rotation tests never sleep.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Parser;
use ecash_core::clock::TestClock;
use ecash_core::{Clock, PublicKey};

use crate::client::{Shop, SyncBank};

/// How long a server may take to start (key generation in debug builds).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A server's command line: listening on `port` of loopback, its data in `dir`, then `args`.
fn argv(name: &str, dir: &tempfile::TempDir, port: u16, args: &[String]) -> Vec<String> {
    let data = dir.path().to_str().expect("a UTF-8 path").to_owned();
    [
        name,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        &data,
    ]
    .into_iter()
    .map(String::from)
    .chain(args.iter().cloned())
    .collect()
}

/// Runs `serve` on its own actix system thread and waits for what it sends
/// once it listens (or for its error).
fn spawn<S: Send + 'static, E: std::fmt::Display>(
    name: &'static str,
    serve: impl FnOnce(mpsc::Sender<S>) -> Result<(), E> + Send + 'static,
) -> (S, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel::<String>();
    let thread = std::thread::Builder::new()
        .name(format!("{name}-server"))
        .spawn(move || {
            if let Err(e) = serve(tx) {
                let _ = err_tx.send(e.to_string());
            }
        })
        .expect("a server thread");
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(s) => (s, thread),
        Err(_) => {
            let why = err_rx
                .recv_timeout(Duration::from_secs(1))
                .unwrap_or_else(|_| "no answer".into());
            panic!("{name} did not start: {why}");
        }
    }
}

fn stop(handle: &actix_web::dev::ServerHandle, thread: &mut Option<JoinHandle<()>>) {
    // On a thread of its own: the caller may be inside a runtime (an async test).
    let h = handle.clone();
    let _ = std::thread::spawn(move || actix_web::rt::System::new().block_on(h.stop(true))).join();
    if let Some(t) = thread.take() {
        let _ = t.join();
    }
}

/// A mint in this process.
pub struct InProcMint {
    /// Its base URL.
    pub url: String,
    /// Its master public key.
    pub master: PublicKey,
    /// Its data dir.
    pub dir: tempfile::TempDir,
    /// The bank it serves.
    pub bank: Arc<mint_server::bank::Bank>,
    clock: Arc<dyn Clock>,
    port: u16,
    args: Vec<String>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl InProcMint {
    /// A mint on `clock` with the demo faucet, the test defaults and `args`.
    pub fn start(args: &[&str], clock: Arc<dyn Clock>) -> Self {
        let mut all: Vec<String> = vec!["--demo-faucet".into(), "--workers".into(), "2".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        let args = crate::with_defaults(crate::MINT_TEST_DEFAULTS, &all);
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let (started, thread) = Self::launch(&dir, port, &args, clock.clone());
        Self {
            url: started.url,
            master: started.bank.keys().master.public(),
            dir,
            bank: started.bank,
            clock,
            port,
            args,
            handle: started.handle,
            thread: Some(thread),
        }
    }

    fn launch(
        dir: &tempfile::TempDir,
        port: u16,
        args: &[String],
        clock: Arc<dyn Clock>,
    ) -> (mint_server::Started, JoinHandle<()>) {
        let config =
            mint_server::config::Config::try_parse_from(argv("mint-server", dir, port, args))
                .expect("mint flags");
        spawn("mint", move |tx| {
            actix_web::rt::System::new().block_on(mint_server::serve(config, clock, Some(tx)))
        })
    }

    /// Moves `clock` (this mint's) forward by `secs` and rotates the keys
    /// for the new time, as the rotation task would have by then.
    pub fn advance(&self, clock: &TestClock, secs: u64) {
        clock.advance(secs);
        self.rotate();
    }

    /// Rotates the keys for the clock's now.
    pub fn rotate(&self) {
        self.bank.rotate_keys().expect("key rotation");
    }

    /// Revokes denomination key `key_id` in the books, as `mint-server
    /// revoke-key` does, and publishes it at once (a rotation).
    pub fn revoke_key(
        &self,
        key_id: &ecash_core::B32,
        reason: ecash_core::keyset::RevocationReason,
        extorted: &[ecash_core::B32],
    ) {
        let r = ecash_core::keyset::KeyRevocation {
            key_id: *key_id,
            reason,
            revoked_at: self.clock.now(),
        };
        self.bank
            .storage()
            .revoke_key(&r, extorted)
            .expect("revoke");
        self.rotate();
    }

    /// A blocking client that trusts the pinned master key.
    pub fn client(&self) -> SyncBank {
        SyncBank::connect(&self.url, &self.master)
    }

    /// Stops the server (in-flight requests finish) and closes its database.
    pub fn stop(&mut self) {
        stop(&self.handle, &mut self.thread);
    }

    /// Stops it and starts it again on the same port and data dir.
    pub fn restart(&mut self) {
        self.stop();
        let (started, thread) = Self::launch(&self.dir, self.port, &self.args, self.clock.clone());
        self.bank = started.bank;
        self.handle = started.handle;
        self.thread = Some(thread);
    }
}

impl Drop for InProcMint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A merchant in this process.
pub struct InProcMerchant {
    /// Its base URL.
    pub url: String,
    /// Its account at the bank.
    pub account_id: String,
    /// The shop keeper's token.
    pub admin_token: String,
    /// Its data dir.
    pub dir: tempfile::TempDir,
    clock: Arc<dyn Clock>,
    port: u16,
    args: Vec<String>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl InProcMerchant {
    /// A merchant on `clock`, banking at `mint`, with the test defaults and `args`.
    pub fn start(mint: &InProcMint, args: &[&str], clock: Arc<dyn Clock>) -> Self {
        Self::start_at(&mint.url, &mint.master, args, clock)
    }

    /// A merchant on `clock`, banking at `bank_url` with `master`.
    pub fn start_at(
        bank_url: &str,
        master: &PublicKey,
        args: &[&str],
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut all: Vec<String> = vec![
            "--bank-url".into(),
            bank_url.into(),
            "--bank-master-key".into(),
            master.0.to_b64(),
            "--workers".into(),
            "2".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let args = crate::with_defaults(crate::MERCHANT_TEST_DEFAULTS, &all);
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let (started, thread) = Self::launch(&dir, port, &args, clock.clone());
        Self {
            url: started.url,
            account_id: started.account_id,
            admin_token: started.admin_token,
            dir,
            clock,
            port,
            args,
            handle: started.handle,
            thread: Some(thread),
        }
    }

    fn launch(
        dir: &tempfile::TempDir,
        port: u16,
        args: &[String],
        clock: Arc<dyn Clock>,
    ) -> (merchant::Started, JoinHandle<()>) {
        let config = merchant::config::Config::try_parse_from(argv("merchant", dir, port, args))
            .expect("merchant flags");
        spawn("merchant", move |tx| {
            actix_web::rt::System::new().block_on(merchant::serve(config, clock, Some(tx)))
        })
    }

    /// A blocking client of the shop.
    pub fn client(&self) -> Shop {
        Shop::connect(&self.url)
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        stop(&self.handle, &mut self.thread);
    }

    /// Stops it and starts it again on the same port and data dir.
    pub fn restart(&mut self) {
        self.stop();
        let (started, thread) = Self::launch(&self.dir, self.port, &self.args, self.clock.clone());
        self.handle = started.handle;
        self.thread = Some(thread);
    }
}

impl Drop for InProcMerchant {
    fn drop(&mut self) {
        self.stop();
    }
}
