//! `mint-bench`: load generator for the mint, through its real HTTP API.
//!
//! Starts a mint on loopback with a fresh data dir (or targets `--url`), then
//! drives `--clients` concurrent clients through withdraw batches of 64 coins,
//! 8-coin payments deposited by a merchant, and a mix of both; then deposits
//! again at half the peak rate for latency. In the same run it measures the
//! machine's raw RSA-2048 signing rate on all cores with OpenSSL and reports
//! the withdraw rate as a ratio of it. Prints one JSON document.
//!
//! Run `RUST_LOG=warn` (as `make bench` does): the started mint inherits it,
//! and an access log line per request would cost throughput.

// A benchmark: a request that fails ends the run, saying which.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ecash_core::coin::PendingCoin;
use ecash_core::messages::{Deposit, WithdrawRequest};
use ecash_core::{Coin, Fixed, Signed};
use ecash_testkit::{Account, MintProc, SyncBank, now, random32};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "mint-bench", about = "Load generator for the e-cash mint")]
struct Args {
    /// Target this mint instead of starting one (it must run with
    /// --demo-faucet and a high --faucet-max).
    #[arg(long, requires = "master_key")]
    url: Option<String>,
    /// The master public key of the mint at `--url` (base64url).
    #[arg(long, allow_hyphen_values = true)]
    master_key: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Payments prepared for the deposit phases (8 coins each).
    #[arg(long, default_value_t = 4000)]
    payments: usize,
    /// Signer of the mint this tool starts: openssl or rust.
    #[arg(long, default_value = "openssl")]
    signer: String,
    /// Seconds for the raw OpenSSL signing reference.
    #[arg(long, default_value_t = 2.0)]
    raw_seconds: f64,
}

const BATCH: usize = 64;
const PAY_COINS: usize = 8;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The machine's raw RSA-2048 private-key rate with OpenSSL on every core.
fn raw_openssl_rate(seconds: f64) -> Res<f64> {
    let rsa = Arc::new(openssl::rsa::Rsa::generate(2048)?);
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
                    if rsa
                        .private_decrypt(&m, &mut out, openssl::rsa::Padding::NONE)
                        .is_err()
                    {
                        break;
                    }
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
    Ok(count.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64())
}

/// `n` blinded coins of value 1.
fn blinded(bank: &SyncBank, n: usize) -> Vec<PendingCoin> {
    let k = bank.keys.withdraw_keys(now());
    let one = k
        .values()
        .find(|k| k.info.value.value == 1)
        .expect("a value-1 key");
    (0..n)
        .map(|_| PendingCoin::new_random(one.info.key_id, &one.key).expect("blind"))
        .collect()
}

fn withdraw_request(
    bank: &SyncBank,
    who: &Account,
    coins: &[PendingCoin],
) -> Signed<WithdrawRequest> {
    Signed::sign(
        WithdrawRequest {
            account_id: who.id.clone(),
            request_id: Fixed(random32()),
            amount: bank.amount(coins.len() as u64),
            coins: coins.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: now(),
        },
        &who.key,
    )
}

/// A funded account.
fn account(bank: &SyncBank) -> Account {
    let a = bank.register("bench");
    bank.block_on(bank.bank.faucet(&a.id, bank.amount(1_000_000_000_000)))
        .expect("faucet");
    a
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
        match t.join() {
            Ok(p) => total.merge(p),
            Err(_) => eprintln!("a client thread failed"),
        }
    }
    total.elapsed = t0.elapsed().as_secs_f64();
    total
}

/// The mint to measure: the one `--url` names (its master key given), or
/// one started on loopback for the run (kept alive by the third value).
fn target(args: &Args) -> Res<(String, ecash_core::PublicKey, Option<MintProc>)> {
    if let (Some(u), Some(k)) = (&args.url, &args.master_key) {
        let key =
            ecash_core::B32::from_b64(k).ok_or("--master-key is not 32 bytes of base64url")?;
        let url = u.trim_end_matches('/').to_owned();
        return Ok((url, ecash_core::PublicKey(key), None));
    }
    eprintln!("starting a mint on loopback (signer {})…", args.signer);
    let m = MintProc::start(&[
        "--faucet-max",
        "1000000000000",
        "--rate-limit",
        "10000000",
        "--rate-burst",
        "10000000",
        "--signer",
        &args.signer,
    ]);
    Ok((m.url().to_owned(), m.master, Some(m)))
}

