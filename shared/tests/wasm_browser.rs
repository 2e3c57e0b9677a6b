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
