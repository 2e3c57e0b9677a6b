//! Envelopes, key sets, golden canonical bytes, and property tests of the
//! wire encodings. Native only: proptest does not build for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::OnceLock;

use ecash_core::amount::Denomination;
use ecash_core::blind_rsa;
use ecash_core::canonical::Canonical;
use ecash_core::envelope::{self, EnvelopeError};
use ecash_core::keyset::{KeySetError, RsaPublicKeyData};
use ecash_core::messages::*;
use ecash_core::rsa::PrivateKey;
use ecash_core::{
    Amount, B32, Bytes, Coin, Currency, DenominationKey, Fixed, KeySet, Keypair, Signed,
    VerifiedKeySet,
};
use proptest::prelude::*;

fn bank_key() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| blind_rsa::generate_key(2048).expect("keygen"))
}

fn demo() -> Currency {
    Currency::new("DEMO").expect("currency")
}

#[test]
fn envelope_opens_only_unchanged_and_with_same_aad() {
    let sk = bank_key();
    let pk = sk.to_public_key();
    let aad = [7u8; 32];
    let env = envelope::seal(&pk, b"the coins", &aad).expect("seal");
    assert_eq!(envelope::open(sk, &env, &aad).expect("open"), b"the coins");

    // Every bit of the ciphertext (incl. tag), the nonce, and the key wrap.
    for i in 0..env.ciphertext.0.len() * 8 {
        let mut e = env.clone();
        e.ciphertext.0[i / 8] ^= 1 << (i % 8);
        assert_eq!(
            envelope::open(sk, &e, &aad),
            Err(EnvelopeError::Open),
            "ciphertext bit {i}"
        );
    }
    for i in 0..96 {
        let mut e = env.clone();
        e.nonce.0[i / 8] ^= 1 << (i % 8);
        assert_eq!(
            envelope::open(sk, &e, &aad),
            Err(EnvelopeError::Open),
            "nonce bit {i}"
        );
    }
    // The key wrap: 2048 bits; every 7th bit keeps the test fast, plus both ends.
    for i in (0..env.wrapped_key.0.len() * 8).step_by(7).chain([0, 2047]) {
        let mut e = env.clone();
        e.wrapped_key.0[i / 8] ^= 1 << (i % 8);
        assert_eq!(
            envelope::open(sk, &e, &aad),
            Err(EnvelopeError::Open),
            "key wrap bit {i}"
        );
    }
    // Every bit of the associated data.
    for i in 0..aad.len() * 8 {
        let mut a = aad;
        a[i / 8] ^= 1 << (i % 8);
        assert_eq!(
            envelope::open(sk, &env, &a),
            Err(EnvelopeError::Open),
            "aad bit {i}"
        );
    }
    // Another bank's key, and truncation.
    let other = blind_rsa::generate_key(2048).expect("keygen");
    assert_eq!(envelope::open(&other, &env, &aad), Err(EnvelopeError::Open));
    let mut e = env.clone();
    e.ciphertext.0.truncate(3);
    assert_eq!(envelope::open(sk, &e, &aad), Err(EnvelopeError::Open));
}

fn sample_keyset(master: &Keypair) -> KeySet {
    let enc = RsaPublicKeyData::from_key(&bank_key().to_public_key());
    let d = DenominationKey {
        key_id: enc.key_id(),
        value: Amount::new(demo(), 4),
        public_key: enc.clone(),
        period: 0,
        withdraw_from: 0,
        withdraw_until: 100,
        deposit_until: 200,
    };
    KeySet {
        bank_id: "bank".into(),
        currency: demo(),
        master_public_key: master.public(),
        encryption_key: enc,
        period_secs: 101,
        denominations: vec![d],
        issued_at: 1,
        revoked: vec![],
        offline: vec![],
    }
}

