//! The mint's log after a run of every operation (create, faucet, withdraw,
//! pay, goods, send by link, receive, exchange, prove, recover, restore)
//! holds no serial, no token, no seed, no payer code and no payment id, and
//! no query string: secrets travel in bodies and URL fragments only.

use std::collections::BTreeSet;

use browser_e2e::Mint;
use wallet_wasm::records::Event;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::transport::http::ReqwestTransport;
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

#[tokio::test(flavor = "current_thread")]
async fn the_mint_log_holds_no_secret_after_every_operation() {
    let mint = Mint::start_with(&[], false);
    let dir = tempfile::tempdir().expect("tmp");
    let http = reqwest::Client::new();
    let mut secrets = BTreeSet::new();
    let (mut a, _) = create(dir.path(), "a", &mint.url).await;
    let (mut b, _) = create(dir.path(), "b", &mint.url).await;
    a.faucet(2000).await.expect("faucet");
    a.withdraw(1000, None).await.expect("withdraw");
    secrets_of(&a, &mut secrets);

    // Pay the shop; fetch the goods the way the fulfillment page does.
    for item in ["sticker", "haiku"] {
        let payreq = http
            .post(format!("{}/shop/api/orders", mint.url))
            .json(&serde_json::json!({ "item_id": item }))
            .send()
            .await
            .expect("order")
            .json()
            .await
            .expect("payreq");
        secrets_of(&a, &mut secrets);
        let done = a
            .pay(Offer {
                payreq,
                origin: mint.url.clone(),
            })
            .await
            .expect("pay");
        let link = done.goods_link().expect("goods link");
        // A browser opening the link sends no fragment; the page's script
        // posts the payment id in a body.
        let page = http.get(&link).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let (url, frag) = link.split_once('#').expect("fragment");
        let pid = wallet_wasm::links::fragment_value(frag, "payment_id").expect("payment id");
        let order = url.rsplit('/').next().expect("order id");
        let goods = http
            .post(format!("{}/shop/api/orders/{order}/goods", mint.url))
            .json(&serde_json::json!({ "payment_id": pid }))
            .send()
            .await
            .expect("goods");
        assert_eq!(goods.status().as_u16(), 200);
    }
    secrets_of(&a, &mut secrets);

    // Send by link; the receiver opens it and claims the token.
    let token = a.send(40).await.expect("send");
    let link = wallet_wasm::token::link(&format!("{}/", mint.url), &token).expect("link");
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
        &mint.url,
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
    let log = mint.log();
    assert!(
        log.contains("POST /withdraw 200"),
        "the access log is on:\n{log}"
    );
    let leaks: Vec<&String> = secrets
        .iter()
        .filter(|s| log.contains(s.as_str()))
        .collect();
    assert!(
        leaks.is_empty(),
        "{} secret(s) in the mint's log, e.g. {:?}",
        leaks.len(),
        leaks.first()
    );
    for line in log.lines().filter(|l| l.contains(" http: ")) {
        assert!(!line.contains('?'), "a query string in the log: {line}");
    }
    println!(
        "{} secrets checked against {} log lines",
        secrets.len(),
        log.lines().count()
    );
}