/// `n` deposits of real coins, sealed into payments of [`PAY_COINS`] and
/// signed by a fresh merchant account (made before the clock starts).
fn prepare_payments(bank: &SyncBank, n: usize) -> Res<Vec<Signed<Deposit>>> {
    let merchant = account(bank);
    let payer = account(bank);
    let needed = n * PAY_COINS;
    let mut coins: Vec<Coin> = Vec::with_capacity(needed);
    while coins.len() < needed {
        let pending = blinded(bank, (needed - coins.len()).min(256));
        let req = withdraw_request(bank, &payer, &pending);
        let sigs = bank.block_on(bank.bank.withdraw(&req))?;
        coins.extend(bank.finalize(&pending, &sigs));
    }
    Ok(coins
        .chunks(PAY_COINS)
        .map(|chunk| {
            let (payment, _) = bank.payment(chunk, &merchant.id, &hex_id(), "bench");
            let deposit = Deposit {
                merchant_acc_id: merchant.id.clone(),
                payment,
            };
            Signed::sign(deposit, &merchant.key)
        })
        .collect())
}

fn main() -> Res<()> {
    let args = Args::parse();
    eprintln!(
        "measuring raw OpenSSL RSA-2048 signing on {} cores…",
        cores()
    );
    let raw = raw_openssl_rate(args.raw_seconds)?;
    let (url, master, _mint) = target(&args)?;
    let client = move |url: &str| SyncBank::connect(url, &master);
    let clients = args.clients.max(1);

    // Withdraw: each client re-sends its own pre-blinded batch of 64 under fresh request ids.
    eprintln!("withdraw phase: {clients} clients × batches of {BATCH}…");
    let withdraw_work = {
        let url = url.clone();
        move |_i: usize, go: &dyn Fn() -> bool| {
            let bank = client(&url);
            let who = account(&bank);
            let batch = blinded(&bank, BATCH);
            let mut p = Phase::default();
            while go() {
                let req = withdraw_request(&bank, &who, &batch);
                let t = Instant::now();
                let sigs = bank.block_on(bank.bank.withdraw(&req)).expect("withdraw");
                p.latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(sigs.blind_signatures.len(), BATCH);
                p.coins += BATCH;
            }
            p
        }
    };
    let withdraw_work = Arc::new(withdraw_work);
    let w = withdraw_work.clone();
    let withdraw = run_phase(clients, args.seconds, move |i, go| w(i, go));
    let withdraw_coins_per_s = withdraw.coins as f64 / withdraw.elapsed;

    // Deposit: real coins, sealed into 8-coin payments beforehand (not timed).
    eprintln!("preparing {} payments of {PAY_COINS} coins…", args.payments);
    let mut payments = prepare_payments(&client(&url), args.payments)?;
    // Each deposit phase spends its own share: half, then a quarter each.
    let mut mix_pool = payments.split_off(payments.len() / 2);
    let half_pool = Arc::new(mix_pool.split_off(mix_pool.len() / 2));
    let mix_pool = Arc::new(mix_pool);
    let payments = Arc::new(payments);
    let exhausted = Arc::new(AtomicBool::new(false));
    let deposit_work = |payments: Arc<Vec<Signed<Deposit>>>, pace: Option<Duration>| {
        let next = Arc::new(AtomicUsize::new(0));
        let (url, exhausted) = (url.clone(), exhausted.clone());
        move |_i: usize, go: &dyn Fn() -> bool| {
            let bank = client(&url);
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
                let ack = bank.block_on(bank.bank.deposit(d)).expect("deposit");
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
        "signer": args.signer,
        "clients": clients,
        "raw_openssl_rsa2048_signs_per_s": raw.round(),
        "withdraw": withdraw.report("withdraw, batches of 64"),
        "withdraw_ratio_to_raw_openssl": (withdraw_coins_per_s / raw * 1000.0).round() / 1000.0,
        "deposit": deposit.report("pay + deposit, 8-coin payments"),
        "mix": mix.report("half withdraw, half deposit"),
        "deposit_half_peak": half.report("deposit paced at half the peak rate"),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if exhausted.load(Ordering::Relaxed) {
        eprintln!(
            "note: a deposit phase ran out of prepared payments before {} s; raise --payments",
            args.seconds
        );
    }
    Ok(())
}

fn hex_id() -> String {
    random32()[..8].iter().map(|b| format!("{b:02x}")).collect()
}
