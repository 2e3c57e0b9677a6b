//! Test harness: a real `mint-server` process on a random loopback port with
//! a real SQLite file in a temp dir, and a client built on `ecash-core`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecash_core::canonical::Canonical;
use ecash_core::coin::PendingCoin;
use ecash_core::messages::*;
use ecash_core::{
    Amount, ApiError, B32, BlindedCoin, Coin, Currency, Fixed, Keypair, PublicKey, Signed,
    SignedKeySet, VerifiedKeySet, amount, envelope,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("rng");
    b
}

/// A running mint process.
pub struct Mint {
    child: Option<Child>,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub args: Vec<String>,
}

/// The mint binary under test: this build's, or `MINT_BIN` (to run these
/// tests against another build, e.g. to show a test fails on older code).
pub fn mint_bin() -> PathBuf {
    std::env::var_os("MINT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mint-server")))
}

fn spawn(dir: &Path, args: &[String]) -> (Child, String) {
    // Appended: a restarted mint keeps the log of its earlier runs.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    // Test defaults, unless the test sets the flag itself.
    let defaults = [
        ("--max-denomination-exp", "10"),
        ("--web-dir", "/nonexistent"),
        ("--rate-limit", "100000"),
        ("--rate-burst", "100000"),
    ];
    let mut all: Vec<String> = Vec::new();
    for (flag, value) in defaults {
        if !args.iter().any(|a| a == flag) {
            all.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    all.extend(args.iter().cloned());
    let mut child = Command::new(mint_bin())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(&all)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start mint-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(u) = line.strip_prefix("mint-server listening on ") {
                    break u.trim().to_owned();
                }
            }
            _ => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("mint-server exited before listening:\n{log}");
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

impl Mint {
    /// A mint with the demo faucet on.
    pub fn start(args: &[&str]) -> Self {
        let with_faucet: Vec<&str> = std::iter::once("--demo-faucet")
            .chain(args.iter().copied())
            .collect();
        Self::start_with(&with_faucet)
    }

    /// A mint with exactly these extra flags.
    pub fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let args: Vec<String> = args.iter().copied().map(String::from).collect();
        let (child, url) = spawn(dir.path(), &args);
        Self {
            child: Some(child),
            url,
            dir,
            args,
        }
    }

    /// Graceful stop (SIGTERM), waiting for exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(status.success(), "mint-server exited with {status}");
                    break;
                }
                if std::time::Instant::now() > deadline {
                    let _ = c.kill();
                    panic!("mint-server did not stop within 20 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Stop, then start again on the same data dir (new port).
    pub fn restart(&mut self) {
        self.stop();
        let (child, url) = spawn(self.dir.path(), &self.args);
        self.child = Some(child);
        self.url = url;
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.url)
    }
}

impl Drop for Mint {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An error answer: status and body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub error: ApiError,
}

/// An account with its key.
pub struct Account {
    pub key: Keypair,
    pub id: String,
}

/// A protocol client over HTTP.
pub struct Client {
    pub http: reqwest::blocking::Client,
    pub url: String,
    pub keys: VerifiedKeySet,
    pub master: PublicKey,
}

impl Client {
    pub fn connect(url: &str) -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let signed: SignedKeySet = http
            .get(format!("{url}/keys"))
            .send()
            .expect("GET /keys")
            .json()
            .expect("key set");
        // Tests pin what the mint announces; wallet tests pin a known key instead.
        let master = signed.body.master_public_key;
        let keys = VerifiedKeySet::verify(&signed, &master).expect("key set verifies");
        Self {
            http,
            url: url.to_owned(),
            keys,
            master,
        }
    }

    pub fn currency(&self) -> Currency {
        self.keys.set.currency.clone()
    }

    pub fn amount(&self, v: u64) -> Amount {
        Amount::new(self.currency(), v)
    }

    fn answer<T: DeserializeOwned>(resp: reqwest::blocking::Response) -> Result<T, Refused> {
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        if (200..300).contains(&status) {
            Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad answer {text}: {e}")))
        } else {
            let error: ApiError = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("error body is not JSON {{code,message}}: {text} ({e})")
            });
            Err(Refused { status, error })
        }
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Refused> {
        Self::answer(
            self.http
                .post(format!("{}{path}", self.url))
                .json(body)
                .send()
                .expect("POST"),
        )
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> Result<serde_json::Value, Refused> {
        Self::answer(
            self.http
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .expect("POST"),
        )
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Refused> {
        Self::answer(
            self.http
                .get(format!("{}{path}", self.url))
                .send()
                .expect("GET"),
        )
    }

    pub fn register(&self, label: &str) -> Account {
        let key = Keypair::generate().expect("rng");
        let req = Signed::sign(
            RegisterAccount {
                public_key: key.public(),
                label: label.into(),
                timestamp: now(),
            },
            &key,
        );
        let created: AccountCreated = self.post("/accounts", &req).expect("register");
        Account {
            key,
            id: created.account_id,
        }
    }

    pub fn faucet(&self, acct: &Account, value: u64) -> AccountStatement {
        self.post(
            &format!("/accounts/{}/faucet", acct.id),
            &FaucetRequest {
                amount: self.amount(value),
            },
        )
        .expect("faucet")
    }

    pub fn statement(&self, acct: &Account) -> Result<AccountStatement, Refused> {
        let ts = now();
        let sig = acct.key.sign(&AccountQuery {
            account_id: acct.id.clone(),
            timestamp: ts,
        });
        Self::answer(
            self.http
                .get(format!("{}/accounts/{}", self.url, acct.id))
                .header("x-ecash-timestamp", ts.to_string())
                .header("x-ecash-signature", sig.0.to_b64())
                .send()
                .expect("GET account"),
        )
    }

    pub fn balance(&self, acct: &Account) -> u64 {
        self.statement(acct).expect("statement").balance.value
    }

    /// Blinded coins for `value`, split into withdrawable denominations.
    pub fn blind(&self, value: u64) -> Vec<PendingCoin> {
        let keys = self.keys.withdraw_keys(now());
        let denoms: Vec<_> = keys.keys().copied().collect();
        amount::split(value, &denoms)
            .expect("split")
            .into_iter()
            .map(|d| {
                let k = keys[&d];
                PendingCoin::new_random(k.info.key_id, &k.key).expect("blind")
            })
            .collect()
    }

    pub fn withdraw_request(
        &self,
        acct: &Account,
        value: u64,
    ) -> (Signed<WithdrawRequest>, Vec<PendingCoin>) {
        let pending = self.blind(value);
        let req = WithdrawRequest {
            account_id: acct.id.clone(),
            request_id: Fixed(random32()),
            amount: self.amount(value),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: now(),
        };
        (Signed::sign(req, &acct.key), pending)
    }

    pub fn finalize(&self, pending: &[PendingCoin], sigs: &BlindSignatures) -> Vec<Coin> {
        assert_eq!(pending.len(), sigs.blind_signatures.len());
        pending
            .iter()
            .zip(&sigs.blind_signatures)
            .map(|(p, s)| {
                p.finalize(&self.keys.key(&p.key_id).expect("key").key, &s.0)
                    .expect("finalize verifies")
            })
            .collect()
    }

    pub fn withdraw(&self, acct: &Account, value: u64) -> Vec<Coin> {
        let (req, pending) = self.withdraw_request(acct, value);
        let sigs: BlindSignatures = self.post("/withdraw", &req).expect("withdraw");
        self.finalize(&pending, &sigs)
    }

    pub fn value_of(&self, coins: &[Coin]) -> u64 {
        coins
            .iter()
            .map(|c| self.keys.key(&c.key_id).expect("key").info.value.value)
            .sum()
    }

    /// A payment of `coins` to `merchant` with a fresh payer code.
    pub fn payment(
        &self,
        coins: &[Coin],
        merchant: &str,
        payreq_id: &str,
        description: &str,
    ) -> (Payment, Vec<u8>) {
        let payer_code = random32().to_vec();
        let info = PaymentInfo {
            bank_id: self.keys.set.bank_id.clone(),
            amount: self.amount(self.value_of(coins)),
            ncoins: coins.len() as u32,
            timestamp: now(),
            merchant_bank_id: self.keys.set.bank_id.clone(),
            merchant_acc_id: merchant.into(),
            payreq_id: payreq_id.into(),
            description_hash: description_hash(description),
            payer_code_hash: payer_code_hash(&payer_code),
        };
        let bundle = CoinBundle {
            payment_info_hash: Fixed(info.canonical_hash()),
            coins: coins.to_vec(),
        };
        let sealed = envelope::seal(
            &self.keys.encryption_key,
            &serde_json::to_vec(&bundle).expect("json"),
            &info.canonical_hash(),
        )
        .expect("seal");
        (
            Payment {
                payment_info: info,
                sealed_coins: sealed,
            },
            payer_code,
        )
    }

    pub fn deposit(
        &self,
        merchant: &Account,
        payment: &Payment,
    ) -> Result<Signed<DepositAck>, Refused> {
        let d = Signed::sign(
            Deposit {
                merchant_acc_id: merchant.id.clone(),
                payment: payment.clone(),
            },
            &merchant.key,
        );
        self.post("/deposit", &d)
    }

    /// Exchanges `coins` for fresh coins of the same value.
    pub fn exchange(&self, coins: &[Coin]) -> Result<Vec<Coin>, Refused> {
        let pending = self.blind(self.value_of(coins));
        let req = ExchangeRequest {
            request_id: Fixed(random32()),
            coins: coins.to_vec(),
            outputs: pending
                .iter()
                .map(|p| p.blinded.clone())
                .collect::<Vec<BlindedCoin>>(),
        };
        let sigs: BlindSignatures = self.post("/exchange", &req)?;
        Ok(self.finalize(&pending, &sigs))
    }

    pub fn spent(&self, coins: &[Coin]) -> Vec<bool> {
        let r: CoinStateResponse = self
            .post(
                "/coins/state",
                &CoinStateRequest {
                    serials: coins.iter().map(|c| c.serial).collect(),
                },
            )
            .expect("state");
        r.spent
    }
}

pub fn serials(coins: &[Coin]) -> Vec<B32> {
    coins.iter().map(|c| c.serial).collect()
}

impl Mint {
    /// The server's log so far (stderr: tracing and the access log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again after a kill or stop, on the same data dir (new port).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "mint still running");
        let (child, url) = spawn(self.dir.path(), &self.args);
        self.child = Some(child);
        self.url = url;
    }
}

impl Client {
    /// A counter from `/metrics` (the mint must run with `--metrics`).
    pub fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .expect("GET /metrics")
            .text()
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
    }
}

/// How many orders the demo shop has stored.
pub fn shop_orders(mint: &Mint) -> u64 {
    let db = rusqlite::Connection::open(mint.data_dir().join("shop/shop.db")).expect("shop db");
    db.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get::<_, i64>(0))
        .expect("count") as u64
}

/// Runs the mint binary with `args` on a fresh data dir and expects it to
/// refuse to start; returns what it printed.
pub fn refuses_to_start(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(mint_bin())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--web-dir", "/nonexistent", "--max-denomination-exp", "2"])
        .args(args)
        .output()
        .expect("run mint-server");
    assert!(!out.status.success(), "mint-server started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
