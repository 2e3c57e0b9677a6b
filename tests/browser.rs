//! The web wallet end to end, in real headless Chromium, against the real
//! mint-server serving the Trunk-built app and the demo merchant, a process
//! of its own on its own origin that banks at the mint over HTTP: create,
//! faucet, withdraw, the shop's catalogue, order and pay through its link
//! (wallet → merchant → bank, each step checked), fulfillment page with the
//! sticker as an image and a readable receipt, the shop keeper's orders
//! page, reload, send to a second browser profile; too little money; the
//! bank killed mid-payment (the merchant stays up) and restarted. (A
//! hostile shop is in `hostile_shop.rs`.)
//! Each step saves a screenshot under `target/e2e-screenshots/`.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use browser_e2e::*;
use ecash_core::shop::{GoodsKind, OrderState};

/// The `<dd>` after the receipt's `<dt>` named `term`.
async fn receipt_row(c: &fantoccini::Client, term: &str) -> String {
    let v = c
        .execute(
            "const dts = [...document.querySelectorAll('#receipt dt')]; \
             const dt = dts.find((d) => d.textContent === arguments[0]); \
             return dt && dt.nextElementSibling ? dt.nextElementSibling.textContent : null;",
            vec![serde_json::json!(term)],
        )
        .await
        .expect("read the receipt");
    v.as_str()
        .unwrap_or_else(|| panic!("no {term:?} row in the receipt"))
        .to_owned()
}

/// What the walk-through's steps share: the first browser profile, the
/// bank, the wallet it serves, the shop and clients of both.
struct Walk {
    a: fantoccini::Client,
    url: String,
    wallet: String,
    shop_url: String,
    shop: MerchantClient<ReqwestTransport>,
    bank: BankClient<ReqwestTransport>,
}

