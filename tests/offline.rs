//! Offline (CAFE) payments through the real wallet core: offline coins
//! withdrawn in the bank's two rounds, then paid wallet to wallet as a
//! token and to a shop while the bank's process is stopped, and deposited
//! once it is back. The observer lets two handles on one wallet spend a
//! coin once; a wallet rolled back to a copy of its store spends it twice,
//! and the bank names it, pays both payees from its collateral and freezes
//! it. Real mint-server and merchant binaries.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use browser_e2e::{
    ReqwestTransport, bank_client, bank_mint, funded_wallet, merchant_at, shop_statement,
};
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::{Wallet, WalletError, WalletSettings};

type W = Wallet<SqliteStore, ReqwestTransport>;

async fn open(path: &Path) -> W {
    Wallet::open(
        SqliteStore::open(path).expect("store"),
        ReqwestTransport::new().expect("http"),
        WalletSettings::default(),
    )
    .await
    .expect("open")
}

fn offline_mint() -> ecash_testkit::MintProc {
    bank_mint(&["--offline-max-exp", "4"])
}

async fn balance(w: &W) -> u64 {
    w.account_statement()
        .await
        .expect("statement")
        .balance
        .value
}

#[tokio::test(flavor = "current_thread")]
async fn wallets_and_a_shop_are_paid_offline_with_the_bank_stopped_and_deposit_later() {
    let mut mint = offline_mint();
    let shop = merchant_at(&mint, &["--settle-every-secs", "1"]);
    let dir = tempfile::tempdir().expect("dir");
    let mut alice = funded_wallet(dir.path(), "alice", mint.url(), 100).await;
    let mut bob = funded_wallet(dir.path(), "bob", mint.url(), 10).await;

    // No allowance yet: refused, and nothing journaled.
    let e = alice.offline_withdraw(4, None).await.unwrap_err();
    assert!(
        matches!(e, WalletError::InsufficientFunds { need: 4, have: 0 }),
        "{e}"
    );
    let s = alice.offline_collateral(true, 40).await.expect("lock");
    assert_eq!(s.available.value, 40);
    let mut steps = Vec::new();
    let mut cb = |p: wallet_wasm::Progress| steps.push(p);
    let done = alice
        .offline_withdraw(23, Some(&mut cb))
        .await
        .expect("withdraw");
    assert_eq!((done.amount, done.coins), (23, 4), "16 + 4 + 2 + 1");
    assert_eq!(steps.last().map(|p| (p.done, p.total)), Some((4, 4)));
    let ob = alice.offline_balance().await.expect("balance");
    assert_eq!(ob.coins_value, 23);
    assert_eq!(ob.coins, vec![(16, 1), (4, 1), (2, 1), (1, 1)]);
    let s = alice.offline_standing().await.expect("standing");
    assert_eq!((s.in_use.value, s.available.value), (23, 17));
    assert_eq!(
        balance(&alice).await,
        100 - 40 - 23,
        "the coins are paid for; the collateral is locked beside them"
    );

    // The bank's process is stopped for real.
    mint.proc.stop();
    let invoice = bob.offline_invoice(7).await.expect("invoice");
    let paid = alice
        .offline_pay_invoice(&invoice)
        .await
        .expect("pay offline");
    assert_eq!((paid.amount, paid.coins), (7, 3));
    let token = paid.token.expect("a token");
    let got = bob.offline_receive(&token).await.expect("receive offline");
    assert_eq!((got.amount, got.coins), (7, 3));
    // The same token again, and a token for someone else's invoice: refused.
    let again = bob.offline_receive(&token).await.unwrap_err();
    assert_eq!(again.code(), "offline_refused", "{again}");
    // Alice cannot pay the same invoice twice: its requests are used on
    // bob's side, and her purse no longer holds those coins.
    assert_eq!(alice.offline_balance().await.expect("b").coins_value, 16);
    // The shop takes the 16 with no bank either.
    let at_shop = alice
        .offline_pay_shop(shop.url(), 16)
        .await
        .expect("shop offline");
    assert_eq!((at_shop.amount, at_shop.coins), (16, 1));
    assert_eq!(alice.offline_balance().await.expect("b").coins_value, 0);
    // Nothing is left to pay with; nothing to send again.
    let e = alice.offline_pay_shop(shop.url(), 1).await.unwrap_err();
    assert!(matches!(e, WalletError::InsufficientFunds { .. }), "{e}");
    assert_eq!(alice.offline_resend().await.expect("resend").0, 0);
    // The token can be shown again (a receiver that lost it).
    assert_eq!(alice.offline_tokens().await.expect("tokens").len(), 1);
    // Bob's deposit waits for the bank, nothing lost.
    let e = bob.offline_deposit().await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(bob.offline_balance().await.expect("b").to_deposit, 7);

    mint.proc.start_again();
    let d = bob.offline_deposit().await.expect("deposit");
    assert_eq!(
        (d.coins, d.credited, d.double_spent, d.refused),
        (3, 7, 0, 0)
    );
    assert_eq!(bob.offline_balance().await.expect("b").to_deposit, 0);
    assert_eq!(balance(&bob).await, 17);
    // A second deposit finds nothing to do.
    assert_eq!(bob.offline_deposit().await.expect("again").coins, 0);
    // The shop deposits on its own settle rounds.
    let bank = bank_client(mint.url());
    let deadline = Instant::now() + Duration::from_secs(60);
    while shop_statement(&bank, &shop).await.balance.value < 16 {
        assert!(Instant::now() < deadline, "the shop's offline deposit");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // No one double spent: alice's allowance stands.
    let s = alice.offline_standing().await.expect("standing");
    assert!(!s.frozen);
    assert_eq!(s.penalties.value, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn the_observer_spends_a_coin_once_and_a_rolled_back_copy_is_named_by_the_bank() {
    let mint = offline_mint();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("alice.db");
    let mut alice = funded_wallet(dir.path(), "alice", mint.url(), 50).await;
    let mut bob = funded_wallet(dir.path(), "bob", mint.url(), 1).await;
    let carol = funded_wallet(dir.path(), "carol", mint.url(), 1).await;
    let mut dave = funded_wallet(dir.path(), "dave", mint.url(), 1).await;
    let mut frank = funded_wallet(dir.path(), "frank", mint.url(), 1).await;
    alice.offline_collateral(true, 20).await.expect("lock");
    alice.offline_withdraw(8, None).await.expect("withdraw");

    // A stale view of the purse (a second tab that read the coin before the
    // first spent it, or a purse record put back): the observer still
    // authorizes one spend of the coin, and refuses the second.
    use wallet_wasm::store::{Store, Write};
    use wallet_wasm::wallet::offline::{Observer, SoftwareObserver};
    let purse: Vec<(String, String)> = alice
        .store()
        .load_all()
        .await
        .expect("records")
        .into_iter()
        .filter(|(k, _)| k.starts_with("offline/coin/"))
        .collect();
    assert_eq!(purse.len(), 1);
    let paid = alice
        .offline_pay_invoice(&bob.offline_invoice(8).await.expect("inv"))
        .await
        .expect("the one spend");
    bob.offline_receive(paid.token.as_deref().expect("token"))
        .await
        .expect("received");
    let stale: Vec<Write> = purse.into_iter().map(|(k, v)| Write::Put(k, v)).collect();
    alice.store().apply(stale).await.expect("put the coin back");
    // The observer's record outranks the stale purse record: the coin is
    // not counted, not offered, and a second authorization is refused with
    // nothing written.
    let mut twin = open(&path).await;
    assert_eq!(twin.offline_balance().await.expect("b").coins_value, 0);
    let e = twin
        .offline_pay_invoice(&carol.offline_invoice(8).await.expect("inv"))
        .await
        .unwrap_err();
    assert!(matches!(e, WalletError::InsufficientFunds { .. }), "{e}");
    let coin = twin.offline_spent().await.expect("spent")[0].coin_id;
    let observer = SoftwareObserver(twin.store());
    let again = vec![Write::Put("offline/spent/forged".into(), "{}".into())];
    assert!(!observer.authorize(&[coin], again).await.expect("observer"));
    let fresh = ecash_core::Fixed([7; 32]);
    // All or nothing: one coin spent before refuses the whole batch.
    assert!(
        !observer
            .authorize(&[fresh, coin], vec![])
            .await
            .expect("observer")
    );
    let records = twin.store().load_all().await.expect("records");
    assert!(!records.iter().any(|(k, _)| k == "offline/spent/forged"));
    assert!(!records.iter().any(|(k, _)| k.ends_with(&fresh.to_b64())));
    assert_eq!(twin.offline_spent().await.expect("spent").len(), 1);
    drop(twin);

    // Rolled back: a copy of the store from before the spend, with the coin
    // and a clean observer. Nothing in software stops it...
    let backup = dir.path().join("backup.db");
    {
        let mut fresh = funded_wallet(dir.path(), "erin", mint.url(), 50).await;
        fresh.offline_collateral(true, 20).await.expect("lock");
        fresh.offline_withdraw(4, None).await.expect("withdraw");
        drop(fresh);
        std::fs::copy(dir.path().join("erin.db"), &backup).expect("copy");
    }
    let mut erin = open(&dir.path().join("erin.db")).await;
    let mut erin_copy = open(&backup).await;
    let first = erin
        .offline_pay_invoice(&dave.offline_invoice(4).await.expect("inv"))
        .await
        .expect("the first spend");
    let second = erin_copy
        .offline_pay_invoice(&frank.offline_invoice(4).await.expect("inv"))
        .await
        .expect("the copy spends it again");
    dave.offline_receive(first.token.as_deref().expect("t"))
        .await
        .expect("dave takes it");
    frank
        .offline_receive(second.token.as_deref().expect("t"))
        .await
        .expect("frank takes it");

    // ...but the bank names the spender at deposit.
    let d1 = dave.offline_deposit().await.expect("deposit");
    assert_eq!((d1.credited, d1.double_spent), (4, 0));
    let d2 = frank.offline_deposit().await.expect("deposit");
    assert_eq!(
        (d2.coins, d2.double_spent, d2.credited),
        (1, 1, 4),
        "the second spend paid from erin's collateral"
    );
    assert_eq!(balance(&frank).await, 1 + 4);
    let s = erin.offline_standing().await.expect("standing");
    assert!(s.frozen, "the double spender's allowance is frozen");
    assert_eq!(s.penalties.value, 4);
    let e = erin.offline_withdraw(1, None).await.unwrap_err();
    assert_eq!(e.code(), "offline_refused", "{e}");
    // Alice spent honestly: not frozen, no penalty.
    let s = alice.offline_standing().await.expect("standing");
    assert!(!s.frozen && s.penalties.value == 0);
}
