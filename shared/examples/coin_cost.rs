//! Per-coin cost of the protocol's RSA steps, natively, RSA-2048:
//! client (blind, finalize + verify) and bank (blind_sign).
//!
//! Run: `cargo run --release -p ecash-core --example coin_cost [coins]`

use std::time::Instant;

use ecash_core::B32;
use ecash_core::blind_rsa;
use ecash_core::coin::PendingCoin;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    let sk = blind_rsa::generate_key(2048)?;
    let pk = sk.to_public_key();
    let (mut blind, mut sign, mut fin) = (0f64, 0f64, 0f64);
    for _ in 0..n {
        let t0 = Instant::now();
        let p = PendingCoin::new_random(B32::default(), &pk)?;
        let t1 = Instant::now();
        let s = blind_rsa::blind_sign(&sk, &p.blinded.blinded_msg.0)?;
        let t2 = Instant::now();
        let coin = p.finalize(&pk, &s)?;
        coin.verify(&pk)?;
        let t3 = Instant::now();
        blind += (t1 - t0).as_secs_f64();
        sign += (t2 - t1).as_secs_f64();
        fin += (t3 - t2).as_secs_f64();
    }
    // The wallet's path: one batch, one modular inversion for all coins.
    let t0 = Instant::now();
    let batch = PendingCoin::new_random_batch(B32::default(), &pk, n)?;
    let batch_blind = t0.elapsed().as_secs_f64();
    let sigs = batch
        .iter()
        .map(|p| blind_rsa::blind_sign(&sk, &p.blinded.blinded_msg.0))
        .collect::<Result<Vec<_>, _>>()?;
    let t1 = Instant::now();
    for (p, s) in batch.iter().zip(&sigs) {
        p.finalize(&pk, s)?; // finalize verifies (RFC 9474), as in the wallet
    }
    let batch_fin = t1.elapsed().as_secs_f64();
    let ms = |x: f64| x * 1000.0 / n as f64;
    println!(
        "{{\"batch_blind_ms\":{:.3},\"batch_client_total_ms\":{:.3}}}",
        ms(batch_blind),
        ms(batch_blind + batch_fin)
    );
    println!(
        "{{\"coins\":{n},\"blind_ms\":{:.3},\"finalize_verify_ms\":{:.3},\"client_total_ms\":{:.3},\"blind_sign_ms\":{:.3},\"client_to_sign_ratio\":{:.3}}}",
        ms(blind),
        ms(fin),
        ms(blind + fin),
        ms(sign),
        (blind + fin) / sign
    );
    Ok(())
}
