//! Every seed and every saved crash input, through every target: the seeds
//! are valid (they reach past the checks they are made to pass), and no
//! input that once crashed a target crashes it again.

use std::path::Path;
use std::sync::OnceLock;

use ecash_core::messages::*;
use ecash_fuzz::harness::Harness;
use ecash_fuzz::{corpus, targets};

/// One harness for both tests: its mint keys are made once, not raced for.
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(Harness::new)
}

#[test]
fn seeds_are_valid_messages_for_every_target() {
    let h = harness();
    let seeds = corpus::seeds(h);
    for t in targets::TARGETS {
        assert!(
            seeds.get(t).is_some_and(|s| !s.is_empty()),
            "no seeds for target {t}"
        );
    }
    let first = |t: &str| seeds[t][0].clone();
    // Each passes what it was made to pass.
    let r: ecash_core::Signed<RegisterAccount> =
        serde_json::from_slice(&first("register")).expect("json");
    h.bank.register(&r).expect("register seed is accepted");
    let w: ecash_core::Signed<WithdrawRequest> =
        serde_json::from_slice(&first("withdraw")).expect("json");
    h.bank.withdraw(&w).expect("withdraw seed is accepted");
    let d: ecash_core::Signed<Deposit> = serde_json::from_slice(&first("deposit")).expect("json");
    h.bank.deposit(&d).expect("deposit seed is accepted");
    let x: ExchangeRequest = serde_json::from_slice(&first("exchange")).expect("json");
    h.bank.exchange(&x).expect("exchange seed is accepted");
    let s: ecash_core::SignedKeySet = serde_json::from_slice(&first("keyset")).expect("json");
    ecash_core::VerifiedKeySet::verify(&s, &h.keys.set.master_public_key)
        .expect("key set seed verifies");
    let text = String::from_utf8(first("token")).expect("utf8");
    wallet_wasm::token::decode(&text).expect("token seed decodes");
    let a: PaymentResponse = serde_json::from_slice(&first("payment_answer")).expect("json");
    wallet_wasm::wallet::answers::check_ack(
        &a,
        &h.keys.set.master_public_key,
        &a.deposit_ack.body.payment_id,
        &h.payreq,
    )
    .expect("answer seed's ack verifies");
    // And none crashes its target.
    for (t, files) in &seeds {
        for f in files {
            targets::run(h, t, f);
        }
    }
}

#[test]
fn saved_crashes_stay_fixed() {
    let h = harness();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut n = 0;
    for t in targets::TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(t)) else {
            continue;
        };
        for e in entries {
            let path = e.expect("entry").path();
            let data = std::fs::read(&path).expect("read");
            targets::run(h, t, &data);
            n += 1;
        }
    }
    println!("{n} saved crash inputs replayed");
}
