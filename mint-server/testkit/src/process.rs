//! Servers as real processes: the binaries this workspace builds, each on a
//! free loopback port it keeps across restarts, with a fresh data dir, found
//! through the ready file it writes once it listens.
//!
//! Binaries are found next to the running test or benchmark (cargo puts
//! them in `target/<profile>/`), or where `MINT_BIN` / `MERCHANT_BIN` say,
//! to run the suites against another build.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecash_core::PublicKey;
use ecash_serve::ready::Ready;

use crate::client::{Shop, SyncBank};

/// The path of workspace binary `name`: `$<NAME>_BIN` (`MINT_BIN` for
/// `mint-server`), else next to the running executable.
pub fn binary(name: &str) -> PathBuf {
    let var = match name {
        "mint-server" => "MINT_BIN".to_owned(),
        other => format!("{}_BIN", other.to_ascii_uppercase().replace('-', "_")),
    };
    if let Some(p) = std::env::var_os(&var) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("own path");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p {}), or set {var}",
        bin.display(),
        if name == "mint-server" {
            "mint-server"
        } else {
            name
        }
    );
    bin
}

/// One server process.
pub struct Process {
    name: &'static str,
    child: Option<Child>,
    /// Data dir (also holds `server.log` and `ready.json`).
    pub dir: tempfile::TempDir,
    port: u16,
    /// Before the common flags: a subcommand.
    lead: Vec<String>,
    args: Vec<String>,
    /// What its ready file said at its last start.
    pub ready: Ready,
}

impl Process {
    /// Starts binary `name` with `args` (after `--listen`, `--data-dir`, `--ready-file`).
    pub fn start(name: &'static str, args: Vec<String>) -> Self {
        Self::start_command(name, Vec::new(), args)
    }

    /// Starts binary `name` with `lead` (a subcommand) first, then the
    /// common flags, then `args`.
    pub fn start_command(name: &'static str, lead: Vec<String>, args: Vec<String>) -> Self {
        let mut p = Self {
            name,
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
            port: crate::free_port(),
            lead,
            args,
            ready: Ready {
                server: String::new(),
                url: String::new(),
                pid: 0,
                master_public_key: None,
                account_id: None,
            },
        };
        // The port was free when picked; a test running beside this one
        // may have taken it since: then another port.
        for _ in 0..4 {
            match p.try_start() {
                Ok(()) => return p,
                Err(log) if log.contains("Address already in use") => {
                    p.port = crate::free_port();
                }
                Err(log) => panic!("{} exited before it listened:\n{log}", p.name),
            }
        }
        p.start_again();
        p
    }

    fn ready_path(&self) -> PathBuf {
        self.dir.path().join("ready.json")
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// What it wrote to stderr (tracing and the access log), every run so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.ready.url
    }

    /// The address it listens on, as a URL: where to reach it when its
    /// public URL (`--public-url`) is not this machine.
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts it again after a stop or kill, on the same port and data dir.
    pub fn start_again(&mut self) {
        if let Err(log) = self.try_start() {
            panic!("{} exited before it listened:\n{log}", self.name);
        }
    }

    /// Starts it on its port and data dir: `Err(its log)` if it exits
    /// before it listens.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "{} is still running", self.name);
        let _ = std::fs::remove_file(self.ready_path());
        // Appended: a restarted server keeps the log of its earlier runs.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let mut child = Command::new(binary(self.name))
            .args(&self.lead)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--ready-file")
            .arg(self.ready_path())
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        // Keep draining stdout so the server never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        let deadline = Instant::now() + Duration::from_secs(180);
        let ready = loop {
            if let Some(r) = Ready::read(&self.ready_path()) {
                break r;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("({status})\n{}", self.log()));
            }
            assert!(
                Instant::now() < deadline,
                "{} did not get ready:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.ready = ready;
        self.child = Some(child);
        Ok(())
    }

