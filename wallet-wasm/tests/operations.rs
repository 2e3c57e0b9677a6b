//! Every wallet operation against a real mint and shop.
// Native: these start the mint in-process and use SQLite files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeSet;

use common::*;
use ecash_core::{B32, Coin};
use wallet_wasm::records::Event;
use wallet_wasm::store::memory::MemoryStore;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::{Progress, Wallet, WalletError};

fn serials(w: &NativeWallet) -> BTreeSet<B32> {
    w.coins().iter().map(|r| r.coin.serial).collect()
}

#[tokio::test]
async fn withdraw_pay_prove_send_receive_reopen_restore() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, alice_path) = funded(&mint, dir.path(), "alice", 5_000).await;

    // Withdraw with progress.
    let mut events: Vec<Progress> = vec![];
    let mut cb = |p: Progress| events.push(p);
    let done = alice
        .withdraw(1_500, Some(&mut cb))
        .await
        .expect("withdraw");
    assert_eq!(done.amount, 1_500);
    assert!(
        events
            .iter()
            .any(|p| p.phase == "blinding" && p.done == p.total)
    );
    assert!(
        events
            .iter()
            .any(|p| p.phase == "unblinding" && p.done == p.total)
    );
    let bal = alice.balance();
    assert_eq!((bal.total, bal.spendable, bal.reserved), (1_500, 1_500, 0));
    assert_eq!(
        bal.denominations
            .iter()
            .map(|d| d.value * d.count as u64)
            .sum::<u64>(),
        1_500
    );
    assert_eq!(
        alice
            .account_statement()
            .await
            .expect("statement")
            .balance
            .value,
        3_500
    );
    // Every coin verifies under its key in the signed set.
    for r in alice.coins() {
        let key = alice.key_set().key(&r.coin.key_id).expect("key");
        r.coin.verify(&key.key).expect("coin verifies");
    }

    // Withdrawing more than the account holds: refused, nothing changes.
    let before = serials(&alice);
    let e = alice.withdraw(10_000, None).await.expect_err("too much");
    assert_eq!(e.code(), "insufficient_funds");
    assert_eq!(serials(&alice), before);
    assert!(alice.pending().is_empty());

    // Pay the demo shop (the amount needs change from power-of-two coins or not; both paths work).
    let payreq = mint.order("sticker").await;
    let price = payreq.payreq.amount.value;
    let paid = alice.pay(payreq.clone()).await.expect("pay");
    let Event::Paid {
        receipt,
        deposit_ack,
        payment_id,
        ..
    } = &paid.entry.event
    else {
        panic!("not a payment: {:?}", paid.entry)
    };
    assert!(receipt.is_some() && deposit_ack.is_some());
    assert_eq!(alice.balance().total, 1_500 - price);
    // The shop marks the order paid.
    let orders = mint.shop_orders().await;
    let order = orders
        .orders
        .iter()
        .find(|o| o.payreq_id == payreq.payreq.payreq_id)
        .expect("the order is listed");
    assert_eq!(order.state, ecash_core::shop::OrderState::Paid);
    // Paying the same payreq again is refused by the shop; coins come back through reclaim.
    let total_before = alice.balance().total;
    let again = alice.pay(payreq.clone()).await.expect_err("paid already");
    assert_eq!(again.code(), "order_taken", "{again}");
    assert_eq!(
        alice.balance().total,
        total_before,
        "reclaimed coins restore the balance"
    );
    assert!(alice.pending().is_empty());

    // Prove the payment with the payer code.
    let proof = alice.prove_payment(payment_id).await.expect("proof");
    assert_eq!(&proof.body.payment_id, payment_id);
    assert_eq!(proof.body.payment_info.amount.value, price);

    // Send to Bob as a token; Bob receives (exchanged at once).
    let (mut bob, _) = funded(&mint, dir.path(), "bob", 0).await;
    let token = alice.send(37).await.expect("send");
    assert_eq!(alice.balance().total, 1_500 - price - 37);
    assert_eq!(bob.receive(&token).await.expect("receive"), 37);
    assert_eq!(bob.balance().total, 37);
    // The token is now worthless: a third wallet cannot claim it.
    let (mut carol, _) = funded(&mint, dir.path(), "carol", 0).await;
    let e = carol.receive(&token).await.expect_err("already claimed");
    assert_eq!(e.code(), "coin_spent", "{e}");
    assert_eq!(carol.balance().total, 0);
    assert!(carol.pending().is_empty());

    // Bob pays with received coins.
    let order2 = mint.order("sticker").await;
    if bob.balance().total >= order2.payreq.amount.value {
        bob.pay(order2).await.expect("bob pays");
    }

    // Reopen from the SQLite file: same coins, history kept.
    let alice_serials = serials(&alice);
    let history_len = alice.history().len();
    drop(alice);
    let alice = reopen(&mint, &alice_path).await;
    assert_eq!(serials(&alice), alice_serials);
    assert_eq!(alice.history().len(), history_len);
    let phrase = alice.seed_phrase();

    // Restore from seed into an empty store: exactly the unspent coins come back.
    let (restored, report) = mint
        .restore(MemoryStore::new(), &phrase)
        .await
        .expect("restore");
    let restored_serials: BTreeSet<B32> = restored.coins().iter().map(|r| r.coin.serial).collect();
    assert_eq!(restored_serials, alice_serials);
    assert_eq!(report.value, alice.balance().total);
    assert_eq!(restored.account_id(), alice.account_id());
    // A restored wallet keeps counting after the restored coins: new coins never collide.
    let (mut restored, _) = (restored, ());
    restored
        .withdraw(3, None)
        .await
        .expect("withdraw after restore");
    assert_eq!(restored.balance().total, alice.balance().total + 3);
}

