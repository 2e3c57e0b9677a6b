//! `mint-bench`: load generator for the mint, through its real HTTP API.
//!
//! For each setup (`--setup`: a mint on SQLite, one on PostgreSQL, or three
//! nodes of one mint on PostgreSQL), or for the nodes `--url` names, drives
//! `--clients` concurrent clients, spread over the nodes, through withdraw
//! batches of 64 coins, 8-coin payments deposited by a merchant, and a mix
//! of both; then deposits again at half the peak rate for latency.
//! `--setup clearing` starts two certified mints instead and measures
//! payments at B in B's coins and in A's (cleared at A), side by side. In the
//! same run it measures the machine's raw RSA-2048 signing rate on all cores
//! with OpenSSL and reports each rate as a ratio of it, per node and in
//! total. Prints one JSON document.
//!
//! The PostgreSQL setups need a server: run under `scripts/with-postgres.sh`
//! (`make bench-scaling` does).
//!
//! Run `RUST_LOG=warn` (as `make bench` does): the started mint inherits it,
//! and an access log line per request would cost throughput.

// A benchmark: a request that fails ends the run, saying which.
#![allow(clippy::expect_used)]

mod clearing;
mod cpu;
mod offline;
mod phase;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use cpu::Cpu;
use ecash_core::coin::PendingCoin;
use ecash_core::messages::{Deposit, WithdrawRequest};
use ecash_core::{Coin, Fixed, Signed};
use ecash_testkit::{Account, MintProc, PgBooks, SyncBank, now, random32};
use phase::{Phase, run_phase};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "mint-bench", about = "Load generator for the e-cash mint")]
struct Args {
    /// Target these nodes of one mint instead of starting any (comma
    /// separated; they must run with --demo-faucet and a high --faucet-max).
    #[arg(long, requires = "master_key", value_delimiter = ',')]
    url: Vec<String>,
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
    /// Mints to start and measure, one after another (comma separated):
    /// sqlite, postgres (one node), postgres-3 (three nodes, one database).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite")]
    setup: Vec<Setup>,
    /// Offline coins the offline setup withdraws, spends and deposits (at most 64).
    #[arg(long, default_value_t = 32)]
    offline_coins: usize,
}

/// A mint this tool starts.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Setup {
    /// One node, SQLite in its data dir.
    Sqlite,
    /// One node on PostgreSQL.
    Postgres,
    /// Three nodes of one mint on one PostgreSQL database.
    #[value(name = "postgres-3")]
    Postgres3,
    /// Two certified mints on SQLite: payments at B in B's coins and in
    /// A's (cleared at A), side by side.
    Clearing,
    /// One mint with offline (CAFE) keys: the costs of one offline coin.
    Offline,
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

/// Nodes this tool started for a setup, kept running while it is measured.
struct Started {
    nodes: Vec<MintProc>,
    _books: Option<PgBooks>,
}

/// The flags of every mint this tool starts.
fn mint_flags(signer: &str) -> Vec<String> {
    [
        "--faucet-max",
        "1000000000000",
        "--rate-limit",
        "10000000",
        "--rate-burst",
        "10000000",
        "--signer",
        signer,
    ]
    .map(String::from)
    .to_vec()
}