/// A revocation is part of the signed set (dropping or adding one breaks
/// the signature), a revoked key signs no new coin, and a set without
/// revocations hashes as sets did before they existed.
#[test]
fn key_revocations_are_signed_and_stop_withdrawals() {
    use ecash_core::canonical::Canonical;
    use ecash_core::keyset::{KeyRevocation, RevocationReason};
    let master = Keypair::generate().expect("rng");
    let plain = sample_keyset(&master);
    let before = plain.canonical_hash();
    let mut set = plain.clone();
    set.revoked.clear();
    assert_eq!(set.canonical_hash(), before);
    let key_id = set.denominations[0].key_id;
    set.revoked.push(KeyRevocation {
        key_id,
        reason: RevocationReason::Compromised,
        revoked_at: 7,
    });
    assert_ne!(set.canonical_hash(), before);
    let signed = Signed::sign(set, &master);
    let v = VerifiedKeySet::verify(&signed, &master.public()).expect("verifies");
    assert!(v.set.is_revoked(&key_id));
    assert!(v.key(&key_id).is_some(), "still listed, for recoup");
    assert!(
        v.withdraw_keys(50).is_empty(),
        "a revoked key signs nothing"
    );
    let mut dropped = signed.clone();
    dropped.body.revoked.clear();
    assert_eq!(
        VerifiedKeySet::verify(&dropped, &master.public()).err(),
        Some(KeySetError::BadSignature)
    );
    let json = serde_json::to_value(&signed.body).expect("json");
    assert_eq!(json["revoked"][0]["reason"], "compromised");
    let plain_json = serde_json::to_value(&plain).expect("json");
    assert!(plain_json.get("revoked").is_none(), "absent when empty");
}

/// Offline keys are a list of their own in the signed set: signed with it,
/// absent from the encoding when there are none (older sets keep their
/// hashes), never an online key too, and looked up apart.
#[test]
fn offline_keys_are_signed_apart_from_online_keys() {
    let master = Keypair::generate().expect("rng");
    let plain = sample_keyset(&master);
    let before = plain.canonical_hash();
    let sk = blind_rsa::generate_key(2048).expect("keygen");
    let pk = RsaPublicKeyData::from_key(&sk.to_public_key());
    let mut set = plain.clone();
    set.offline.push(DenominationKey {
        key_id: pk.key_id(),
        public_key: pk,
        ..plain.denominations[0].clone()
    });
    assert_ne!(set.canonical_hash(), before);
    // Revocations and offline keys never read as one another.
    let mut revoked_only = plain.clone();
    revoked_only
        .revoked
        .push(ecash_core::keyset::KeyRevocation {
            key_id: set.offline[0].key_id,
            reason: ecash_core::keyset::RevocationReason::Compromised,
            revoked_at: 1,
        });
    assert_ne!(revoked_only.canonical_hash(), set.canonical_hash());
    let signed = Signed::sign(set.clone(), &master);
    let v = VerifiedKeySet::verify(&signed, &master.public()).expect("verifies");
    let off = set.offline[0].key_id;
    assert!(v.offline_key(&off).is_some() && v.key(&off).is_none());
    assert!(v.offline_key(&set.denominations[0].key_id).is_none());
    assert_eq!(v.offline_withdraw_keys(50).len(), 1);
    assert!(v.withdraw_keys(50).values().all(|k| k.info.key_id != off));
    let mut dropped = signed.clone();
    dropped.body.offline.clear();
    assert_eq!(
        VerifiedKeySet::verify(&dropped, &master.public()).err(),
        Some(KeySetError::BadSignature)
    );
    // The online key listed offline too: it would sign both kinds of coin.
    let mut both = plain.clone();
    both.offline.push(both.denominations[0].clone());
    assert!(matches!(
        VerifiedKeySet::verify(&Signed::sign(both, &master), &master.public()),
        Err(KeySetError::DuplicateKey(_))
    ));
    // Two offline keys of one value and period.
    let mut two = set.clone();
    two.offline.push(plain.denominations[0].clone());
    two.denominations.clear();
    assert!(matches!(
        VerifiedKeySet::verify(&Signed::sign(two, &master), &master.public()),
        Err(KeySetError::DuplicatePeriod { .. })
    ));
    let json = serde_json::to_value(&plain).expect("json");
    assert!(json.get("offline").is_none(), "absent when empty");
}