    /// Graceful stop (SIGTERM), waiting for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(status.success(), "{} exited with {status}", self.name);
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    panic!("{} did not stop within 20 s", self.name);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops it, then starts it again.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Whether it is running (as far as this kit started it).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `mint-server` process.
pub struct MintProc {
    /// The process.
    pub proc: Process,
    /// Its master public key (from its ready file).
    pub master: PublicKey,
}

impl MintProc {
    /// A mint with the demo faucet on and the test defaults, plus `args`.
    pub fn start(args: &[&str]) -> Self {
        let with_faucet: Vec<&str> = std::iter::once("--demo-faucet")
            .chain(args.iter().copied())
            .collect();
        Self::start_with(&with_faucet)
    }

    /// A mint with the test defaults the test does not override, and exactly `args`.
    pub fn start_with(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let proc = Process::start(
            "mint-server",
            crate::with_defaults(crate::MINT_TEST_DEFAULTS, &args),
        );
        let master = master_of(&proc.ready);
        Self { proc, master }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        self.proc.url()
    }

    /// Its bank id: its `--bank-id` flag, or the mint's default.
    pub fn bank_id(&self) -> String {
        let args = &self.proc.args;
        args.iter()
            .position(|a| a == "--bank-id")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| "demo-bank".to_owned())
    }

    /// A blocking client that trusts the pinned master key.
    pub fn client(&self) -> SyncBank {
        SyncBank::connect(self.url(), &self.master)
    }

