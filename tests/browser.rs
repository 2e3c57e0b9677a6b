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
    let _ = std::fs::remove_dir_all(root().join("target/e2e-screenshots"));
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

    // 3. The shop: pick an item.
    a.goto(&format!("{url}/shop")).await.expect("shop");
    a.goto(&format!("{url}/shop/item/sticker"))
        .await
        .expect("item");
    wait_text(&a, "#pay-link", "pay link", |t| {
        t.contains("Pay with Ecash")
    })
    .await;
    screenshot(&a, "03-shop-item").await;

    // 4. Pay through the link flow.
    click(&a, "#pay-link").await;
    let amount = wait_text(&a, "#pay-amount", "payment amount", |t| t.contains("DEMO")).await;
    assert_eq!(amount.trim(), "0.99 DEMO");
    assert!(!text(&a, "#pay-description").await.trim().is_empty());
    assert!(text(&a, "#pay-merchant").await.contains("demo-bank"));
    screenshot(&a, "04-pay-confirm").await;
    click(&a, "#pay-confirm").await;

    // 5. Back at the shop's fulfillment page: goods and receipt.
    wait_text(&a, "#goods-title", "the goods", |t| !t.is_empty()).await;
    let here = a.current_url().await.expect("url").to_string();
    assert!(
        here.contains("/shop/fulfillment/") && here.contains("payment_id="),
        "{here}"
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
    click(&a, "#nav-balance").await;
    wait_text(
        &a,
        "#balance-total",
        "balance after send",
        money("18.01 DEMO"),
    )
    .await;

    let b = driver.session(&profiles.path().join("b")).await;
    b.goto(&format!("{url}/")).await.expect("open wallet b");
    click(&b, "#create").await;
    wait_text(&b, "#seed-phrase", "seed b", |t| t.len() == 79).await;
    click(&b, "#seed-ok").await;
    click(&b, "#nav-receive").await;
    fill(&b, "#receive-token", &token).await;
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