#[test]
fn key_set_verification() {
    let master = Keypair::generate().expect("rng");
    let signed = Signed::sign(sample_keyset(&master), &master);
    let v = VerifiedKeySet::verify(&signed, &master.public()).expect("verifies");
    assert_eq!(v.keys.len(), 1);
    assert_eq!(v.withdraw_keys(50).len(), 1);
    assert!(v.withdraw_keys(150).is_empty());

    // Wrong pinned master key.
    let other = Keypair::generate().expect("rng");
    assert!(matches!(
        VerifiedKeySet::verify(&signed, &other.public()),
        Err(KeySetError::WrongMasterKey { .. })
    ));
    // Signed by another key but naming the pinned one.
    let forged = Signed {
        body: signed.body.clone(),
        signature: other.sign(&signed.body),
    };
    assert_eq!(
        VerifiedKeySet::verify(&forged, &master.public()).err(),
        Some(KeySetError::BadSignature)
    );
    // A key added after signing.
    let mut added = signed.clone();
    added
        .body
        .denominations
        .push(added.body.denominations[0].clone());
    assert_eq!(
        VerifiedKeySet::verify(&added, &master.public()).err(),
        Some(KeySetError::BadSignature)
    );
    // A key id that does not match its key, even when properly signed.
    let mut bad = sample_keyset(&master);
    bad.denominations[0].key_id = B32::default();
    let bad = Signed::sign(bad, &master);
    assert!(matches!(
        VerifiedKeySet::verify(&bad, &master.public()),
        Err(KeySetError::KeyIdMismatch(_))
    ));
    // One key listed twice (under another value): a map of the keys would
    // hide one of the two entries from every check that walks it.
    let mut bad = sample_keyset(&master);
    let mut twice = bad.denominations[0].clone();
    twice.value.value = 8;
    bad.denominations.push(twice);
    let bad = Signed::sign(bad, &master);
    assert!(matches!(
        VerifiedKeySet::verify(&bad, &master.public()),
        Err(KeySetError::DuplicateKey(_))
    ));
    // A value that is not a power of two.
    let mut bad = sample_keyset(&master);
    bad.denominations[0].value.value = 3;
    let bad = Signed::sign(bad, &master);
    assert!(matches!(
        VerifiedKeySet::verify(&bad, &master.public()),
        Err(KeySetError::BadDenomination(_))
    ));
    // A tiny RSA key.
    let mut bad = sample_keyset(&master);
    bad.encryption_key = RsaPublicKeyData {
        n: Bytes(vec![0xc5; 64]),
        e: Bytes(vec![1, 0, 1]),
    };
    let bad = Signed::sign(bad, &master);
    assert!(matches!(
        VerifiedKeySet::verify(&bad, &master.public()),
        Err(KeySetError::BadRsaKey(_))
    ));
}

fn sample_info() -> PaymentInfo {
    PaymentInfo {
        bank_id: "b".into(),
        amount: Amount::new(demo(), 12),
        ncoins: 2,
        timestamp: 1_700_000_000,
        merchant_bank_id: "b".into(),
        merchant_acc_id: "m".into(),
        payreq_id: "p1".into(),
        description_hash: Fixed([0x11; 32]),
        payer_code_hash: Fixed([0x22; 32]),
        goods_key_hash: None,
    }
}

#[test]
fn golden_bytes_of_protocol_messages() {
    // If one of these changes, every stored signature and hash changes with it:
    // bump the domain prefix (ecash/v1) instead of editing these.
    let info = sample_info();
    assert_eq!(
        hex::encode(info.canonical_bytes()),
        concat!(
            "00000015",
            "65636173682f76312f7061796d656e742d696e666f", // "ecash/v1/payment-info"
            "00000001",
            "62", // bank_id
            "00000004",
            "44454d4f",
            "000000000000000c", // amount DEMO 12
            "00000002",         // ncoins
            "000000006553f100", // timestamp
            "00000001",
            "62",
            "00000001",
            "6d",
            "00000002",
            "7031", // merchant bank, acc, payreq id
            "1111111111111111111111111111111111111111111111111111111111111111",
            "2222222222222222222222222222222222222222222222222222222222222222",
        )
    );
    let coin = Coin {
        key_id: Fixed([1; 32]),
        serial: Fixed([2; 32]),
        msg_prefix: Fixed([3; 32]),
        signature: Bytes(vec![4, 5]),
    };
    assert_eq!(
        hex::encode(coin.canonical_bytes()),
        format!(
            "0000000d{}{}{}{}0000000204 05",
            hex::encode("ecash/v1/coin"),
            "01".repeat(32),
            "02".repeat(32),
            "03".repeat(32)
        )
        .replace(' ', "")
    );
    assert_eq!(
        hex::encode(info.canonical_hash()),
        hex::encode(ecash_core::canonical::sha256(&info.canonical_bytes()))
    );
    // A goods key hash is appended, and only when present: payments made
    // before it keep their bytes (above).
    let with_key = PaymentInfo {
        goods_key_hash: Some(Fixed([0x33; 32])),
        ..info.clone()
    };
    let mut expected = info.canonical_bytes();
    expected.extend_from_slice(&[0x33; 32]);
    assert_eq!(with_key.canonical_bytes(), expected);
    assert_ne!(with_key.canonical_hash(), info.canonical_hash());
    // Different types never share bytes: same fields, other domain.
    let q = AccountQuery {
        account_id: "x".into(),
        timestamp: 5,
    };
    assert!(q.canonical_bytes().starts_with(&[0, 0, 0, 22]));
}