/// Starts the mint of `setup`.
fn start(setup: Setup, signer: &str) -> Res<Started> {
    let mut flags = mint_flags(signer);
    let (count, books) = match setup {
        Setup::Sqlite | Setup::Clearing | Setup::Offline => (1, None),
        Setup::Postgres | Setup::Postgres3 => {
            if std::env::var_os("ECASH_TEST_POSTGRES").is_none() {
                return Err("the PostgreSQL setups need a server: run under \
                            scripts/with-postgres.sh (make bench-scaling)"
                    .into());
            }
            let books = PgBooks::new();
            flags.extend(books.args());
            (
                if matches!(setup, Setup::Postgres3) {
                    3
                } else {
                    1
                },
                Some(books),
            )
        }
    };
    eprintln!("starting {setup:?}: {count} node(s), signer {signer}…");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Ok(Started {
        nodes: (0..count).map(|_| MintProc::start(&flags)).collect(),
        _books: books,
    })
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
    let mut setups = Vec::new();
    if let Some(k) = &args.master_key {
        let key =
            ecash_core::B32::from_b64(k).ok_or("--master-key is not 32 bytes of base64url")?;
        let urls: Vec<String> = args
            .url
            .iter()
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect();
        let cpu = Cpu { mint: vec![] };
        setups.push(measure(
            "the nodes given",
            &urls,
            ecash_core::PublicKey(key),
            &args,
            raw,
            &cpu,
        )?);
    } else {
        for setup in &args.setup {
            if matches!(setup, Setup::Clearing) {
                setups.push(clearing::measure(&args, &mint_flags(&args.signer))?);
                continue;
            }
            if matches!(setup, Setup::Offline) {
                setups.push(offline::measure(&args)?);
                continue;
            }
            let started = start(*setup, &args.signer)?;
            let urls: Vec<String> = started.nodes.iter().map(|n| n.url().to_owned()).collect();
            let name = format!("{setup:?}");
            let cpu = Cpu {
                mint: started.nodes.iter().map(|n| n.proc.ready.pid).collect(),
            };
            setups.push(measure(
                &name,
                &urls,
                started.nodes[0].master,
                &args,
                raw,
                &cpu,
            )?);
        }
    }
    // The reference again: a machine that slowed down during the run shows here.
    let raw_after = raw_openssl_rate(args.raw_seconds)?;
    let out = json!({
        "machine_cores": cores(),
        "signer": args.signer,
        "clients": args.clients.max(1),
        "raw_openssl_rsa2048_signs_per_s": raw.round(),
        "raw_openssl_rsa2048_signs_per_s_after": raw_after.round(),
        "setups": setups,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Runs every phase against the nodes at `urls` (clients spread over them).
fn measure(
    name: &str,
    urls: &[String],
    master: ecash_core::PublicKey,
    args: &Args,
    raw: f64,
    cpu: &Cpu,
) -> Res<serde_json::Value> {
    let first = urls.first().ok_or("no node to measure")?.clone();
    let client = move |url: &str| SyncBank::connect(url, &master);
    let clients = args.clients.max(1);
    let urls: Arc<Vec<String>> = Arc::new(urls.to_vec());
    // Withdraw: each client re-sends its own pre-blinded batch of 64 under fresh request ids.
    eprintln!("withdraw phase: {clients} clients × batches of {BATCH}…");
    let withdraw_work = {
        let urls = urls.clone();
        move |i: usize, go: &dyn Fn() -> bool| {
            let node = i % urls.len();
            let bank = client(&urls[node]);
            let who = account(&bank);
            let batch = blinded(&bank, BATCH);
            let mut p = Phase::on(node);
            while go() {
                let req = withdraw_request(&bank, &who, &batch);
                let t = Instant::now();
                let sigs = bank.block_on(bank.bank.withdraw(&req)).expect("withdraw");
                p.latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(sigs.blind_signatures.len(), BATCH);
                p.done(BATCH);
            }
            p
        }
    };
    let withdraw_work = Arc::new(withdraw_work);
    let w = withdraw_work.clone();
    let mut withdraw_coins_per_s = 0.0;
    let withdraw = cpu.measured("withdraw, batches of 64", || {
        let p = run_phase(clients, args.seconds, move |i, go| w(i, go));
        withdraw_coins_per_s = p.coins as f64 / p.elapsed;
        p
    });

    // Deposit: real coins, sealed into 8-coin payments beforehand (not timed).
    eprintln!("preparing {} payments of {PAY_COINS} coins…", args.payments);
    let mut payments = prepare_payments(&client(&first), args.payments)?;
    // Each deposit phase spends its own share: half, then a quarter each.
    let mut mix_pool = payments.split_off(payments.len() / 2);
    let half_pool = Arc::new(mix_pool.split_off(mix_pool.len() / 2));
    let mix_pool = Arc::new(mix_pool);
    let payments = Arc::new(payments);
    let exhausted = Arc::new(AtomicBool::new(false));
    let deposit_work = |payments: Arc<Vec<Signed<Deposit>>>, pace: Option<Duration>| {
        let next = Arc::new(AtomicUsize::new(0));
        let (urls, exhausted) = (urls.clone(), exhausted.clone());
        move |i: usize, go: &dyn Fn() -> bool| {
            let node = i % urls.len();
            let bank = client(&urls[node]);
            let mut p = Phase::on(node);
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
                p.done(PAY_COINS);
            }
            p
        }
    };
    eprintln!("deposit phase…");
    let (mut peak_payments_per_s, mut deposit_coins_per_s) = (0.0, 0.0);
    let deposit = cpu.measured("pay + deposit, 8-coin payments", || {
        let p = run_phase(clients, args.seconds, deposit_work(payments.clone(), None));
        peak_payments_per_s = p.latencies.len() as f64 / p.elapsed;
        deposit_coins_per_s = p.coins as f64 / p.elapsed;
        p
    });

    eprintln!("mixed phase…");
    let mix = {
        let w = withdraw_work.clone();
        let d = deposit_work(mix_pool.clone(), None);
        let half = clients.div_ceil(2);
        cpu.measured("half withdraw, half deposit", || {
            run_phase(clients, args.seconds, move |i, go| {
                if i < half { w(i, go) } else { d(i, go) }
            })
        })
    };

    eprintln!("deposit at half the peak rate…");
    let per_client = (peak_payments_per_s / 2.0 / clients as f64).max(0.001);
    let mut half_report = cpu.measured("deposit paced at half the peak rate", || {
        run_phase(
            clients,
            args.seconds,
            deposit_work(
                half_pool.clone(),
                Some(Duration::from_secs_f64(1.0 / per_client)),
            ),
        )
    });

    let ratio = |coins_per_s: f64| (coins_per_s / raw * 1000.0).round() / 1000.0;

    // The p99 in units of one raw signature's time on this machine.
    let p99 = half_report["p99_ms"].as_f64().unwrap_or(0.0);
    half_report["p99_in_raw_signatures"] = json!((p99 / 1000.0 * raw).round());
    if exhausted.load(Ordering::Relaxed) {
        eprintln!(
            "note: a deposit phase ran out of prepared payments before {} s; raise --payments",
            args.seconds
        );
    }
    Ok(json!({
        "setup": name,
        "nodes": *urls,
        "withdraw": withdraw,
        "withdraw_ratio_to_raw_openssl": ratio(withdraw_coins_per_s),
        "deposit": deposit,
        "deposit_ratio_to_raw_openssl": ratio(deposit_coins_per_s),
        "mix": mix,
        "deposit_half_peak": half_report,
        "ran_out_of_payments": exhausted.load(Ordering::Relaxed),
    }))
}

fn hex_id() -> String {
    random32()[..8].iter().map(|b| format!("{b:02x}")).collect()
}
