//! Restart on the same data dir: keys, balances and spent serials survive,
//! and retried requests get their stored answers.

mod common;

use common::*;
use ecash_core::ErrorCode;
use ecash_core::messages::BlindSignatures;

#[test]
fn state_survives_a_restart() {
    let mut mint = Mint::start(&[]);
    let c = mint.client();
    let master = c.master;
    let alice = c.register("alice");
    let shop = c.register("shop");
    c.faucet(&alice, 100);
    let (req, pending) = c.withdraw_request(&alice, 40);
    let sigs: BlindSignatures = c.post("/withdraw", &req).expect("withdraw");
    let coins = c.finalize(&pending, &sigs);
    let (paid, keep) = coins.split_at(1);
    let (payment, _) = c.payment(paid, &shop.id, "o", "d");
    let ack = c.deposit(&shop, &payment).expect("deposit");
    let key_ids: Vec<_> = c.keys.keys.keys().copied().collect();

    mint.restart();
    let c = mint.client();
    assert_eq!(c.master, master, "same master key");
    // Every key survives (the set may have grown: keys are made ahead).
    for id in &key_ids {
        assert!(
            c.keys.keys.contains_key(id),
            "key {id:?} lost in the restart"
        );
    }
    assert_eq!(c.balance(&alice), 60);
    assert_eq!(c.balance(&shop), c.value_of(paid));
    assert_eq!(c.spent(paid), vec![true]);
    // Retried requests: stored answers, no second debit or credit.
    let again: BlindSignatures = c.post("/withdraw", &req).expect("replayed withdraw");
    assert_eq!(again, sigs);
    assert_eq!(c.deposit(&shop, &payment).expect("replayed deposit"), ack);
    assert_eq!(c.balance(&alice), 60);
    assert_eq!(c.balance(&shop), c.value_of(paid));
    // Coins withdrawn before the restart still work; spent ones still do not.
    let (p2, _) = c.payment(keep, &shop.id, "o2", "d");
    c.deposit(&shop, &p2)
        .expect("old coins deposit after restart");
    let (p3, _) = c.payment(paid, &shop.id, "o3", "d");
    assert_eq!(
        c.deposit(&shop, &p3).expect_err("spent").error.code,
        ErrorCode::CoinSpent
    );
    mint.stop();
    // The database was closed cleanly: no WAL left behind.
    let wal = mint.data_dir().join("bank.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0);
}
