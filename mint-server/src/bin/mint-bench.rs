//! `mint-bench`: load generator for the mint, through its real HTTP API.
//!
//! Starts a mint on loopback with a fresh data dir (or targets `--url`), then
//! drives `--clients` concurrent clients through withdraw batches of 64 coins,
//! 8-coin payments deposited by a merchant, and a mix of both; then deposits
//! again at half the peak rate for latency. In the same run it measures the
//! machine's raw RSA-2048 signing rate on all cores with OpenSSL and reports
//! the withdraw rate as a ratio of it. Prints one JSON document.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ecash_core::canonical::Canonical;
use ecash_core::coin::PendingCoin;
use ecash_core::messages::*;
use ecash_core::{Amount, Coin, Fixed, Keypair, Signed, SignedKeySet, VerifiedKeySet, envelope};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "mint-bench", about = "Load generator for the e-cash mint")]
struct Args {
    /// Target this mint instead of starting one (it must run with --demo-faucet and a high --faucet-max).
    #[arg(long)]
    url: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Payments prepared for the deposit phases (8 coins each).
    #[arg(long, default_value_t = 4000)]
    payments: usize,
    /// Signer of the mint this tool starts.
    #[arg(long, value_enum, default_value_t = mint_server::signer::SignerKind::Openssl)]
    signer: mint_server::signer::SignerKind,
    /// Seconds for the raw OpenSSL signing reference.
    #[arg(long, default_value_t = 2.0)]
    raw_seconds: f64,
}

const BATCH: usize = 64;
const PAY_COINS: usize = 8;

