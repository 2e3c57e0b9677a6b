//! The fuzz targets: one per decoder that takes outside bytes, and signed
//! wrappers (`*_body`, `deposit_payment`, `deposit_plaintext`,
//! `deposit_coins`) where the harness signs or seals the fuzzed bytes so
//! they reach the code behind the signature and envelope checks.
//!
//! A target fails (panics, which AFL records as a crash) when the code
//! under test panics, or breaks a property that must hold for any input:
//! the bank answers bad input with a 4xx, never a server error; what
//! verifies keeps its promises; encodings round-trip exactly.

use ecash_core::canonical::Canonical;
use ecash_core::keyset::{SeenKeys, SignedKeySet};
use ecash_core::messages::*;
use ecash_core::spent::{SpentList, SpentListHeader};
use ecash_core::{
    Amount, B32, BlindedCoin, Bytes, Coin, Currency, Denomination, Fixed, PublicKey, Signature,
    Signed, VerifiedKeySet,
};
use mint_server::bank::BankResult;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::harness::{Harness, unix_now};

/// Every target, by name.
pub const TARGETS: &[&str] = &[
    "register",
    "withdraw",
    "withdraw_body",
    "deposit",
    "deposit_payment",
    "deposit_plaintext",
    "deposit_coins",
    "exchange",
    "coin_state",
    "proof",
    "restore",
    "faucet",
    "keyset",
    "keyset_body",
    "spent_list",
    "spent_list_body",
    "token",
    "payreq",
    "payment_answer",
    "blind_signatures",
    "encodings",
];

/// Runs `target` on `data`. Unknown names are refused, so a typo in a
/// script cannot fuzz nothing.
pub fn run(h: &Harness, target: &str, data: &[u8]) {
    match target {
        "register" => json(data, |r: Signed<RegisterAccount>| bank(h.bank.register(&r))),
        "withdraw" => json(data, |r: Signed<WithdrawRequest>| bank(h.bank.withdraw(&r))),
        "withdraw_body" => json(data, |b: WithdrawRequest| {
            bank(h.bank.withdraw(&Signed::sign(b, &h.payer.0)))
        }),
        "deposit" => json(data, |d: Signed<Deposit>| deposit(h, &d)),
        "deposit_payment" => json(data, |p: Payment| deposit(h, &h.merchant_deposit(p))),
        "deposit_plaintext" => {
            let p = h.seal(h.payment_info(1, 1), data);
            deposit(h, &h.merchant_deposit(p));
        }
        "deposit_coins" => json(data, |coins: Vec<Coin>| {
            let value: u64 = coins
                .iter()
                .filter_map(|c| h.keys.key(&c.key_id))
                .map(|k| k.info.value.value)
                .fold(0u64, u64::saturating_add);
            let info = h.payment_info(value.max(1), coins.len() as u32);
            let bundle = CoinBundle {
                payment_info_hash: Fixed(info.canonical_hash()),
                coins,
            };
            let plain = serde_json::to_vec(&bundle).unwrap_or_default();
            deposit(h, &h.merchant_deposit(h.seal(info, &plain)));
        }),
        "exchange" => json(data, |r: ExchangeRequest| bank(h.bank.exchange(&r))),
        "coin_state" => json(data, |r: CoinStateRequest| {
            let n = r.coins.len();
            if let Ok(a) = answered(h.bank.coin_state(&r)) {
                assert_eq!(a.spent.len(), n, "one flag per serial");
            }
        }),
        "proof" => json(data, |r: ProofRequest| {
            if let Ok(p) = answered(h.bank.proof(&r)) {
                p.verify(&h.keys.set.master_public_key)
                    .expect("a proof the bank gives verifies");
            }
        }),
        "restore" => json(data, |r: RestoreRequest| {
            let n = r.blinded.len();
            if let Ok(a) = answered(h.bank.restore(&r)) {
                assert_eq!(a.blind_signatures.len(), n, "one answer per blinded coin");
            }
        }),
        "faucet" => json(data, |r: FaucetRequest| bank(h.bank.faucet(&h.payer.1, &r))),
        "keyset" => json(data, |s: SignedKeySet| {
            key_set(&s, &h.keys.set.master_public_key)
        }),
        "keyset_body" => json(data, |body: ecash_core::KeySet| {
            let master = &h.bank.keys().master;
            key_set(&Signed::sign(body, master), &master.public());
        }),
        "spent_list" => json(data, |l: SpentList| {
            let key = l.header.body.key_id;
            let _ = l.verify(&h.keys.set.master_public_key, &key);
        }),
        "spent_list_body" => {
            let header = SpentListHeader {
                key_id: Fixed([1; 32]),
                count: (data.len() / 8) as u64,
                built_at: 0,
                digest: Fixed(ecash_core::canonical::sha256(data)),
            };
            let master = &h.bank.keys().master;
            let list = SpentList {
                header: Signed::sign(header, master),
                fingerprints: Bytes(data.to_vec()),
            };
            if let Ok(set) = list.verify(&master.public(), &Fixed([1; 32])) {
                assert_eq!(set.len() * 8, data.len());
                for c in data.chunks_exact(8) {
                    let mut s = [0u8; 32];
                    s[..8].copy_from_slice(c);
                    assert!(set.contains(&Fixed(s)), "a listed fingerprint is found");
                }
            }
        }
        "token" => {
            if let Ok(text) = std::str::from_utf8(data)
                && let Ok(t) = wallet_wasm::token::decode(text)
            {
                assert!(!t.coins.is_empty());
                wallet_wasm::links::web_url(&t.bank_url)
                    .expect("a decoded token's bank URL passes");
            }
        }
        "payreq" => payreq(h, data),
        "payment_answer" => json(data, |r: PaymentResponse| {
            use wallet_wasm::wallet::answers;
            let pid = r.deposit_ack.body.payment_id;
            let _ = answers::check_ack(&r, &h.keys.set.master_public_key, &pid, &h.payreq);
            let a = answers::check_answer(&r, &pid, &h.payreq, "https://shop.example");
            if let Some(u) = &a.fulfillment_url {
                assert!(
                    u.starts_with("https://shop.example/"),
                    "a kept link leaves the shop's origin: {u}"
                );
            }
        }),
        "blind_signatures" => json(data, |a: BlindSignatures| {
            for (p, s) in h.answered_coins().iter().zip(&a.blind_signatures) {
                if let Some(k) = h.keys.key(&p.key_id)
                    && let Ok(coin) = p.finalize(&k.key, &s.0)
                {
                    coin.verify(&k.key).expect("a finalized coin verifies");
                }
            }
        }),
        "encodings" => encodings(data),
        other => panic!("no fuzz target {other:?}; targets: {TARGETS:?}"),
    }
}

