//! Offline (CAFE) payments at a shop, with real processes: the shop takes
//! spends while its bank's process is stopped, refuses what it can tell is
//! wrong with no network, and deposits what it took in batches once the
//! bank is back, even after a crash; a coin spent at two shops is paid to
//! the second from the double spender's collateral.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ecash_core::offline::Revealed;
use ecash_core::{ErrorCode, Fixed, api};
use ecash_testkit::client::Account;
use ecash_testkit::process::merchant_key;
use ecash_testkit::{MerchantProc, MintProc, SyncBank, refused};

fn account_of(shop: &MerchantProc) -> Account {
    Account {
        key: merchant_key(&shop.proc.data_dir()),
        id: shop.account_id.clone(),
    }
}

/// Waits until `f` holds (the shops deposit on their settle rounds).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_shop_takes_offline_payments_with_its_bank_stopped_and_deposits_them_later() {
    let mut mint = MintProc::start(&["--offline-max-exp", "2"]);
    let shop_proc = MerchantProc::at(&mint, &["--settle-every-secs", "1"]);
    let other_proc = MerchantProc::at(&mint, &["--settle-every-secs", "1"]);
    let bank = mint.client();
    let alice = bank.register("alice");
    bank.faucet(&alice, 100);
    bank.collateral(&alice, true, 10).expect("lock");
    let four = bank.offline_withdraw(&alice, 4).expect("withdraw");
    let two = bank.offline_withdraw(&alice, 2).expect("withdraw");
    let twice = bank.offline_withdraw(&alice, 1).expect("withdraw");

    // The bank's process is stopped: the shops take payments regardless.
    mint.proc.stop();
    let shop = shop_proc.client();
    let other = other_proc.client();
    let request = |s: &ecash_testkit::Shop| {
        s.call::<api::OfflineRequestApi>(&(), &())
            .expect("an offline request")
    };
    let r = request(&shop);
    assert_eq!(r.payee_id, shop_proc.account_id);
    let spend = four.spend(&r);
    let took = shop
        .call::<api::OfflinePay>(&(), &spend)
        .expect("taken offline");
    assert_eq!((took.coin_id, took.value.value), (four.id(), 4));
    // The same spend again (the payer lost the answer): the same answer, taken once.
    assert_eq!(
        shop.call::<api::OfflinePay>(&(), &spend)
            .expect("the same answer"),
        took
    );
    // Its request with another coin: taken.
    assert_eq!(
        refused(shop.call::<api::OfflinePay>(&(), &two.spend(&r))),
        (400, ErrorCode::PayreqInvalid)
    );
    // The same coin under a new request: received before.
    assert_eq!(
        refused(shop.call::<api::OfflinePay>(&(), &four.spend(&request(&shop)))),
        (409, ErrorCode::CoinSpent)
    );
    // A request the shop never issued, and another shop's.
    let mut forged = request(&shop);
    forged.nonce = Fixed([3; 16]);
    assert_eq!(
        refused(shop.call::<api::OfflinePay>(&(), &two.spend(&forged))),
        (400, ErrorCode::PayreqInvalid)
    );
    assert_eq!(
        refused(shop.call::<api::OfflinePay>(&(), &two.spend(&request(&other)))),
        (400, ErrorCode::PayreqInvalid)
    );
    // A half altered: the challenge does not follow.
    let mut bad = two.spend(&request(&shop));
    let (Revealed::Pad { y, .. } | Revealed::Masked { x: y, .. }) = &mut bad.revealed[0];
    y.0[0] ^= 1;
    assert_eq!(
        refused(shop.call::<api::OfflinePay>(&(), &bad)),
        (400, ErrorCode::InvalidCoin)
    );
    // The coin of 2 properly, and one coin at both shops.
    shop.call::<api::OfflinePay>(&(), &two.spend(&request(&shop)))
        .expect("taken");
    shop.call::<api::OfflinePay>(&(), &twice.spend(&request(&shop)))
        .expect("taken at the first shop");
    other
        .call::<api::OfflinePay>(&(), &twice.spend(&request(&other)))
        .expect("taken at the second, which cannot know");

    // The first shop crashes with what it took: nothing of it is lost.
    let mut shop_proc = shop_proc;
    shop_proc.proc.kill();
    // The bank is back, the shop too: the shops deposit on their own.
    mint.proc.start_again();
    shop_proc.proc.start_again();
    let bank = SyncBank::connect(mint.url(), &mint.master);
    let (first, second) = (account_of(&shop_proc), account_of(&other_proc));
    eventually("both shops deposit", || {
        bank.balance(&first) == 7 && bank.balance(&second) == 1
    });
    let s = bank.offline_standing(&alice).expect("standing");
    assert!(s.frozen, "the coin spent twice froze its withdrawer");
    assert_eq!((s.penalties.value, s.collateral.value), (1, 9));
    // Nothing more is paid on later rounds.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!((bank.balance(&first), bank.balance(&second)), (7, 1));
}

#[test]
fn a_spend_the_bank_refuses_is_written_off_alone() {
    let mut mint = MintProc::start(&["--offline-max-exp", "1"]);
    let shop_proc = MerchantProc::at(&mint, &["--settle-every-secs", "1"]);
    let bank = mint.client();
    let alice = bank.register("alice");
    bank.faucet(&alice, 100);
    bank.collateral(&alice, true, 10).expect("lock");
    let one = bank.offline_withdraw(&alice, 1).expect("withdraw");
    let two = bank.offline_withdraw(&alice, 2).expect("withdraw");
    mint.proc.stop();
    let shop = shop_proc.client();
    for coin in [&one, &two] {
        let r = shop
            .call::<api::OfflineRequestApi>(&(), &())
            .expect("request");
        shop.call::<api::OfflinePay>(&(), &coin.spend(&r))
            .expect("taken offline");
    }
    // While the shop cannot know, the bank revokes the key of one coin.
    mint.command(&[
        "revoke-key",
        "--key-id",
        &one.key_id.to_b64(),
        "--reason",
        "compromised",
    ])
    .expect("revoked");
    mint.proc.start_again();
    let bank = SyncBank::connect(mint.url(), &mint.master);
    let me = account_of(&shop_proc);
    // The batch of both is refused; each goes again alone: the good coin is paid.
    eventually("the good coin is deposited", || bank.balance(&me) == 2);
    let db = rusqlite::Connection::open(shop_proc.proc.data_dir().join("shop.db")).expect("db");
    eventually("the revoked coin is settled as refused", || {
        db.query_row(
            "SELECT outcome FROM offline_spends WHERE coin_id = ?1",
            [&one.id().0[..]],
            |r| r.get::<_, Option<String>>(0),
        )
        .expect("row")
        .as_deref()
            == Some("refused")
    });
    assert_eq!(bank.balance(&me), 2);
}