impl Walk {
    fn shop_page(&self, path: String) -> String {
        format!("{}{path}", self.shop_url)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn wallet_and_shop_in_the_browser() {
    let mut mint = wallet_mint(&[]);
    let merchant = merchant_at(&mint, &[]);
    let driver = Driver::start();
    let profiles = tempfile::tempdir().expect("profiles");
    let w = Walk {
        a: driver.session(&profiles.path().join("a")).await,
        url: mint.url().to_owned(),
        wallet: wallet_url(&mint),
        shop_url: merchant.url().to_owned(),
        shop: shop_client(merchant.url()),
        bank: bank_client(mint.url()),
    };
    assert_ne!(w.shop_url, w.url, "the shop has an origin of its own");
    let t0 = Instant::now();
    create_and_withdraw(&w).await;
    let order_id = order_a_sticker(&w).await;
    confirm_the_payment(&w, &merchant).await;
    let payment_id = goods_and_receipt(&w, &merchant, &order_id).await;
    paid_through_the_shop(&w, &mint, &merchant, &order_id, &payment_id).await;
    let load_ms = reload_and_history(&w).await;
    let b = driver.session(&profiles.path().join("b")).await;
    send_to_a_second_profile(&w, &b).await;
    too_little_money(&w, &b).await;
    bank_killed_mid_payment(&w, &mut mint, &merchant).await;
    println!(
        "E2E page load to usable wallet (reload, balance shown): {load_ms} ms; whole run {} s",
        t0.elapsed().as_secs()
    );
    let _ = b.close().await;
    let _ = w.a.close().await;
}

/// Creates the wallet (the seed is shown once), faucet, withdraw.
async fn create_and_withdraw(w: &Walk) {
    w.a.goto(&w.wallet).await.expect("open wallet");
    click(&w.a, "#create").await;
    let seed = wait_text(&w.a, "#seed-phrase", "the seed phrase", |t| t.len() == 79).await;
    assert_eq!(seed.matches('-').count(), 15);
    screenshot(&w.a, "01-created-seed").await;
    click(&w.a, "#seed-ok").await;

    // Faucet, then withdraw.
    fill(&w.a, "#faucet-amount", "50").await;
    click(&w.a, "#faucet-btn").await;
    wait_text(
        &w.a,
        "#account-balance",
        "account balance",
        money("50.00 DEMO"),
    )
    .await;
    fill(&w.a, "#withdraw-amount", "20").await;
    click(&w.a, "#withdraw-btn").await;
    wait_text(&w.a, "#message", "withdraw done", |t| {
        t.starts_with("Withdrew 20.00 DEMO")
    })
    .await;
    wait_text(
        &w.a,
        "#account-balance",
        "account debited",
        money("30.00 DEMO"),
    )
    .await;
    screenshot(&w.a, "02-withdrawn").await;
    click(&w.a, "#nav-balance").await;
    wait_text(&w.a, "#balance-total", "balance", money("20.00 DEMO")).await;
    let coins = text(&w.a, "#denominations tbody").await;
    assert!(!coins.trim().is_empty(), "coins by denomination are listed");
}

/// The shop at the merchant's own URL: the catalogue links each item; one
/// is ordered (a POST: looking stores nothing). Returns the order's id.
async fn order_a_sticker(w: &Walk) -> String {
    w.a.goto(&w.shop_page(api::CataloguePage::path(&())))
        .await
        .expect("shop");
    wait_text(&w.a, "#items", "the catalogue", |t| !t.trim().is_empty()).await;
    screenshot(&w.a, "03a-catalogue").await;
    click(
        &w.a,
        &format!("#items a[href='{}']", api::ItemPage::path("sticker")),
    )
    .await;
    click(&w.a, "#buy").await;
    wait_text(&w.a, "#pay-link", "pay link", |t| {
        t.contains("Pay with Ecash")
    })
    .await;
    let here = w.a.current_url().await.expect("url").to_string();
    let order_id = here
        .strip_prefix(&w.shop_page(api::OrderPage::path("")))
        .unwrap_or_else(|| panic!("the order page is the shop's: {here}"))
        .to_owned();
    assert!(!order_id.is_empty(), "{here}");
    // The link leads to the wallet (the bank's URL by default) with the
    // shop's payment request address in the fragment.
    assert_eq!(
        attr(&w.a, "#pay-link", "href").await.as_deref(),
        Some(pay_link(&w.wallet, &w.shop.payreq_url(&order_id)).as_str()),
        "the pay link"
    );
    screenshot(&w.a, "03-shop-order").await;
    order_id
}

/// Pays through the link flow: the wallet shows what the shop asks.
async fn confirm_the_payment(w: &Walk, merchant: &MerchantProc) {
    click(&w.a, "#pay-link").await;
    let amount = wait_text(&w.a, "#pay-amount", "payment amount", |t| {
        t.contains("DEMO")
    })
    .await;
    assert_eq!(amount.trim(), "0.99 DEMO");
    assert!(!text(&w.a, "#pay-description").await.trim().is_empty());
    let payee = text(&w.a, "#pay-merchant").await;
    assert!(
        payee.contains("demo-bank") && payee.contains(&merchant.account_id),
        "the shop's account at its bank: {payee}"
    );
    assert_eq!(
        text(&w.a, "#pay-origin").await.trim(),
        w.shop_url,
        "the shop's site (the merchant's origin) is shown"
    );
    let here = w.a.current_url().await.expect("url").to_string();
    assert!(
        here.starts_with(&w.url) && !here.contains("payreq"),
        "the wallet, and the request left the address bar: {here}"
    );
    screenshot(&w.a, "04-pay-confirm").await;
    click(&w.a, "#pay-confirm").await;
}

/// Back at the shop's fulfillment page: the goods (an image) and a receipt
/// for people, signed by the shop's account key. Returns the payment id.
async fn goods_and_receipt(w: &Walk, merchant: &MerchantProc, order_id: &str) -> String {
    let title = wait_text(&w.a, "#goods-title", "the goods", |t| !t.is_empty()).await;
    let here = w.a.current_url().await.expect("url").to_string();
    let (page_url, fragment) = here.split_once('#').expect("a fragment");
    assert_eq!(
        page_url,
        w.shop_page(api::FulfillmentPage::path(order_id)),
        "the shop's fulfillment page"
    );
    assert!(
        !here.contains('?'),
        "the goods key is in the fragment only: {here}"
    );
    let goods_key = wallet_wasm::links::fragment_value(fragment, "goods_key")
        .unwrap_or_else(|| panic!("a goods key in the fragment: {here}"));
    // The sticker is an image: an <img> of an SVG data: URL, with a caption.
    let src = attr(&w.a, "#goods figure.goods-image img", "src")
        .await
        .unwrap_or_default();
    assert!(
        src.starts_with("data:image/svg+xml"),
        "the image: {src:.80}"
    );
    let alt = attr(&w.a, "#goods figure.goods-image img", "alt")
        .await
        .unwrap_or_default();
    assert_eq!(alt, title, "the image is named");
    let caption = text(&w.a, "#goods figure.goods-image figcaption").await;
    assert!(caption.contains(&title), "the caption: {caption}");
    let drawn =
        w.a.execute(
            "const i = document.querySelector('#goods img'); \
             return i.complete && i.naturalWidth > 0;",
            vec![],
        )
        .await
        .expect("image state");
    assert_eq!(drawn, serde_json::json!(true), "the image is drawn");
    // The receipt, written for people.
    let receipt = text(&w.a, "#receipt").await;
    assert!(receipt.contains("0.99 DEMO"), "{receipt}");
    assert_eq!(receipt_row(&w.a, "Amount").await, "0.99 DEMO");
    assert_eq!(receipt_row(&w.a, "Order").await, order_id);
    let payment_id = receipt_row(&w.a, "Payment").await;
    assert!(!receipt_row(&w.a, "Shop's signature").await.is_empty());
    let delivery = w
        .shop
        .goods(
            order_id,
            ecash_core::B32::from_b64(&goods_key).expect("a goods key"),
        )
        .await
        .expect("the goods, again");
    assert_eq!(delivery.receipt.body.payment_id.to_b64(), payment_id);
    assert_eq!(delivery.kind, GoodsKind::SvgImage);
    let shop_key = w
        .bank
        .public_key(&merchant.account_id)
        .await
        .expect("the shop's key");
    delivery
        .receipt
        .verify(&shop_key)
        .expect("the receipt is signed by the shop's account key");
    let date = receipt_row(&w.a, "Date").await;
    let unix = delivery.receipt.body.date;
    assert!(
        !date.contains(&unix.to_string())
            && date.contains(&year_of(unix).to_string())
            && date.chars().any(|c| c.is_alphabetic()),
        "a date for people, not unix time {unix}: {date:?}"
    );
    screenshot(&w.a, "05-fulfillment").await;
    payment_id
}

/// The payment went wallet → merchant → bank: the shop took it at its pay
/// URL and deposited it at the bank, which credited the shop's account with
/// this payment; the shop keeper's list and page show the order paid.
async fn paid_through_the_shop(
    w: &Walk,
    mint: &MintProc,
    merchant: &MerchantProc,
    order_id: &str,
    payment_id: &str,
) {
    let paid_at_shop = format!("POST {} 200", api::Pay::path(order_id));
    assert!(
        merchant.proc.log().contains(&paid_at_shop),
        "the merchant took the payment:\n{}",
        merchant.proc.log()
    );
    let deposited = format!("POST {} 200", api::Deposit::INFO.path);
    assert!(
        mint.proc.log().contains(&deposited),
        "the merchant deposited it at the bank:\n{}",
        mint.proc.log()
    );
    let st = shop_statement(&w.bank, merchant).await;
    assert_eq!(st.balance.value, 99, "the shop's account: {st:?}");
    assert!(
        st.ledger
            .iter()
            .any(|e| e.delta == 99 && e.reason == "deposit" && e.reference == payment_id),
        "the bank credited this payment: {:?}",
        st.ledger
    );
    let list = w.shop.orders(&merchant.admin_token).await.expect("orders");
    let o = list
        .orders
        .iter()
        .find(|o| o.payreq_id == order_id)
        .expect("the order is listed");
    assert_eq!((o.state, o.item_id.as_str()), (OrderState::Paid, "sticker"));
    assert!(o.paid_at.is_some());
    assert_eq!((list.paid, list.paid_value), (1, 99));

    // The shop keeper's page: the token rides in the fragment.
    w.a.goto(&format!(
        "{}#key={}",
        w.shop_page(api::OrdersPage::path(&())),
        merchant.admin_token
    ))
    .await
    .expect("orders page");
    let row = format!("#orders tr[data-order='{order_id}']");
    wait_text(&w.a, &format!("{row} td.state"), "the paid order", |t| {
        t.trim() == "Paid"
    })
    .await;
    assert!(text(&w.a, &row).await.contains("0.99 DEMO"));
    let here = w.a.current_url().await.expect("url").to_string();
    assert!(
        !here.contains(&merchant.admin_token),
        "the token left the address bar: {here}"
    );
    screenshot(&w.a, "05b-shop-orders").await;
}

/// Reloads the wallet: the balance persisted in IndexedDB; the screen fits
/// a phone; the payment is in the history. Returns the load time.
async fn reload_and_history(w: &Walk) -> u128 {
    let t_load = Instant::now();
    w.a.goto(&w.wallet).await.expect("wallet again");
    wait_text(
        &w.a,
        "#balance-total",
        "persisted balance",
        money("19.01 DEMO"),
    )
    .await;
    let load_ms = t_load.elapsed().as_millis();
    screenshot(&w.a, "06-reloaded").await;
    // Phone width: the same screen still fits.
    w.a.set_window_size(390, 844).await.expect("phone width");
    screenshot(&w.a, "06a-phone-width").await;
    w.a.set_window_size(1000, 1000)
        .await
        .expect("desktop width");
    click(&w.a, "#nav-history").await;
    wait_text(&w.a, "#history", "the payment in history", |t| {
        t.contains("Paid") && t.contains("signed receipt")
    })
    .await;
    screenshot(&w.a, "06b-history").await;
    load_ms
}

/// Sends a token to a second browser profile, which receives it.
async fn send_to_a_second_profile(w: &Walk, b: &fantoccini::Client) {
    click(&w.a, "#nav-send").await;
    fill(&w.a, "#send-amount", "1").await;
    click(&w.a, "#send-btn").await;
    let token = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = value(&w.a, "#token-text").await;
            if v.starts_with("ecash1") {
                break v;
            }
            assert!(Instant::now() < deadline, "no token appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    screenshot(&w.a, "07-send-token").await;
    let link = attr(&w.a, "#token-link", "href").await.expect("a link");
    assert!(
        link.starts_with(&format!("{}#token=ecash1", w.wallet)) && !link.contains('?'),
        "the token rides in the fragment: {link}"
    );
    click(&w.a, "#nav-balance").await;
    wait_text(
        &w.a,
        "#balance-total",
        "balance after send",
        money("18.01 DEMO"),
    )
    .await;

    // The second profile opens the link: the token arrives in the Receive screen.
    b.goto(&w.wallet).await.expect("open wallet b");
    click(b, "#create").await;
    wait_text(b, "#seed-phrase", "seed b", |t| t.len() == 79).await;
    click(b, "#seed-ok").await;
    b.goto(&link).await.expect("open the token link");
    let got = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = value(b, "#receive-token").await;
            if v.starts_with("ecash1") {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "the link did not fill in the token"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(got, token);
    click(b, "#receive-btn").await;
    wait_text(b, "#message", "received", |t| {
        t.starts_with("Received 1.00 DEMO")
    })
    .await;
    click(b, "#nav-balance").await;
    wait_text(b, "#balance-total", "b's balance", money("1.00 DEMO")).await;
    screenshot(b, "08-received-in-second-profile").await;
}

/// Too little money shows the message; the balance is unchanged.
async fn too_little_money(w: &Walk, b: &fantoccini::Client) {
    b.goto(&w.shop_page(api::ItemPage::path("coffee")))
        .await
        .expect("coffee");
    click(b, "#buy").await;
    click(b, "#pay-link").await;
    wait_text(b, "#pay-amount", "price", |t| t.contains("DEMO")).await;
    click(b, "#pay-confirm").await;
    let msg = wait_text(b, "#message", "insufficient funds", |t| {
        t.contains("Not enough money")
    })
    .await;
    assert!(msg.contains("you have 1.00"), "{msg}");
    screenshot(b, "09-insufficient-funds").await;
    click(b, "#nav-balance").await;
    wait_text(b, "#balance-total", "b unchanged", money("1.00 DEMO")).await;
}

/// The bank stops (SIGKILL) mid-payment while the merchant
/// stays up; after the bank restarts on the same port and data, recovery
/// finishes what was journaled. If the price needs change, the first
/// round journals the change exchange, which the wallet itself could not
/// send to the bank (recovery gives the coins back as change); the second
/// round journals the payment itself, which reached the shop, whose
/// deposit met the dead bank: the shop answers `unavailable` and keeps
/// the order for this payment, and recovery sends the same payment again
/// (or the shop's own settler deposits it first), and it completes.
async fn bank_killed_mid_payment(w: &Walk, mint: &mut MintProc, merchant: &MerchantProc) {
    let mut journaled_payment = false;
    for round in 1..=2 {
        w.a.goto(&w.shop_page(api::ItemPage::path("haiku")))
            .await
            .expect("haiku");
        click(&w.a, "#buy").await;
        click(&w.a, "#pay-link").await;
        let price = wait_text(&w.a, "#pay-amount", "price", |t| t.contains("DEMO")).await;
        assert_eq!(price.trim(), "0.25 DEMO");
        mint.proc.kill();
        click(&w.a, "#pay-confirm").await;
        let msg = wait_text(&w.a, "#message", "bank down", |t| {
            t.contains("cannot be reached")
        })
        .await;
        assert!(msg.contains("saved"), "{msg}");
        screenshot(&w.a, &format!("10-bank-down-mid-payment-round{round}")).await;
        click(&w.a, "#nav-history").await;
        let pending = wait_text(&w.a, "#pending", "pending operation", |t| !t.is_empty()).await;
        journaled_payment = pending.contains("payment");
        if journaled_payment {
            assert!(
                msg.contains("The shop's bank cannot be reached"),
                "the shop met the dead bank, not the wallet: {msg}"
            );
        }
        mint.proc.start_again();
        assert_eq!(mint.url(), w.url, "the bank is back at its address");
        w.a.goto(&w.wallet).await.expect("wallet after restart");
        wait_text(&w.a, "#message", "recovery report", |t| {
            t.contains("completed")
        })
        .await;
        let expect = if journaled_payment {
            "17.76 DEMO"
        } else {
            "18.01 DEMO"
        };
        wait_text(
            &w.a,
            "#balance-total",
            "balance after recovery",
            money(expect),
        )
        .await;
        screenshot(&w.a, &format!("11-recovered-round{round}")).await;
        click(&w.a, "#nav-history").await;
        wait_text(&w.a, "#pending-none", "nothing pending", |t| {
            t.contains("None")
        })
        .await;
        if journaled_payment {
            break;
        }
    }
    assert!(journaled_payment, "a journaled payment was recovered");
    // The recovered payment reached the bank through the shop: its account
    // holds both payments, and the shop lists two orders paid.
    let st = shop_statement(&w.bank, merchant).await;
    assert_eq!(st.balance.value, 99 + 25, "the shop's account: {st:?}");
    let list = w.shop.orders(&merchant.admin_token).await.expect("orders");
    assert_eq!((list.paid, list.paid_value), (2, 99 + 25), "{list:?}");
}
