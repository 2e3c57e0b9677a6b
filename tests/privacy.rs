//! The mint's log and the merchant's log after a run of every operation
//! (create, faucet, withdraw, order, pay, goods, the shop keeper's list,
//! send by link, receive, exchange, prove, recover, restore) hold no
//! serial, no token, no seed, no payer code, no payment id and no key, and
//! no query string: secrets travel in bodies, headers and URL fragments
//! only.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use browser_e2e::{
    Endpoint, ReqwestTransport, api, bank_mint, merchant_at, merchant_key, shop_client, wallet_url,
};
use wallet_wasm::records::Event;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::{Offer, Wallet, WalletSettings};

type W = Wallet<SqliteStore, ReqwestTransport>;

async fn create(dir: &std::path::Path, name: &str, bank: &str) -> (W, String) {
    let store = SqliteStore::open(&dir.join(format!("{name}.db"))).expect("store");
    Wallet::create(
        store,
        ReqwestTransport::new().expect("http"),
        bank,
        None,
        WalletSettings::default(),
    )
    .await
    .expect("create")
}

/// Every secret a wallet holds now.
fn secrets_of(w: &W, out: &mut BTreeSet<String>) {
    for r in w.coins() {
        out.insert(r.coin.serial.to_b64());
        out.insert(r.coin.msg_prefix.to_b64());
    }
    for h in w.history() {
        match &h.event {
            Event::Paid {
                payment_id,
                payer_code,
                ..
            } => {
                out.insert(payment_id.to_b64());
                out.insert(ecash_core::bytes::b64_encode(&payer_code.0));
            }
            Event::Sent { token } => {
                out.insert(token.clone());
                out.insert(token[..40].to_owned());
            }
            _ => {}
        }
    }
    let phrase = w.seed_phrase();
    out.insert(phrase.replace('-', ""));
    out.insert(phrase);
}

/// Fails if any of `secrets` is in `log` (of `who`), or a logged request
/// has a query string; returns the number of lines.
fn check_log(who: &str, log: &str, secrets: &BTreeSet<String>) -> usize {
    let leaks: Vec<&String> = secrets
        .iter()
        .filter(|s| log.contains(s.as_str()))
        .collect();
    assert!(
        leaks.is_empty(),
        "{} secret(s) in the {who}'s log, e.g. {:?}",
        leaks.len(),
        leaks.first()
    );
    for line in log.lines().filter(|l| l.contains(" http: ")) {
        assert!(
            !line.contains('?'),
            "a query string in the {who}'s log: {line}"
        );
    }
    log.lines().count()
}

#[tokio::test(flavor = "current_thread")]
async fn the_mint_and_merchant_logs_hold_no_secret_after_every_operation() {
    let mint = bank_mint(&[]);
    let merchant = merchant_at(&mint, &[]);
    let bank_url = mint.url().to_owned();
    let shop = shop_client(merchant.url());
    let dir = tempfile::tempdir().expect("tmp");
    let http = reqwest::Client::new();
    let mut secrets = BTreeSet::new();
    // The shop's own secrets: its account key and the shop keeper's token.
    let shop_key = merchant_key(&merchant.proc.data_dir());
    secrets.insert(ecash_core::bytes::b64_encode(&shop_key.secret_bytes()));
    let key_file = std::fs::read_to_string(merchant.proc.data_dir().join("merchant.key"))
        .expect("merchant.key");
    secrets.insert(key_file.trim().to_owned());
    secrets.insert(merchant.admin_token.clone());
    let (mut a, _) = create(dir.path(), "a", &bank_url).await;
    let (mut b, _) = create(dir.path(), "b", &bank_url).await;
    a.faucet(2000).await.expect("faucet");
    a.withdraw(1000, None).await.expect("withdraw");
    secrets_of(&a, &mut secrets);

    // Pay the shop; fetch the goods the way the fulfillment page does.
    let mut orders = Vec::new();
    for item in ["sticker", "haiku"] {
        let payreq = shop.order(item).await.expect("order");
        let id = payreq.payreq_id.clone();
        secrets_of(&a, &mut secrets);
        let done = a
            .pay(Offer {
                payreq,
                origin: shop.base().to_owned(),
            })
            .await
            .expect("pay");
        let link = done.goods_link().expect("goods link");
        // A browser opening the link sends no fragment; the page's script
        // posts the goods key in a body.
        let (page, frag) = link.split_once('#').expect("fragment");
        assert_eq!(page, shop.0.url::<api::FulfillmentPage>(&id), "{link}");
        let resp = http.get(&link).send().await.expect("page");
        assert_eq!(resp.status().as_u16(), 200);
        let key = wallet_wasm::links::fragment_value(frag, "goods_key").expect("goods key");
        secrets.insert(key.clone());
        let key = ecash_core::B32::from_b64(&key).expect("a goods key");
        let goods = shop.goods(&id, key).await.expect("goods");
        assert!(!goods.goods.is_empty());
        orders.push(id);
    }
    secrets_of(&a, &mut secrets);
    // The shop keeper's list: the token travels in a header.
    let list = shop.orders(&merchant.admin_token).await.expect("orders");
    assert_eq!(list.paid, 2);

    // Send by link; the receiver opens it and claims the token.
    let token = a.send(40).await.expect("send");
    let link = wallet_wasm::token::link(&wallet_url(&mint), &token).expect("link");
    assert!(!link.contains('?'), "{link}");
    http.get(&link).send().await.expect("open the link");
    secrets_of(&a, &mut secrets);
    b.receive(&token).await.expect("receive");
    secrets_of(&b, &mut secrets);

    a.exchange_all().await.expect("exchange");
    secrets_of(&a, &mut secrets);
    let paid = a
        .history()
        .into_iter()
        .find_map(|h| match h.event {
            Event::Paid { payment_id, .. } => Some(payment_id),
            _ => None,
        })
        .expect("a payment");
    a.prove_payment(&paid).await.expect("proof");
    a.recover().await.expect("recover");
    let phrase = a.seed_phrase();
    let store = SqliteStore::open(&dir.path().join("restored.db")).expect("store");
    let (r, _) = Wallet::restore(
        store,
        ReqwestTransport::new().expect("http"),
        &bank_url,
        None,
        &phrase,
        WalletSettings::default(),
        None,
    )
    .await
    .expect("restore");
    secrets_of(&a, &mut secrets);
    secrets_of(&b, &mut secrets);
    secrets_of(&r, &mut secrets);

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = mint.proc.log();
    let withdrew = format!("POST {} 200", api::Withdraw::INFO.path);
    assert!(
        log.contains(&withdrew),
        "the mint's access log is on:\n{log}"
    );
    let mint_lines = check_log("mint", &log, &secrets);
    let shop_log = merchant.proc.log();
    for id in &orders {
        let paid = format!("POST {} 200", api::Pay::path(id));
        assert!(
            shop_log.contains(&paid),
            "the merchant's access log is on:\n{shop_log}"
        );
    }
    let shop_lines = check_log("merchant", &shop_log, &secrets);
    println!(
        "{} secrets checked against {mint_lines} mint log lines and {shop_lines} merchant log lines",
        secrets.len(),
    );
}