    /// Runs `mint-server <its flags> <args>` (an operator's command such
    /// as `revoke-key`) on its books while it runs; what it printed, or its error.
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let p = &self.proc;
        let out = Command::new(binary("mint-server"))
            .arg("--data-dir")
            .arg(p.dir.path())
            .args(&p.args)
            .args(args)
            .output()
            .expect("run mint-server");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Waits (at most 30 s) until this mint has opened its clearing
    /// account at the mint at `peer_url` (NetCash), which is when it
    /// clears that mint's coins.
    pub fn wait_clearing_at(&self, peer_url: &str) {
        let id = ecash_core::messages::account_id(&self.master);
        let peer = ecash_core::client::BankClient::new(peer_url, crate::transport());
        let rt = crate::runtime();
        let deadline = Instant::now() + Duration::from_secs(30);
        while rt.block_on(peer.public_key(&id)).ok() != Some(self.master) {
            assert!(
                Instant::now() < deadline,
                "no clearing account at {peer_url}:\n{}",
                self.proc.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn master_of(ready: &Ready) -> PublicKey {
    let b64 = ready
        .master_public_key
        .as_deref()
        .expect("a mint's ready file names its master key");
    PublicKey(ecash_core::B32::from_b64(b64).expect("a master key"))
}

/// A `certifier` process (NetCash's FIC), serving its registry.
pub struct CertifierProc {
    /// The process.
    pub proc: Process,
    /// Its public key (from its ready file).
    pub key: PublicKey,
}

impl CertifierProc {
    /// A certifier with `args` after `serve`.
    pub fn start(args: &[&str]) -> Self {
        let args = args.iter().map(|a| a.to_string()).collect();
        let proc = Process::start_command("certifier", vec!["serve".into()], args);
        let key = master_of(&proc.ready);
        Self { proc, key }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        self.proc.url()
    }

    /// Runs `certifier <args>` on its registry; what it printed, or its error.
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(binary("certifier"))
            .arg("--data-dir")
            .arg(self.proc.dir.path())
            .args(args)
            .output()
            .expect("run certifier");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Certifies the mint with `master` as bank `bank_id` at `addr` for `valid_secs`.
    pub fn issue(
        &self,
        name: &str,
        bank_id: &str,
        addr: &str,
        master: &PublicKey,
        valid_secs: u64,
    ) -> ecash_core::Signed<ecash_core::certificate::MintCertificate> {
        let out = self
            .command(&[
                "issue",
                "--cs-name",
                name,
                "--bank-id",
                bank_id,
                "--cs-addr",
                addr,
                "--master-key",
                &master.0.to_b64(),
                "--valid-secs",
                &valid_secs.to_string(),
            ])
            .expect("certifier issue");
        serde_json::from_str(&out).expect("a certificate")
    }

    /// Certifies `mint` at its URL, under the bank id its key set names, for a day.
    pub fn certify(
        &self,
        name: &str,
        mint: &MintProc,
    ) -> ecash_core::Signed<ecash_core::certificate::MintCertificate> {
        self.issue(name, &mint.bank_id(), mint.url(), &mint.master, 86_400)
    }

    /// Revokes certificate `cert_id`.
    pub fn revoke(&self, cert_id: u64, reason: &str) {
        self.command(&[
            "revoke",
            "--cert-id",
            &cert_id.to_string(),
            "--reason",
            reason,
        ])
        .expect("certifier revoke");
    }

    /// A mint certified by this certifier as `name` at its URL, with bank
    /// id `bank_id`, plus `extra` flags.
    pub fn certified_mint(&self, name: &str, bank_id: &str, extra: &[&str]) -> MintProc {
        let mut args = self.mint_args();
        args.extend(
            ["--bank-id", bank_id]
                .iter()
                .chain(extra)
                .map(|s| s.to_string()),
        );
        let mint = MintProc::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
        self.certify(name, &mint);
        mint
    }

    /// [`CertifierProc::certified_mint`] clearing the coins of the mint at
    /// `peer_url` (NetCash), checking it every second: back once its
    /// clearing account there is open.
    pub fn clearing_mint(
        &self,
        name: &str,
        bank_id: &str,
        peer_url: &str,
        extra: &[&str],
    ) -> MintProc {
        let mut args = vec!["--peer", peer_url, "--peer-refresh-secs", "1"];
        args.extend_from_slice(extra);
        let mint = self.certified_mint(name, bank_id, &args);
        mint.wait_clearing_at(peer_url);
        mint
    }

    /// The flags that make a mint hand its key sets to this certifier
    /// every second.
    pub fn mint_args(&self) -> Vec<String> {
        vec![
            "--certifier-url".into(),
            self.url().to_owned(),
            "--certifier-key".into(),
            self.key.0.to_b64(),
            "--certify-every-secs".into(),
            "1".into(),
        ]
    }
}

/// A `merchant` process.
pub struct MerchantProc {
    /// The process.
    pub proc: Process,
    /// Its account at the bank.
    pub account_id: String,
    /// The shop keeper's token.
    pub admin_token: String,
}

impl MerchantProc {
    /// A merchant banking at the mint at `bank_url` with `master`, plus `args`.
    pub fn start(bank_url: &str, master: &PublicKey, args: &[&str]) -> Self {
        let mut all: Vec<String> = vec![
            "--bank-url".into(),
            bank_url.into(),
            "--bank-master-key".into(),
            master.0.to_b64(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let proc = Process::start(
            "merchant",
            crate::with_defaults(crate::MERCHANT_TEST_DEFAULTS, &all),
        );
        let account_id = proc
            .ready
            .account_id
            .clone()
            .expect("a merchant's ready file names its account");
        let admin_token = std::fs::read_to_string(proc.dir.path().join("admin.token"))
            .expect("the admin token")
            .trim()
            .to_owned();
        Self {
            proc,
            account_id,
            admin_token,
        }
    }

    /// A merchant banking at `mint`.
    pub fn at(mint: &MintProc, args: &[&str]) -> Self {
        Self::start(mint.url(), &mint.master, args)
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        self.proc.url()
    }

    /// A blocking client of the shop.
    pub fn client(&self) -> Shop {
        Shop::connect(self.url())
    }
}

/// The merchant's own key, from its data dir (`merchant.key`): what its
/// receipts are signed with and its deposits at the bank.
pub fn merchant_key(data_dir: &Path) -> ecash_core::Keypair {
    let text = std::fs::read_to_string(data_dir.join("merchant.key")).expect("merchant.key");
    let secret = ecash_core::B32::from_b64(text.trim()).expect("a key in merchant.key");
    ecash_core::Keypair::from_secret_bytes(&secret.0)
}

/// Runs binary `name` with `args` on a fresh data dir and expects it to
/// refuse to start; returns what it printed on stderr.
pub fn refuses_to_start(name: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(binary(name))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    assert!(!out.status.success(), "{name} started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
