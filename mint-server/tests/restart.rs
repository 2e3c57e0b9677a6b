//! Restart on the same data dir: keys, balances and spent serials survive,
//! and retried requests get their stored answers.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use ecash_core::ErrorCode;
use ecash_core::api;
use ecash_testkit::{MintProc, refused};

#[test]
fn state_survives_a_restart() {
    let mut mint = MintProc::start(&[]);
    let c = mint.client();
    let master = mint.proc.ready.master_public_key.clone();
    assert!(master.is_some());
    let alice = c.register("alice");
    let shop = c.register("shop");
    c.faucet(&alice, 100);
    let (req, pending) = c.withdraw_request(&alice, 40);
    let sigs = c.call::<api::Withdraw>(&(), &req).expect("withdraw");
    let coins = c.finalize(&pending, &sigs);
    let (paid, keep) = coins.split_at(1);
    let (payment, _) = c.payment(paid, &shop.id, "o", "d");
    let ack = c.deposit(&shop, &payment).expect("deposit");
    let key_ids: Vec<_> = c.keys.keys.keys().copied().collect();

    mint.proc.restart();
    assert_eq!(mint.proc.ready.master_public_key, master, "same master key");
    // The key set after the restart verifies against the key pinned before.
    let c = mint.client();
    assert_eq!(c.keys.set.master_public_key, mint.master);
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
    let again = c
        .call::<api::Withdraw>(&(), &req)
        .expect("replayed withdraw");
    assert_eq!(again, sigs);
    assert_eq!(c.deposit(&shop, &payment).expect("replayed deposit"), ack);
    assert_eq!(c.balance(&alice), 60);
    assert_eq!(c.balance(&shop), c.value_of(paid));
    // Coins withdrawn before the restart still work; spent ones still do not.
    let (p2, _) = c.payment(keep, &shop.id, "o2", "d");
    c.deposit(&shop, &p2)
        .expect("old coins deposit after restart");
    let (p3, _) = c.payment(paid, &shop.id, "o3", "d");
    assert_eq!(refused(c.deposit(&shop, &p3)).1, ErrorCode::CoinSpent);
    mint.proc.stop();
    // The database was closed cleanly: no WAL left behind.
    let wal = mint.proc.data_dir().join("bank.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0);
}
