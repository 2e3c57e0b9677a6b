//! The wallet in headless Chromium against a real mint and shop started for
//! the run (`scripts/test-wasm.sh` starts them and passes their URLs as
//! `ECASH_TEST_MINT` and `ECASH_TEST_SHOP` at build time): IndexedDB
//! storage, fetch transport, the JS API, recovery, the store contract, and
//! the time to withdraw 100 coins.
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]

use ecash_core::client::MerchantClient;
use js_sys::Reflect;
use wallet_wasm::js::EcashWallet;
use wallet_wasm::records::Event;
use wallet_wasm::store::indexeddb::IndexedDbStore;
use wallet_wasm::transport::{
    FetchTransport, HttpRequest, HttpResponse, Transport, TransportError,
};
use wallet_wasm::{Offer, Wallet, WalletSettings};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MINT: &str = match option_env!("ECASH_TEST_MINT") {
    Some(u) => u,
    None => "http://127.0.0.1:8080",
};

const SHOP: &str = match option_env!("ECASH_TEST_SHOP") {
    Some(u) => u,
    None => "http://127.0.0.1:8081",
};

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

fn db_name(tag: &str) -> String {
    format!("ecash-test-{tag}-{}", js_sys::Math::random())
}

async fn order(item: &str) -> Offer {
    let payreq = MerchantClient::new(SHOP, FetchTransport)
        .order(item)
        .await
        .expect("order");
    Offer {
        payreq,
        origin: SHOP.to_owned(),
    }
}

/// Fetch, but the answer of the first payment is lost after the shop acted.
struct LoseFirstPayAnswer {
    lost: std::cell::Cell<bool>,
}

impl Transport for LoseFirstPayAnswer {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let pay = req.url.contains("/api/pay/");
        let r = FetchTransport.send(req).await?;
        if pay && !self.lost.replace(true) {
            return Err(TransportError(
                "connection cut before the answer (test)".into(),
            ));
        }
        Ok(r)
    }
}

#[wasm_bindgen_test]
async fn create_faucet_withdraw_pay_then_reopen_from_indexeddb() {
    let name = db_name("flow");
    let store = IndexedDbStore::open(&name).await.expect("idb");
    let (mut w, phrase) =
        Wallet::create(store, FetchTransport, MINT, None, WalletSettings::default())
            .await
            .expect("create");
    assert_eq!(phrase.len(), 79);
    w.faucet(2_000).await.expect("faucet");
    w.withdraw(700, None).await.expect("withdraw");
    assert_eq!(w.balance().total, 700);
    let payreq = order("notes").await;
    let price = payreq.payreq.amount.value;
    let paid = w.pay(payreq).await.expect("pay the demo shop");
    assert!(matches!(
        paid.entry.event,
        Event::Paid {
            receipt: Some(_),
            ..
        }
    ));
    let serials: Vec<_> = w.coins().iter().map(|r| r.coin.serial).collect();
    let (store, _) = w.into_parts();
    store.close();

    // Reopen: the coins and the history come back from IndexedDB.
    let store = IndexedDbStore::open(&name).await.expect("idb again");
    let w = Wallet::open(store, FetchTransport, WalletSettings::default())
        .await
        .expect("reopen");
    assert_eq!(w.balance().total, 700 - price);
    let again: Vec<_> = w.coins().iter().map(|r| r.coin.serial).collect();
    assert_eq!(again, serials);
    assert!(
        w.history()
            .iter()
            .any(|h| matches!(h.event, Event::Paid { .. }))
    );
    let (store, _) = w.into_parts();
    store.close();
    IndexedDbStore::delete(&name).await.expect("delete");
}

#[wasm_bindgen_test]
async fn recover_after_a_lost_payment_answer() {
    let name = db_name("recover");
    let store = IndexedDbStore::open(&name).await.expect("idb");
    let net = LoseFirstPayAnswer {
        lost: std::cell::Cell::new(false),
    };
    let (mut w, _) = Wallet::create(store, net, MINT, None, WalletSettings::default())
        .await
        .expect("create");
    w.faucet(1_000).await.expect("faucet");
    w.withdraw(512, None).await.expect("withdraw");
    let payreq = order("coffee").await;
    let price = payreq.payreq.amount.value;
    let e = w.pay(payreq).await.expect_err("answer lost");
    assert_eq!(e.code(), "interrupted");
    let (store, _) = w.into_parts();
    store.close();
    // A new page load: open with the plain transport and recover.
    let store = IndexedDbStore::open(&name).await.expect("idb");
    let mut w = Wallet::open(store, FetchTransport, WalletSettings::default())
        .await
        .expect("reopen");
    assert_eq!(w.pending().len(), 1);
    let report = w.recover().await.expect("recover");
    assert_eq!(report.completed, 1);
    assert_eq!(w.balance().total, 512 - price);
    assert!(w.pending().is_empty());
    let (store, _) = w.into_parts();
    store.close();
    IndexedDbStore::delete(&name).await.expect("delete");
}