#[tokio::test]
async fn exact_change_and_insufficient_funds() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut w, _) = funded(&mint, dir.path(), "w", 1_000).await;
    w.withdraw(64, None).await.expect("withdraw");
    assert_eq!(w.coins().len(), 1, "64 is one coin");
    // 5 needs change from the 64 coin.
    let token = w.send(5).await.expect("send with change");
    assert_eq!(w.balance().total, 59);
    assert!(
        w.history()
            .iter()
            .any(|h| matches!(h.event, Event::Exchanged { .. }))
    );
    let body = wallet_wasm::token::decode(&token).expect("token");
    let values: u64 = body
        .coins
        .iter()
        .map(|c: &Coin| w.key_set().key(&c.key_id).expect("key").info.value.value)
        .sum();
    assert_eq!(values, 5);
    // More than held: refused with the figures, nothing changes.
    let before = serials(&w);
    match w.send(100).await {
        Err(WalletError::InsufficientFunds { need, have }) => assert_eq!((need, have), (100, 59)),
        other => panic!("{other:?}"),
    }
    assert_eq!(serials(&w), before);
    // A second wallet file cannot be created over an existing one.
    let path = dir.path().join("w.db");
    let again = Wallet::create(
        SqliteStore::open(&path).expect("store"),
        Flaky::new(),
        &mint.url,
        None,
        mint.settings(),
    )
    .await;
    assert_eq!(again.expect_err("exists").code(), "wallet_exists");
    // Opening an empty store says so.
    let empty = Wallet::open(MemoryStore::new(), Flaky::new(), mint.settings()).await;
    assert_eq!(empty.expect_err("empty").code(), "no_wallet");
}