/// Decodes JSON of `T` and runs `f` on it; anything else is a refusal.
fn json<T: DeserializeOwned>(data: &[u8], f: impl FnOnce(T)) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        f(v)
    }
}

/// Bad input must get a 4xx, never a server error.
fn answered<T>(r: BankResult<T>) -> BankResult<T> {
    if let Err(e) = &r {
        assert!(
            e.code().http_status() < 500,
            "bad input got a server error: {e:?}"
        );
    }
    r
}

fn bank<T>(r: BankResult<T>) {
    let _ = answered(r);
}

/// A deposit: refused with a 4xx, or answered with an ack the bank signed.
fn deposit(h: &Harness, d: &Signed<Deposit>) {
    if let Ok(ack) = answered(h.bank.deposit(d)) {
        ack.verify(&h.keys.set.master_public_key)
            .expect("the bank signs its acks");
        assert_eq!(ack.body.payment_id, d.body.payment.payment_id());
    }
}

/// A key set that verifies keeps the promises a wallet relies on.
fn key_set(s: &SignedKeySet, master: &PublicKey) {
    let Ok(v) = VerifiedKeySet::verify(s, master) else {
        return;
    };
    let mut seen = SeenKeys::default();
    if v.check_seen(&mut seen, 0).is_ok() {
        v.check_seen(&mut seen, 0)
            .expect("the same set again is accepted");
    }
    for t in [0, unix_now(), u64::MAX] {
        // One withdrawable key per value at any moment: no tagging key beside it.
        let per_value = v.withdraw_keys(t);
        let withdrawable = v.keys.values().filter(|k| k.info.can_withdraw(t)).count();
        assert_eq!(
            per_value.len(),
            withdrawable,
            "two keys for one value at {t}"
        );
    }
}

/// A payment request as JSON or as a link, through the wallet's checks.
fn payreq(h: &Harness, data: &[u8]) {
    use wallet_wasm::wallet::answers;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.trim_start().starts_with('{') {
        if let Ok(offer) = answers::offer_from_json(text)
            && answers::check_offer(&h.keys.set, &offer, 0).is_ok()
        {
            for u in [&offer.payreq.pay_url, &offer.payreq.fulfillment_url] {
                let o = wallet_wasm::links::origin(u).expect("checked URLs parse");
                assert_eq!(o, offer.origin, "a checked URL left its origin");
            }
        }
        return;
    }
    if let Ok(u) = wallet_wasm::links::on_origin(text, "https://shop.example") {
        assert!(u.starts_with("https://shop.example/"), "{u}");
    }
    if let Ok(l) = wallet_wasm::links::with_fragment(text, "token", "ecash1x") {
        assert_eq!(
            wallet_wasm::links::fragment_value(l.split_once('#').map_or("", |p| p.1), "token")
                .as_deref(),
            Some("ecash1x")
        );
    }
}

/// Whatever decodes re-encodes to the same value and the same canonical bytes.
fn encodings(data: &[u8]) {
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<T>(data) {
            let again: T = serde_json::from_str(&serde_json::to_string(&v).expect("encodes"))
                .expect("what was decoded decodes again");
            assert_eq!(again, v);
        }
    }
    fn canonical<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Canonical>(
        data: &[u8],
    ) {
        round_trip::<T>(data);
        if let Ok(v) = serde_json::from_slice::<T>(data) {
            let again: T = serde_json::from_str(&serde_json::to_string(&v).expect("encodes"))
                .expect("decodes");
            assert_eq!(again.canonical_bytes(), v.canonical_bytes());
        }
    }
    round_trip::<B32>(data);
    round_trip::<Bytes>(data);
    round_trip::<Currency>(data);
    round_trip::<Amount>(data);
    round_trip::<Denomination>(data);
    round_trip::<PublicKey>(data);
    round_trip::<Signature>(data);
    canonical::<Coin>(data);
    canonical::<BlindedCoin>(data);
    canonical::<PaymentInfo>(data);
    canonical::<PayReq>(data);
    canonical::<ecash_core::KeySet>(data);
    if let Ok(p) = serde_json::from_slice::<Payment>(data) {
        let again: Payment =
            serde_json::from_str(&serde_json::to_string(&p).expect("encodes")).expect("decodes");
        assert_eq!(again.payment_id(), p.payment_id(), "one payment, one id");
    }
}