#[test]
fn json_uses_base64url_for_binary_fields() {
    let coin = Coin {
        key_id: Fixed([0xfb; 32]),
        serial: Fixed([0; 32]),
        msg_prefix: Fixed([0; 32]),
        signature: Bytes(vec![0xff]),
    };
    let json = serde_json::to_value(&coin).expect("json");
    assert_eq!(json["signature"], "_w");
    assert!(json["key_id"].as_str().expect("str").starts_with("-_v7"));
}

fn arb_b32() -> impl Strategy<Value = B32> {
    any::<[u8; 32]>().prop_map(Fixed)
}

fn arb_coin() -> impl Strategy<Value = Coin> {
    (
        arb_b32(),
        arb_b32(),
        arb_b32(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(key_id, serial, msg_prefix, sig)| Coin {
            key_id,
            serial,
            msg_prefix,
            signature: Bytes(sig),
        })
}

fn arb_info() -> impl Strategy<Value = PaymentInfo> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        "[a-zA-Z0-9 ]{0,20}",
        arb_b32(),
        arb_b32(),
        proptest::option::of(arb_b32()),
    )
        .prop_map(|(value, ncoins, timestamp, s, d, p, g)| PaymentInfo {
            bank_id: s.clone(),
            amount: Amount::new(demo(), value),
            ncoins,
            timestamp,
            merchant_bank_id: s.clone(),
            merchant_acc_id: s.chars().rev().collect(),
            payreq_id: s,
            description_hash: d,
            payer_code_hash: p,
            goods_key_hash: g,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn coin_json_round_trips(coin in arb_coin()) {
        let json = serde_json::to_string(&coin).expect("ser");
        prop_assert_eq!(serde_json::from_str::<Coin>(&json).expect("de"), coin);
    }

    #[test]
    fn payment_info_json_round_trips_and_hash_is_stable(info in arb_info()) {
        let json = serde_json::to_string(&info).expect("ser");
        let back: PaymentInfo = serde_json::from_str(&json).expect("de");
        prop_assert_eq!(back.canonical_hash(), info.canonical_hash());
        prop_assert_eq!(back, info);
    }

    #[test]
    fn distinct_infos_have_distinct_canonical_bytes(a in arb_info(), b in arb_info()) {
        prop_assume!(a != b);
        prop_assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&data);
        let _ = serde_json::from_slice::<Coin>(&data);
        let _ = serde_json::from_str::<Signed<Deposit>>(&text);
        let _ = serde_json::from_str::<WithdrawRequest>(&text);
        let _ = serde_json::from_str::<ExchangeRequest>(&text);
        let _ = serde_json::from_str::<ecash_core::SignedKeySet>(&text);
        let _ = serde_json::from_str::<Denomination>(&text);
        let _ = B32::from_b64(&text);
    }

    #[test]
    fn garbage_in_json_fields_is_an_error_not_a_panic(s in "\\PC{0,80}", n in any::<i64>()) {
        let v = serde_json::json!({"key_id": s, "serial": n, "msg_prefix": s, "signature": s});
        let _ = serde_json::from_value::<Coin>(v);
        let v = serde_json::json!({"currency": s, "value": n});
        let _ = serde_json::from_value::<Amount>(v);
    }
}
