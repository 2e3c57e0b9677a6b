//! The test kit: every test and benchmark starts the parties it needs here.
//!
//! - [`process`]: `mint-server` and `merchant` as real processes on free
//!   loopback ports with fresh data dirs, found through their ready files;
//!   stop, kill (SIGKILL) and restart on the same port and data;
//! - [`inproc`]: the same servers inside the test process, on a
//!   [`TestClock`] the test moves (and keys rotated with it), so expiry and
//!   rotation tests never sleep;
//! - [`client`]: a blocking client over the protocol's typed client, with
//!   the steps tests repeat (accounts, withdrawals, payments, deposits);
//! - [`proxy`]: a proxy that drops, delays, cuts, duplicates or rewrites.
//!
//! A kit is test code: where something it starts does not behave, it
//! panics with what it saw.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod client;
pub mod inproc;
pub mod nginx;
pub mod offline;
pub mod process;
pub mod proxy;

pub use client::{Account, Shop, SyncBank, refused, runtime, transport};
pub use ecash_core::clock::TestClock;
pub use inproc::{InProcMerchant, InProcMint};
pub use process::{CertifierProc, MerchantProc, MintProc};

/// Unix seconds on the system clock.
pub fn now() -> u64 {
    use ecash_core::Clock;
    ecash_core::clock::SystemClock.now()
}

/// 32 bytes from the OS.
pub fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("OS random numbers");
    b
}

/// One mint's books on the test PostgreSQL server: a fresh, empty
/// database, and the key-encryption key file every node of the mint is
/// given. The server is `ECASH_TEST_POSTGRES`, which
/// `scripts/with-postgres.sh` (and so `make test-native`) sets.
pub struct PgBooks {
    /// `mint-server --database` settings (key=value form).
    pub url: String,
    kek: tempfile::TempDir,
}

impl PgBooks {
    /// Creates the database and a KEK.
    pub fn new() -> Self {
        let server = std::env::var("ECASH_TEST_POSTGRES").expect(
            "ECASH_TEST_POSTGRES names the test server: run under scripts/with-postgres.sh",
        );
        let psql = std::env::var("ECASH_TEST_POSTGRES_BIN")
            .map(|bin| format!("{bin}/psql"))
            .unwrap_or_else(|_| "psql".into());
        let name = format!("t_{:016x}", fastrand::u64(..));
        let out = std::process::Command::new(&psql)
            .arg(format!("{server} dbname=postgres"))
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap_or_else(|e| panic!("running {psql}: {e}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kek = tempfile::tempdir().expect("tempdir");
        let kek_key = ecash_core::B32::from_array(random32()).to_b64();
        let file = kek.path().join("kek");
        std::fs::write(&file, kek_key).expect("the KEK file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .expect("the KEK file's mode");
        Self {
            url: format!("{server} dbname={name}"),
            kek,
        }
    }

    /// The flags that put a mint node on these books.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--database".into(),
            self.url.clone(),
            "--key-encryption-key-file".into(),
            self.kek.path().join("kek").display().to_string(),
        ]
    }
}

impl Default for PgBooks {
    fn default() -> Self {
        Self::new()
    }
}

/// Restarts the test PostgreSQL server as after a crash (`pg_ctl restart
/// -m immediate`: no shutdown checkpoint, recovery from the WAL), and
/// returns once it accepts connections again. `scripts/with-postgres.sh`
/// says where the cluster is.
pub fn restart_postgres() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let dir = var("ECASH_TEST_POSTGRES_DIR");
    let pg_ctl = format!("{}/pg_ctl", var("ECASH_TEST_POSTGRES_BIN"));
    let owner = std::env::var("ECASH_TEST_POSTGRES_OWNER").unwrap_or_default();
    let log = format!("{dir}/../log");
    let args = ["-D", &dir, "-l", &log, "-w", "-m", "immediate", "restart"];
    // initdb's cluster belongs to its owner, who alone may run pg_ctl on it.
    let mut cmd = if owner.is_empty() {
        std::process::Command::new(&pg_ctl)
    } else {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", &owner, "--", &pg_ctl]);
        c
    };
    let out = cmd.args(args).output().expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free loopback port (for a server started next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Flags every test mint gets unless the test sets them: small
/// denominations (fast key generation), no web wallet, no rate limit.
pub const MINT_TEST_DEFAULTS: &[(&str, &str)] = &[
    ("--max-denomination-exp", "10"),
    ("--web-dir", "/nonexistent"),
    ("--rate-limit", "100000"),
    ("--rate-burst", "100000"),
];

/// Flags every test merchant gets unless the test sets them.
pub const MERCHANT_TEST_DEFAULTS: &[(&str, &str)] = &[
    ("--rate-limit", "100000"),
    ("--rate-burst", "100000"),
    ("--order-rate", "1000000"),
    ("--order-burst", "100000"),
    ("--pay-rate", "1000000"),
    ("--pay-burst", "100000"),
    ("--bank-wait-secs", "30"),
];

/// `defaults` the test did not set itself, then `args`.
pub fn with_defaults(defaults: &[(&str, &str)], args: &[String]) -> Vec<String> {
    let mut all = Vec::new();
    for (flag, value) in defaults {
        if !args.iter().any(|a| a == flag) {
            all.extend([flag.to_string(), value.to_string()]);
        }
    }
    all.extend(args.iter().cloned());
    all
}