/// Runs the CLI on the wallet file `db`: whether it succeeded, stdout, stderr.
fn ecash_wallet(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecash-wallet"))
        .arg("--wallet")
        .arg(db)
        .args(args)
        .output()
        .expect("run ecash-wallet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_drives_the_same_core() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("cli.db");
    let cli = |args: &[&str]| ecash_wallet(&db, args);
    let (ok, out, err) = cli(&["init", "--bank", &mint.url]);
    assert!(ok, "{err}");
    assert!(out.contains("account_id") && err.contains("seed phrase"));
    for args in [&["faucet", "500"][..], &["withdraw", "300"]] {
        let (ok, _, err) = cli(args);
        assert!(ok, "{err}");
    }
    let (ok, out, err) = cli(&["balance"]);
    assert!(ok, "{err}");
    let bal: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(bal["total"], 300);
    let order = rt.block_on(mint.order("sticker"));
    let link = format!("web+ecash:{}", mint.payreq_url(&order.payreq.payreq_id));
    let (ok, out, err) = cli(&["pay", &link]);
    assert!(ok, "{err}");
    assert!(out.contains("receipt"));
    let (ok, out, _) = cli(&["balance"]);
    assert!(ok);
    let bal: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(bal["total"], 300 - order.payreq.amount.value);
    // Errors: a stable code on stderr and a failing exit status.
    let (ok, _, err) = cli(&["send", "1000000"]);
    assert!(!ok);
    assert!(err.contains("error [insufficient_funds]"), "{err}");
    let (ok, _, err) = cli(&["receive", "ecash1garbage"]);
    assert!(!ok);
    assert!(err.contains("error [token_invalid]"), "{err}");
}

#[tokio::test]
async fn exchange_renews_serials_and_recover_refreshes_coins_near_expiry() {
    // Keys sign for 8 s and are accepted 8 s longer, on the test clock.
    let mint = Mint::start_with(&["--withdraw-period-secs", "8", "--deposit-grace-secs", "8"]);
    let dir = tempfile::tempdir().expect("tmp");
    let (mut w, path) = funded(&mint, dir.path(), "w", 1_000).await;
    w.withdraw(100, None).await.expect("withdraw");

    // Exchange: same value, all-new serials, the old ones spent at the bank.
    let before = serials(&w);
    assert_eq!(w.exchange_all().await.expect("exchange"), 100);
    let after = serials(&w);
    assert_eq!(w.balance().total, 100);
    assert!(before.is_disjoint(&after));

    // Move time until a newer key period signs, then recover with a margin
    // that covers the coins' key but not the new one: they are exchanged in time.
    let old_until = w
        .coins()
        .iter()
        .map(|r| r.deposit_until)
        .max()
        .expect("coins");
    for round in 0.. {
        assert!(round < 10, "no new key period");
        mint.advance(4);
        w.refresh_keys().await.expect("keys");
        let now = mint.now();
        let newest = w
            .key_set()
            .withdraw_keys(now)
            .values()
            .map(|k| k.info.deposit_until)
            .min();
        if newest.is_some_and(|n| n > old_until) {
            break;
        }
    }
    drop(w);
    let margin = old_until.saturating_sub(mint.now()) + 1;
    let store = SqliteStore::open(&path).expect("store");
    let settings = wallet_wasm::WalletSettings {
        expiry_margin_secs: margin,
        ..mint.settings()
    };
    let mut w = Wallet::open(store, Flaky::new(), settings)
        .await
        .expect("open");
    let report = w.recover().await.expect("recover");
    assert_eq!(report.refreshed, after.len(), "{report:?}");
    assert_eq!(w.balance().total, 100);
    assert!(
        w.coins().iter().all(|r| r.deposit_until > old_until),
        "fresh keys"
    );
    assert!(serials(&w).is_disjoint(&after));
}

#[test]
fn cli_pays_offline_between_two_wallets() {
    let mint = Mint::start_with(&["--offline-max-exp", "2"]);
    let dir = tempfile::tempdir().expect("tmp");
    let db = |who: &str| dir.path().join(format!("{who}.db"));
    let cli = |who: &str, args: &[&str]| {
        let (ok, stdout, stderr) = ecash_wallet(&db(who), args);
        assert!(ok, "{who} {args:?}: {stderr}");
        stdout
    };
    for who in ["alice", "bob"] {
        cli(who, &["init", "--bank", &mint.url]);
        cli(who, &["faucet", "50"]);
    }
    cli("alice", &["offline", "lock", "10"]);
    let done: serde_json::Value =
        serde_json::from_str(&cli("alice", &["offline", "withdraw", "7"])).expect("json");
    assert_eq!(
        (done["amount"].as_u64(), done["coins"].as_u64()),
        (Some(7), Some(3))
    );
    let invoice = cli("bob", &["offline", "invoice", "5"]);
    let token = cli("alice", &["offline", "pay", invoice.trim()]);
    assert!(token.starts_with("ecashoff1"), "{token}");
    let got: serde_json::Value =
        serde_json::from_str(&cli("bob", &["offline", "receive", token.trim()])).expect("json");
    assert_eq!(got["amount"], 5);
    let bal: serde_json::Value =
        serde_json::from_str(&cli("alice", &["offline", "balance"])).expect("json");
    assert_eq!(bal["coins_value"], 2);
    let dep: serde_json::Value =
        serde_json::from_str(&cli("bob", &["offline", "deposit"])).expect("json");
    assert_eq!(
        (dep["coins"].as_u64(), dep["credited"].as_u64()),
        (Some(2), Some(5))
    );
    let st: serde_json::Value =
        serde_json::from_str(&cli("alice", &["offline", "standing"])).expect("json");
    assert_eq!(st["frozen"], false);
    // The same token again is refused with a stable code.
    let (ok, _, err) = ecash_wallet(&db("bob"), &["offline", "receive", token.trim()]);
    assert!(!ok);
    assert!(err.contains("error [offline_refused]"), "{err}");
}