#[wasm_bindgen_test]
async fn js_api_errors_carry_codes_and_withdraw_100_coins_is_timed() {
    let name = db_name("js");
    assert!(!EcashWallet::exists(name.clone()).await.expect("exists"));
    let w = EcashWallet::create(name.clone(), MINT.into(), None, None, None)
        .await
        .expect("create");
    assert!(EcashWallet::exists(name.clone()).await.expect("exists"));
    JsFuture::from(w.faucet(100_000.0)).await.expect("faucet");

    // A JS error with a stable code.
    let err = JsFuture::from(w.withdraw(1_000_000.0, None))
        .await
        .expect_err("too much");
    let code = Reflect::get(&err, &"code".into()).expect("code");
    assert_eq!(code.as_string().as_deref(), Some("insufficient_funds"));
    let err = JsFuture::from(w.withdraw(1.5, None))
        .await
        .expect_err("fraction");
    assert_eq!(
        Reflect::get(&err, &"code".into())
            .expect("code")
            .as_string()
            .as_deref(),
        Some("invalid_input")
    );

    // Withdraw 100 coins through the JS API and time it (blind, bank signs, unblind, verify, store).
    let events = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let seen = events.clone();
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |_p: JsValue| {
        seen.set(seen.get() + 1);
    });
    // 90 coins of 1024 and one of each smaller power of two: 100 coins.
    let amount: u64 = 90 * 1024 + 1023;
    let t0 = now_ms();
    let done = JsFuture::from(w.withdraw(amount as f64, Some(cb.as_ref().clone().into())))
        .await
        .expect("withdraw");
    let ms = now_ms() - t0;
    let coins = Reflect::get(&done, &"coins".into())
        .expect("coins")
        .as_f64()
        .unwrap_or(0.0);
    assert!(events.get() > 10, "progress events reached JS");
    let bal = JsFuture::from(w.balance()).await.expect("balance");
    assert_eq!(
        Reflect::get(&bal, &"total".into()).expect("total").as_f64(),
        Some(amount as f64)
    );
    console_log!(
        "BENCH browser withdraw of {coins} coins (amount {amount}): {ms:.0} ms total, {:.2} ms/coin",
        ms / coins
    );
    assert_eq!(coins, 100.0);
    JsFuture::from(w.close()).await.expect("close");
    EcashWallet::delete_wallet(name).await.expect("delete");
}

#[wasm_bindgen_test]
async fn indexeddb_keeps_the_store_contract() {
    let names = std::cell::RefCell::new(Vec::new());
    wallet_wasm::store::contract::run(|| async {
        let name = db_name("contract");
        names.borrow_mut().push(name.clone());
        IndexedDbStore::open(&name).await.expect("idb")
    })
    .await;
    // Two handles on one database: two tabs of one wallet.
    let shared = db_name("contract-shared");
    {
        let a = IndexedDbStore::open(&shared).await.expect("idb");
        let b = IndexedDbStore::open(&shared).await.expect("idb again");
        wallet_wasm::store::contract::run_shared(&a, &b).await;
    }
    names.borrow_mut().push(shared);
    for name in names.into_inner() {
        IndexedDbStore::delete(&name).await.expect("delete");
    }
}

/// A blob URL of `len` zero bytes (same origin: fetch reads it like any answer).
fn blob_url(len: u32) -> String {
    js_sys::eval(&format!(
        "URL.createObjectURL(new Blob([new Uint8Array({len})], {{type: 'application/json'}}))"
    ))
    .ok()
    .and_then(|v| v.as_string())
    .expect("a blob URL")
}

/// The fetch transport refuses an answer over its bound without reading
/// it, and reads one within it whole (through its stream).
#[wasm_bindgen_test]
async fn fetch_refuses_an_answer_over_its_bound() {
    let get = |url: String| HttpRequest {
        method: ecash_core::api::Method::Get,
        url,
        headers: vec![],
        body: None,
    };
    let limit = wallet_wasm::transport::MAX_ANSWER_BYTES as u32;
    let e = FetchTransport
        .send(get(blob_url(limit + 1)))
        .await
        .expect_err("over the bound");
    assert!(e.0.contains("larger than"), "{e}");
    let small = FetchTransport
        .send(get(blob_url(100_000)))
        .await
        .expect("within the bound");
    assert_eq!(small.body.len(), 100_000);
}
