//! `--setup clearing`: two certified mints (NetCash), a certifier, and a
//! merchant banking at B. In one run, side by side: 8-coin payments in B's
//! own coins, and in A's coins (B checks them with A's certified keys,
//! deposits them at A, and acks only after A's signed ack). Throughput at
//! `--clients`, then latency with one client, each for both kinds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ecash_core::messages::Deposit;
use ecash_core::{Coin, Signed};
use ecash_testkit::{CertifierProc, SyncBank};
use serde_json::json;

use crate::cpu::Cpu;
use crate::phase::{Phase, run_phase};
use crate::{Args, PAY_COINS, Res, account, blinded, withdraw_request};

/// `n` payments of [`PAY_COINS`] coins of `issuer`'s, to a fresh merchant
/// at `shop_bank`, each signed for deposit there.
fn payments(issuer: &SyncBank, shop_bank: &SyncBank, n: usize) -> Res<Vec<Signed<Deposit>>> {
    let payer = account(issuer);
    let merchant = shop_bank.register("bench shop");
    let needed = n * PAY_COINS;
    let mut coins: Vec<Coin> = Vec::with_capacity(needed);
    while coins.len() < needed {
        let pending = blinded(issuer, (needed - coins.len()).min(256));
        let req = withdraw_request(issuer, &payer, &pending);
        let sigs = issuer.block_on(issuer.bank.withdraw(&req))?;
        coins.extend(issuer.finalize(&pending, &sigs));
    }
    Ok(coins
        .chunks(PAY_COINS)
        .map(|chunk| {
            let (payment, _) = issuer.payment_via(&shop_bank.keys, &merchant.id, chunk);
            Signed::sign(
                Deposit {
                    merchant_acc_id: merchant.id.clone(),
                    payment,
                },
                &merchant.key,
            )
        })
        .collect())
}

/// Deposits `pool`'s payments at `url` from `clients` clients for `seconds`.
fn deposits(
    url: &str,
    master: ecash_core::PublicKey,
    pool: Arc<Vec<Signed<Deposit>>>,
    clients: usize,
    seconds: f64,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let url = url.to_owned();
    run_phase(clients, seconds, move |_, go| {
        let bank = SyncBank::connect(&url, &master);
        let mut p = Phase::on(0);
        while go() {
            let Some(d) = pool.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let t = Instant::now();
            let ack = bank.block_on(bank.bank.deposit(d)).expect("deposit");
            p.latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(ack.body.result, "accepted");
            p.done(PAY_COINS);
        }
        p
    })
}

/// Starts the network, measures, reports.
pub fn measure(args: &Args, flags: &[String]) -> Res<serde_json::Value> {
    eprintln!("starting clearing: a certifier and two certified mints…");
    let fic = CertifierProc::start(&[]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = fic.certified_mint("Mint A", "mint-a", &flags);
    let mut b_flags = flags.clone();
    b_flags.extend(["--settle-every-secs", "86400"]);
    let b = fic.clearing_mint("Mint B", "mint-b", a.url(), &b_flags);
    let n = args.payments.max(4);
    eprintln!("preparing {n} payments in B's coins and {n} in A's…");
    // Fresh clients for each: a connection idle through a long preparation
    // may be closed by the server just as it is used again.
    let mut same = payments(&b.client(), &b.client(), n)?;
    let mut cross = payments(&a.client(), &b.client(), n)?;
    // Each kind: most for throughput, a tenth for the one-client latency.
    let same_latency = Arc::new(same.split_off(n - n / 10));
    let cross_latency = Arc::new(cross.split_off(n - n / 10));
    let clients = args.clients.max(1);
    // Both mints' processes: a cross-mint payment costs A's work too.
    let cpu = Cpu {
        mint: vec![a.proc.ready.pid, b.proc.ready.pid],
    };
    eprintln!("same-mint deposits at B…");
    let same_peak = cpu.measured("same-mint: B's coins deposited at B", || {
        deposits(b.url(), b.master, Arc::new(same), clients, args.seconds)
    });
    eprintln!("cross-mint deposits at B, cleared at A…");
    let cross_peak = cpu.measured("cross-mint: A's coins deposited at B, cleared at A", || {
        deposits(b.url(), b.master, Arc::new(cross), clients, args.seconds)
    });
    eprintln!("latency, one client, both kinds…");
    let lat = args.seconds / 2.0;
    let same_one =
        deposits(b.url(), b.master, same_latency, 1, lat).report("same-mint, one client");
    let cross_one =
        deposits(b.url(), b.master, cross_latency, 1, lat).report("cross-mint, one client");
    let ratio = |x: f64, y: f64| {
        if y > 0.0 {
            (x / y * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    Ok(json!({
        "setup": "clearing",
        "nodes": [a.url(), b.url()],
        "same_mint_deposit": same_peak,
        "cross_mint_deposit": cross_peak,
        "clearing_coins_per_s": f(&cross_peak, "coins_per_s"),
        "cross_to_same_throughput": ratio(f(&cross_peak, "coins_per_s"), f(&same_peak, "coins_per_s")),
        "same_mint_one_client": same_one,
        "cross_mint_one_client": cross_one,
        "cross_to_same_p50_latency": ratio(f(&cross_one, "p50_ms"), f(&same_one, "p50_ms")),
    }))
}
