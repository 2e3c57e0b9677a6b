//! Blind → sign → finalize → verify inside headless Chromium, proving the
//! browser path of the protocol core. Also reports the per-coin client cost
//! (blind + finalize + verify) measured with `performance.now()`.
//!
//! Run: `make test-wasm` (wasm-pack test --headless --chrome shared).
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

use ecash_core::B32;
use ecash_core::blind_rsa;
use ecash_core::coin::PendingCoin;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

#[wasm_bindgen_test]
fn blind_sign_finalize_verify_in_browser() {
    let sk = blind_rsa::generate_key(2048).expect("keygen in browser");
    let pk = sk.to_public_key();
    const N: usize = 16;
    let mut client_ms = 0.0;
    let mut serials = Vec::new();
    for _ in 0..N {
        let t0 = now_ms();
        let pending = PendingCoin::new_random(B32::default(), &pk).expect("blind");
        let t1 = now_ms();
        let blind_sig = blind_rsa::blind_sign(&sk, &pending.blinded.blinded_msg.0).expect("sign");
        let t2 = now_ms();
        let coin = pending
            .finalize(&pk, &blind_sig)
            .expect("finalize verifies");
        coin.verify(&pk).expect("verify");
        let t3 = now_ms();
        client_ms += (t1 - t0) + (t3 - t2);
        serials.push(coin.serial);

        // A tampered blind signature is refused in the browser too.
        let mut bad = blind_sig.clone();
        bad[7] ^= 1;
        assert!(pending.finalize(&pk, &bad).is_err());
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), N, "every coin has its own serial");
    web_sys::console::log_1(
        &format!(
            "BENCH wasm per-coin client cost (blind+finalize+verify): {:.3} ms over {N} coins",
            client_ms / N as f64
        )
        .into(),
    );
}

/// The wallet's path: a batch of 64 coins blinded with one modular inversion
/// (Montgomery's trick), then each finalized; `finalize` verifies the
/// signature (RFC 9474) before it returns, which is all the wallet does.
/// Reports the per-coin client cost next to the one-by-one figure above
/// (which verifies a second time).
#[wasm_bindgen_test]
fn batch_blinding_cost_in_browser() {
    let sk = blind_rsa::generate_key(2048).expect("keygen in browser");
    let pk = sk.to_public_key();
    const N: usize = 64;
    // Warm up (JIT tiers, allocator) so the figure is the steady state.
    let _ = PendingCoin::new_random_batch(B32::default(), &pk, 4).expect("warm-up");
    let t0 = now_ms();
    let batch = PendingCoin::new_random_batch(B32::default(), &pk, N).expect("batch blind");
    let blind_ms = now_ms() - t0;
    let sigs: Vec<Vec<u8>> = batch
        .iter()
        .map(|p| blind_rsa::blind_sign(&sk, &p.blinded.blinded_msg.0).expect("sign"))
        .collect();
    let t1 = now_ms();
    for (p, s) in batch.iter().zip(&sigs) {
        p.finalize(&pk, s).expect("finalize verifies");
    }
    let finalize_ms = now_ms() - t1;
    web_sys::console::log_1(
        &format!(
            "BENCH wasm per-coin client cost, batch of {N} (blind+finalize+verify): {:.3} ms (blind {:.3}, finalize+verify {:.3})",
            (blind_ms + finalize_ms) / N as f64,
            blind_ms / N as f64,
            finalize_ms / N as f64
        )
        .into(),
    );
}
