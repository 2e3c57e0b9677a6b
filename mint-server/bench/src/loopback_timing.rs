//! Times one withdraw of 64 coins and one deposit of 8 coins against a real
//! mint on loopback, with the client-side work (blinding, finalizing) timed
//! apart from the request. A reference is measured in the same run: the
//! mint's own per-coin blind-sign cost on this machine, so the figures read as
//! ratios too. Prints JSON.
//!
//! Run: `cargo build --release -p mint-server -p mint-bench && ./target/release/loopback-timing`

use std::time::Instant;

use ecash_core::coin::PendingCoin;
use ecash_core::messages::WithdrawRequest;
use ecash_core::{Fixed, Signed, blind_rsa};
use ecash_testkit::{MintProc, now, random32};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let mint = MintProc::start(&[]);
    let c = mint.client();
    let alice = c.register("client");
    let shop = c.register("merchant");
    c.faucet(&alice, 100_000);

    // 64 coins of value 1 (one key, so the figure is per-coin signing cost).
    let wk = c.keys.withdraw_keys(now());
    let one = wk
        .values()
        .find(|k| k.info.value.value == 1)
        .ok_or("no 1-coin key")?;
    let t = Instant::now();
    let pending: Vec<PendingCoin> = (0..64)
        .map(|_| PendingCoin::new_random(one.info.key_id, &one.key))
        .collect::<Result<_, _>>()?;
    let blind_ms = t.elapsed().as_secs_f64() * 1e3;
    let req = Signed::sign(
        WithdrawRequest {
            account_id: alice.id.clone(),
            request_id: Fixed(random32()),
            amount: c.amount(64),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: now(),
        },
        &alice.key,
    );
    let t = Instant::now();
    let sigs = c.block_on(c.bank.withdraw(&req))?;
    let withdraw_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let coins = pending
        .iter()
        .zip(&sigs.blind_signatures)
        .map(|(p, s)| p.finalize(&one.key, &s.0))
        .collect::<Result<Vec<_>, _>>()?;
    let finalize_ms = t.elapsed().as_secs_f64() * 1e3;

    // Deposit of 8 coins.
    let (payment, _) = c.payment(&coins[..8], &shop.id, "timing", "timing");
    let t = Instant::now();
    c.deposit(&shop, &payment)?;
    let deposit_ms = t.elapsed().as_secs_f64() * 1e3;

    // Reference in the same run: raw blind-sign cost per coin in this process.
    let sk = blind_rsa::generate_key(2048)?;
    let msgs: Vec<_> = (0..64)
        .map(|_| PendingCoin::new_random(Fixed([0; 32]), &sk.to_public_key()))
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    for m in &msgs {
        blind_rsa::blind_sign(&sk, &m.blinded.blinded_msg.0)?;
    }
    let sign64_ms = t.elapsed().as_secs_f64() * 1e3;

    println!(
        "{}",
        serde_json::json!({
            "withdraw_64_ms": (withdraw_ms * 10.0).round() / 10.0,
            "withdraw_64_vs_raw_sign_64": (withdraw_ms / sign64_ms * 100.0).round() / 100.0,
            "client_blind_64_ms": (blind_ms * 10.0).round() / 10.0,
            "client_finalize_verify_64_ms": (finalize_ms * 10.0).round() / 10.0,
            "deposit_8_ms": (deposit_ms * 10.0).round() / 10.0,
            "raw_sign_64_ms": (sign64_ms * 10.0).round() / 10.0,
        })
    );
    Ok(())
}