fn now() -> u64 {
    mint_server::bank::unix_now()
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("OS random numbers");
    b
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The machine's raw RSA-2048 private-key rate with OpenSSL on every core.
fn raw_openssl_rate(seconds: f64) -> f64 {
    let rsa = Arc::new(openssl::rsa::Rsa::generate(2048).expect("OpenSSL keygen"));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..cores())
        .map(|_| {
            let (rsa, stop, count) = (rsa.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut m = vec![0u8; 256];
                m[1..].copy_from_slice(&[0x5a; 255]);
                let mut out = vec![0u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    rsa.private_decrypt(&m, &mut out, openssl::rsa::Padding::NONE)
                        .expect("sign");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    count.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
}

/// The mint process this tool started; killed when dropped.
struct MintProcess {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for MintProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `mint-server` binary that sits next to this one, on a free
/// loopback port with a fresh data dir: a separate process, as in production.
fn start_mint(signer: mint_server::signer::SignerKind) -> (String, MintProcess) {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("own path");
    let bin = exe.with_file_name("mint-server");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --release -p mint-server)",
        bin.display()
    );
    let signer = match signer {
        mint_server::signer::SignerKind::Openssl => "openssl",
        mint_server::signer::SignerKind::Rust => "rust",
    };
    let mut child = std::process::Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args([
            "--demo-faucet",
            "--faucet-max",
            "1000000000000",
            "--max-denomination-exp",
            "10",
            "--web-dir",
            "/nonexistent",
            "--rate-limit",
            "10000000",
            "--rate-burst",
            "10000000",
            "--signer",
            signer,
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(u) = l.strip_prefix("mint-server listening on ") {
                    break u.trim().to_owned();
                }
            }
            _ => panic!("mint-server exited before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (url, MintProcess { child, _dir: dir })
}

struct Bench {
    http: reqwest::blocking::Client,
    url: String,
    keys: VerifiedKeySet,
}

impl Bench {
    fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(&self, path: &str, body: &B) -> R {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status();
        let text = r.text().expect("body");
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).expect("answer")
    }

    fn account(&self) -> (Keypair, String) {
        let key = Keypair::generate().expect("rng");
        let created: AccountCreated = self.post(
            "/accounts",
            &Signed::sign(
                RegisterAccount {
                    public_key: key.public(),
                    label: "bench".into(),
                    timestamp: now(),
                },
                &key,
            ),
        );
        let id = created.account_id;
        let _: AccountStatement = self.post(
            &format!("/accounts/{id}/faucet"),
            &FaucetRequest {
                amount: Amount::new(self.keys.set.currency.clone(), 1_000_000_000_000),
            },
        );
        (key, id)
    }

    /// `n` blinded coins of value 1.
    fn blinded(&self, n: usize) -> Vec<PendingCoin> {
        let k = self.keys.withdraw_keys(now());
        let one = k
            .values()
            .find(|k| k.info.value.value == 1)
            .expect("value-1 key");
        (0..n)
            .map(|_| PendingCoin::new_random(one.info.key_id, &one.key).expect("blind"))
            .collect()
    }

    fn withdraw_request(
        &self,
        key: &Keypair,
        id: &str,
        coins: &[PendingCoin],
    ) -> Signed<WithdrawRequest> {
        Signed::sign(
            WithdrawRequest {
                account_id: id.to_owned(),
                request_id: Fixed(random32()),
                amount: Amount::new(self.keys.set.currency.clone(), coins.len() as u64),
                coins: coins.iter().map(|p| p.blinded.clone()).collect(),
                timestamp: now(),
            },
            key,
        )
    }

    fn payment(&self, coins: &[Coin], merchant: &str) -> Payment {
        let payer_code = random32();
        let info = PaymentInfo {
            bank_id: self.keys.set.bank_id.clone(),
            amount: Amount::new(self.keys.set.currency.clone(), coins.len() as u64),
            ncoins: coins.len() as u32,
            timestamp: now(),
            merchant_bank_id: self.keys.set.bank_id.clone(),
            merchant_acc_id: merchant.to_owned(),
            payreq_id: hex_id(),
            description_hash: description_hash("bench"),
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
        Payment {
            payment_info: info,
            sealed_coins: sealed,
        }
    }
}

fn hex_id() -> String {
    random32()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Latencies (ms) and units done by one phase.
#[derive(Default)]
struct Phase {
    latencies: Vec<f64>,
    coins: usize,
    elapsed: f64,
}

impl Phase {
    fn merge(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        self.coins += other.coins;
    }

    fn report(mut self, name: &str) -> serde_json::Value {
        self.latencies.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            if self.latencies.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            (self.latencies[i] * 100.0).round() / 100.0
        };
        let requests = self.latencies.len();
        json!({
            "phase": name,
            "seconds": (self.elapsed * 100.0).round() / 100.0,
            "requests": requests,
            "coins": self.coins,
            "requests_per_s": (requests as f64 / self.elapsed).round(),
            "coins_per_s": (self.coins as f64 / self.elapsed).round(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
        })
    }
}

/// Runs `clients` threads of `work` until `seconds` pass or work runs out.
fn run_phase<W>(clients: usize, seconds: f64, work: W) -> Phase
where
    W: Fn(usize, &dyn Fn() -> bool) -> Phase + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let work = work.clone();
            std::thread::spawn(move || work(i, &|| Instant::now() < deadline))
        })
        .collect();
    let mut total = Phase::default();
    for t in threads {
        total.merge(t.join().expect("client thread"));
    }
    total.elapsed = t0.elapsed().as_secs_f64();
    total
}

fn main() {
    let args = Args::parse();
    eprintln!(
        "measuring raw OpenSSL RSA-2048 signing on {} cores…",
        cores()
    );
    let raw = raw_openssl_rate(args.raw_seconds);
    let (url, _dir) = match &args.url {
        Some(u) => (u.trim_end_matches('/').to_owned(), None),
        None => {
            eprintln!("starting a mint on loopback (signer {:?})…", args.signer);
            let (u, d) = start_mint(args.signer);
            (u, Some(d))
        }
    };
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(args.clients * 2)
        .build()
        .expect("http client");
    let signed: SignedKeySet = http
        .get(format!("{url}/keys"))
        .send()
        .and_then(|r| r.json())
        .expect("GET /keys");
    let keys = VerifiedKeySet::verify(&signed, &signed.body.master_public_key).expect("key set");
    let bench = Arc::new(Bench {
        http,
        url: url.clone(),
        keys,
    });
    let clients = args.clients.max(1);

    // Withdraw: each client re-sends its own pre-blinded batch of 64 under fresh request ids.
    eprintln!("withdraw phase: {clients} clients × batches of {BATCH}…");
    let accounts: Vec<_> = (0..clients).map(|_| bench.account()).collect();
    let batches: Vec<Vec<PendingCoin>> = (0..clients).map(|_| bench.blinded(BATCH)).collect();
    let shared = Arc::new((accounts, batches));
    let withdraw_work = {
        let (bench, shared) = (bench.clone(), shared.clone());
        move |i: usize, go: &dyn Fn() -> bool| {
            let (key, id) = &shared.0[i];
            let mut p = Phase::default();
            while go() {
                let req = bench.withdraw_request(key, id, &shared.1[i]);
                let t = Instant::now();
                let sigs: BlindSignatures = bench.post("/withdraw", &req);
                p.latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(sigs.blind_signatures.len(), BATCH);
                p.coins += BATCH;
            }
            p
        }
    };
    let withdraw = run_phase(clients, args.seconds, withdraw_work.clone());
    let withdraw_coins_per_s = withdraw.coins as f64 / withdraw.elapsed;

    // Deposit: real coins, sealed into 8-coin payments beforehand (not timed).
    eprintln!("preparing {} payments of {PAY_COINS} coins…", args.payments);
    let (merchant_key, merchant_id) = bench.account();
    let (payer_key, payer_id) = bench.account();
    let mut payments: Vec<Signed<Deposit>> = Vec::with_capacity(args.payments);
    let needed = args.payments * PAY_COINS;
    let mut coins: Vec<Coin> = Vec::with_capacity(needed);
    while coins.len() < needed {
        let n = (needed - coins.len()).min(256);
        let pending = bench.blinded(n);
        let req = bench.withdraw_request(&payer_key, &payer_id, &pending);
        let sigs: BlindSignatures = bench.post("/withdraw", &req);
        let k = bench.keys.key(&pending[0].key_id).expect("key");
        for (p, s) in pending.iter().zip(&sigs.blind_signatures) {
            coins.push(p.finalize(&k.key, &s.0).expect("finalize"));
        }
    }
    for chunk in coins.chunks(PAY_COINS) {
        let payment = bench.payment(chunk, &merchant_id);
        payments.push(Signed::sign(
            Deposit {
                merchant_acc_id: merchant_id.clone(),
                payment,
            },
            &merchant_key,
        ));
    }
    // Each deposit phase spends its own share: half, then a quarter each.
    let mix_pool = payments.split_off(payments.len() / 2);
    let mut mix_pool = mix_pool;
    let half_pool = Arc::new(mix_pool.split_off(mix_pool.len() / 2));
    let mix_pool = Arc::new(mix_pool);
    let payments = Arc::new(payments);
    let exhausted = Arc::new(AtomicBool::new(false));
    let deposit_work = |payments: Arc<Vec<Signed<Deposit>>>, pace: Option<Duration>| {
        let next = Arc::new(AtomicUsize::new(0));
        let (bench, exhausted) = (bench.clone(), exhausted.clone());
        move |_i: usize, go: &dyn Fn() -> bool| {
            let mut p = Phase::default();
            let mut due = Instant::now();
            while go() {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(d) = payments.get(n) else {
                    exhausted.store(true, Ordering::Relaxed);
                    break;
                };
                if let Some(gap) = pace {
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    due += gap;
                }
                let t = Instant::now();
                let ack: Signed<DepositAck> = bench.post("/deposit", d);
                p.latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(ack.body.result, "accepted");
                p.coins += PAY_COINS;
            }
            p
        }
    };
    eprintln!("deposit phase…");
    let deposit = run_phase(clients, args.seconds, deposit_work(payments.clone(), None));
    let peak_payments_per_s = deposit.latencies.len() as f64 / deposit.elapsed;

    eprintln!("mixed phase…");
    let mix = {
        let w = withdraw_work.clone();
        let d = deposit_work(mix_pool.clone(), None);
        let half = clients.div_ceil(2);
        run_phase(clients, args.seconds, move |i, go| {
            if i < half { w(i, go) } else { d(i, go) }
        })
    };

    eprintln!("deposit at half the peak rate…");
    let per_client = (peak_payments_per_s / 2.0 / clients as f64).max(0.001);
    let half = run_phase(
        clients,
        args.seconds,
        deposit_work(
            half_pool.clone(),
            Some(Duration::from_secs_f64(1.0 / per_client)),
        ),
    );

    let out = json!({
        "machine_cores": cores(),
        "mint": url,
        "signer": format!("{:?}", args.signer).to_lowercase(),
        "clients": clients,
        "raw_openssl_rsa2048_signs_per_s": raw.round(),
        "withdraw": withdraw.report("withdraw, batches of 64"),
        "withdraw_ratio_to_raw_openssl": (withdraw_coins_per_s / raw * 1000.0).round() / 1000.0,
        "deposit": deposit.report("pay + deposit, 8-coin payments"),
        "mix": mix.report("half withdraw, half deposit"),
        "deposit_half_peak": half.report("deposit paced at half the peak rate"),
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    if exhausted.load(Ordering::Relaxed) {
        eprintln!(
            "note: a deposit phase ran out of prepared payments before {} s; raise --payments",
            args.seconds
        );
    }
}
