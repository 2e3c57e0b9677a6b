//! Blind RSA at the coin level with 2048-bit keys: round trips, the seed's
//! forgery, and every refusal the protocol relies on.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::sync::OnceLock;

use ecash_core::blind_rsa::{self, BlindRsaError, Variant};
use ecash_core::coin::{COIN_VARIANT, PendingCoin};
use ecash_core::rsa::PrivateKey;
use ecash_core::rsa::traits::PublicKeyParts;
use ecash_core::{B32, Bytes, Coin};

fn key(i: usize) -> &'static PrivateKey {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..2)
            .map(|_| blind_rsa::generate_key(2048).expect("keygen"))
            .collect()
    })[i]
}

fn withdraw_one(sk: &PrivateKey) -> Coin {
    let pk = sk.to_public_key();
    let pending = PendingCoin::new_random(B32::default(), &pk).expect("blind");
    let blind_sig = blind_rsa::blind_sign(sk, &pending.blinded.blinded_msg.0).expect("sign");
    pending
        .finalize(&pk, &blind_sig)
        .expect("finalize verifies")
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn round_trip_2048_and_coins_differ() {
    let sk = key(0);
    let pk = sk.to_public_key();
    assert_eq!(pk.size(), 256);
    let a = withdraw_one(sk);
    let b = withdraw_one(sk);
    a.verify(&pk).expect("coin a verifies");
    b.verify(&pk).expect("coin b verifies");
    assert_ne!(a.serial, b.serial);
    assert_ne!(
        a.msg_prefix, b.msg_prefix,
        "randomized prefix differs per coin"
    );
    assert_ne!(a.signature, b.signature);
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn blinded_message_hides_the_coin() {
    // The same serial and prefix blinded twice gives unrelated blinded messages.
    let pk = key(0).to_public_key();
    let input = blind_rsa::prepare(&[1u8; 32], &[2u8; 32], COIN_VARIANT);
    let x = blind_rsa::blind(&pk, &input, COIN_VARIANT).expect("blind");
    let y = blind_rsa::blind(&pk, &input, COIN_VARIANT).expect("blind");
    assert_ne!(x.blinded_msg, y.blinded_msg);
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn deterministic_blinding_is_reproducible() {
    let pk = key(0).to_public_key();
    let r = vec![9u8; pk.size() + 16];
    let a = PendingCoin::new_deterministic(B32::default(), &pk, [1; 32], [2; 32], &[3; 48], &r)
        .expect("a");
    let b = PendingCoin::new_deterministic(B32::default(), &pk, [1; 32], [2; 32], &[3; 48], &r)
        .expect("b");
    assert_eq!(a.blinded, b.blinded);
    assert!(
        PendingCoin::new_deterministic(B32::default(), &pk, [1; 32], [2; 32], &[3; 48], &r[..100])
            .is_err()
    );
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn seed_forgery_by_inverse_relation_is_refused() {
    // Pick R, present S = R^e mod n as the serial and R as its "signature".
    // Without the redundancy function f (PSS) this would verify: S^d = R.
    let pk = key(0).to_public_key();
    for seed in 1u8..=8 {
        let mut r = vec![seed; pk.size()];
        r[0] = 0x01; // below n
        let s = blind_rsa::raw_public_op(&pk, &r).expect("R^e");
        // Raw RSA would accept: (R)^e == S.
        assert_eq!(blind_rsa::raw_public_op(&pk, &r).expect("again"), s);
        // As a coin with S as the message: refused.
        assert_eq!(
            blind_rsa::verify(&pk, &s, &r, COIN_VARIANT),
            Err(BlindRsaError::InvalidSignature)
        );
        // As a coin with any prefix/serial taken from S: refused.
        let coin = Coin {
            key_id: B32::default(),
            serial: B32::from_array(s[..32].try_into().expect("32")),
            msg_prefix: B32::from_array(s[32..64].try_into().expect("32")),
            signature: Bytes(r),
        };
        assert!(coin.verify(&pk).is_err());
    }
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn refusals() {
    let sk = key(0);
    let pk = sk.to_public_key();
    let other = key(1).to_public_key();
    let coin = withdraw_one(sk);

    // Wrong key.
    assert!(coin.verify(&other).is_err());
    // Tampered serial.
    let mut c = coin.clone();
    c.serial.0[0] ^= 1;
    assert!(c.verify(&pk).is_err());
    // Tampered prefix.
    let mut c = coin.clone();
    c.msg_prefix.0[31] ^= 0x80;
    assert!(c.verify(&pk).is_err());
    // Tampered signature.
    let mut c = coin.clone();
    c.signature.0[100] ^= 1;
    assert!(c.verify(&pk).is_err());
    // Signature of wrong length (short, long).
    let mut c = coin.clone();
    c.signature.0.pop();
    assert!(c.verify(&pk).is_err());
    let mut c = coin.clone();
    c.signature.0.insert(0, 0);
    assert!(c.verify(&pk).is_err());
    // Signature >= n.
    let mut c = coin.clone();
    c.signature = Bytes(vec![0xff; pk.size()]);
    assert!(c.verify(&pk).is_err());

    // BlindSign refuses m >= n, m = 0, and wrong lengths.
    let n = pk.n_bytes().to_vec();
    assert_eq!(
        blind_rsa::blind_sign(sk, &n),
        Err(BlindRsaError::OutOfRange)
    );
    assert_eq!(
        blind_rsa::blind_sign(sk, &vec![0xff; pk.size()]),
        Err(BlindRsaError::OutOfRange)
    );
    assert_eq!(
        blind_rsa::blind_sign(sk, &vec![0; pk.size()]),
        Err(BlindRsaError::OutOfRange)
    );
    assert!(matches!(
        blind_rsa::blind_sign(sk, &[1u8; 255]),
        Err(BlindRsaError::WrongLength { .. })
    ));
    assert!(matches!(
        blind_rsa::blind_sign(sk, &[]),
        Err(BlindRsaError::WrongLength { .. })
    ));

    // Finalize refuses a blind signature from the wrong key or a tampered one.
    let pending = PendingCoin::new_random(B32::default(), &pk).expect("blind");
    let good = blind_rsa::blind_sign(sk, &pending.blinded.blinded_msg.0).expect("sign");
    let wrong_key = blind_rsa::blind_sign(key(1), &pending.blinded.blinded_msg.0);
    if let Ok(w) = wrong_key {
        assert!(pending.finalize(&pk, &w).is_err());
    }
    let mut bad = good.clone();
    bad[10] ^= 1;
    assert_eq!(
        pending.finalize(&pk, &bad).err(),
        Some(BlindRsaError::InvalidSignature)
    );
    assert!(pending.finalize(&pk, &good).is_ok());

    // A signature made under one variant does not verify under another.
    assert!(
        blind_rsa::verify(
            &pk,
            &coin.input_msg(),
            &coin.signature.0,
            Variant::PSSZERO_RANDOMIZED
        )
        .is_err()
    );
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn blind_inverse_round_trips_and_is_range_checked() {
    let pk = key(0).to_public_key();
    let b = blind_rsa::blind(&pk, b"m", COIN_VARIANT).expect("blind");
    let bytes = b.inv.to_bytes(&pk);
    let back = blind_rsa::BlindInverse::from_bytes(&pk, &bytes).expect("parse");
    assert_eq!(back.to_bytes(&pk), bytes);
    assert!(blind_rsa::BlindInverse::from_bytes(&pk, &vec![0; pk.size()]).is_err());
    assert!(
        format!("{:?}", b.inv).contains(".."),
        "debug output hides the secret"
    );
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn batch_blinding_equals_one_by_one_and_finalizes() {
    use ecash_core::coin::CoinSecrets;
    let sk = key(0);
    let pk = sk.to_public_key();
    let secrets: Vec<CoinSecrets> = (0..9u8)
        .map(|i| CoinSecrets {
            serial: [i; 32],
            prefix: [i.wrapping_add(1); 32],
            salt: [i.wrapping_add(2); 48],
            r_bytes: (0..pk.size() + 16).map(|j| (j as u8) ^ i).collect(),
        })
        .collect();
    let batch = PendingCoin::new_deterministic_batch(B32::default(), &pk, &secrets).expect("batch");
    assert_eq!(batch.len(), secrets.len());
    for (c, p) in secrets.iter().zip(&batch) {
        let one = PendingCoin::new_deterministic(
            B32::default(),
            &pk,
            c.serial,
            c.prefix,
            &c.salt,
            &c.r_bytes,
        )
        .expect("one");
        assert_eq!(one.blinded, p.blinded, "same blinded message");
        assert_eq!(one.inv.to_bytes(&pk), p.inv.to_bytes(&pk), "same inverse");
        let sig = blind_rsa::blind_sign(sk, &p.blinded.blinded_msg.0).expect("sign");
        p.finalize(&pk, &sig).expect("finalizes and verifies");
    }
    // Random batches: every coin distinct and valid; empty and single batches work.
    let random = PendingCoin::new_random_batch(B32::default(), &pk, 5).expect("random batch");
    let serials: std::collections::BTreeSet<_> = random.iter().map(|p| p.serial).collect();
    assert_eq!(serials.len(), 5);
    assert!(
        PendingCoin::new_random_batch(B32::default(), &pk, 0)
            .expect("empty")
            .is_empty()
    );
    assert_eq!(
        PendingCoin::new_random_batch(B32::default(), &pk, 1)
            .expect("one")
            .len(),
        1
    );
}

/// A recoup's link: the coin's signature blinded again with the factor
/// its coin seed gives is the very blinded message and blind signature of
/// its withdrawal; another seed's factor links to nothing.
#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn reblinding_a_coin_finds_its_withdrawal() {
    use ecash_core::coin::CoinSecrets;
    let sk = key(0);
    let pk = sk.to_public_key();
    let pending = PendingCoin::new_random(B32::default(), &pk).expect("blind");
    let seed = pending.coin_seed.expect("a random coin has a seed").0;
    let blind_sig = blind_rsa::blind_sign(sk, &pending.blinded.blinded_msg.0).expect("sign");
    let coin = pending.finalize(&pk, &blind_sig).expect("finalize");
    let secrets = CoinSecrets::from_coin_seed(&seed, pk.size()).expect("secrets");
    assert_eq!(
        secrets.serial, coin.serial.0,
        "the seed gives the coin's serial"
    );
    let (blinded, sig) =
        blind_rsa::reblind(&pk, &coin.signature.0, &secrets.r_bytes).expect("reblind");
    assert_eq!(blinded, pending.blinded.blinded_msg.0);
    assert_eq!(sig, blind_sig);
    let again = PendingCoin::from_coin_seed(B32::default(), &pk, &seed).expect("again");
    assert_eq!(
        again.blinded, pending.blinded,
        "a seed gives one blinded coin"
    );
    let other = CoinSecrets::from_coin_seed(&[9; 32], pk.size()).expect("secrets");
    let (b2, _) = blind_rsa::reblind(&pk, &coin.signature.0, &other.r_bytes).expect("reblind");
    assert_ne!(b2, pending.blinded.blinded_msg.0);
    assert!(blind_rsa::reblind(&pk, &coin.signature.0, &[0u8; 8]).is_err());
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn a_pending_coin_logs_none_of_its_secrets() {
    let pk = key(0).to_public_key();
    let p = PendingCoin::new_random(B32::default(), &pk).expect("blind");
    let shown = format!("{p:?}");
    let seed = p.coin_seed.expect("made from a coin seed");
    for secret in [seed, p.serial, p.msg_prefix] {
        assert!(!shown.contains(&secret.to_b64()), "{shown}");
    }
    assert!(shown.contains("blinded"), "{shown}");
}
