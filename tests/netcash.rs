//! NetCash in the browser: the web wallet pins the certifier its own origin
//! configures (`wallet-config.json`), takes a bank that certifier vouches
//! for, shows who vouches for it, and refuses a bank it does not vouch for.
//! Real certifier and mint binaries, real headless Chromium; screenshots
//! under `target/e2e-screenshots/`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use browser_e2e::*;
use ecash_testkit::{CertifierProc, MintProc};

/// Copies the built wallet to `to`, with a `wallet-config.json` pinning `fic`.
fn wallet_files(to: &Path, fic: &CertifierProc) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read dist") {
            let e = e.expect("entry");
            let target = to.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).expect("copy");
            }
        }
    }
    copy(&dist(), to);
    let config = serde_json::json!({
        "certifier_key": fic.key.0.to_b64(),
        "certifier_url": fic.url(),
    });
    std::fs::write(to.join("wallet-config.json"), config.to_string()).expect("config");
}

/// A mint serving the wallet in `web`, handing its key sets to `fic`.
fn certified_mint(web: &Path, fic: &CertifierProc) -> MintProc {
    let web = web.to_string_lossy().into_owned();
    let mut args = vec![
        "--web-dir".to_owned(),
        web,
        "--merchant-certificate-secs".to_owned(),
        "3600".to_owned(),
    ];
    args.extend(fic.mint_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    MintProc::start(&args)
}

/// Takes 5 DEMO from the faucet into coins, orders a sticker at the shop at
/// `shop_url` and follows its pay link to the wallet's pay screen.
async fn withdraw_and_open_pay(s: &fantoccini::Client, shop_url: &str) {
    click(s, "#nav-withdraw").await;
    fill(s, "#faucet-amount", "5").await;
    click(s, "#faucet-btn").await;
    wait_text(s, "#account-balance", "account balance", money("5.00 DEMO")).await;
    fill(s, "#withdraw-amount", "5").await;
    click(s, "#withdraw-btn").await;
    wait_text(s, "#message", "withdraw done", |t| {
        t.starts_with("Withdrew")
    })
    .await;
    s.goto(&format!("{shop_url}/item/sticker"))
        .await
        .expect("shop");
    click(s, "#buy").await;
    wait_text(s, "#pay-link", "pay link", |t| t.contains("Pay with Ecash")).await;
    click(s, "#pay-link").await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_web_wallet_pins_the_certifier_and_shows_who_vouches_for_its_bank() {
    let fic = CertifierProc::start(&[]);
    let web = tempfile::tempdir().expect("web dir");
    wallet_files(web.path(), &fic);
    let certified = certified_mint(web.path(), &fic);
    let uncertified = certified_mint(web.path(), &fic);
    fic.certify("Mint A", &certified);
    let shop = merchant_at(&certified, &["--label", "Sticker shop"]);
    // The mint hands its set in every second; wait until it serves the papers.
    let bank = bank_client(certified.url());
    for _ in 0..100 {
        if bank.keys().await.expect("keys").certification.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let driver = Driver::start();
    let profiles = tempfile::tempdir().expect("profiles");

    // A bank the certifier does not vouch for: refused, no wallet made.
    let b = driver.session(&profiles.path().join("b")).await;
    b.goto(&wallet_url(&uncertified)).await.expect("open");
    click(&b, "#create").await;
    wait_text(&b, "#message", "the refusal", |t| {
        t.contains("not vouched for by the certifier")
    })
    .await;
    screenshot(&b, "netcash-01-uncertified-bank-refused").await;
    assert!(
        b.find(fantoccini::Locator::Css("#seed-phrase"))
            .await
            .is_err(),
        "a wallet was made for an uncertified bank"
    );

    // A certified bank: the wallet is made, and says who vouches for it.
    let a = driver.session(&profiles.path().join("a")).await;
    a.goto(&wallet_url(&certified)).await.expect("open");
    click(&a, "#create").await;
    wait_text(&a, "#seed-phrase", "the seed phrase", |t| t.len() == 79).await;
    click(&a, "#seed-ok").await;
    click(&a, "#nav-settings").await;
    let shown = wait_text(&a, "#settings-certificate", "the certificate", |t| {
        t.contains("Mint A")
    })
    .await;
    assert!(shown.contains(&fic.key.fingerprint()), "{shown}");
    screenshot(&a, "netcash-02-certified-bank-settings").await;

    // It pays a shop its bank certifies, and shows the certified name first.
    withdraw_and_open_pay(&a, shop.url()).await;
    let payee = wait_text(&a, "#pay-merchant", "the payee", |t| !t.is_empty()).await;
    assert!(
        payee.starts_with("Sticker shop (certified by") && payee.contains(&shop.account_id),
        "{payee}"
    );
    screenshot(&a, "netcash-03-pay-a-certified-shop").await;
    click(&a, "#pay-confirm").await;
    wait_text(&a, "#goods-title", "the goods", |t| !t.is_empty()).await;
    screenshot(&a, "netcash-04-paid").await;
}

/// Coins of mint A pay a shop that banks at mint B, from the wallet page:
/// the wallet takes B's key set only with B's certificate by the pinned
/// certifier, shows the shop's name as B certifies it and B as its bank,
/// pays, and the shop is credited at B, which cleared the coins at A. Then
/// the wallet adds B, exchanges coins of A into B's at B, and pays with them.
#[tokio::test(flavor = "current_thread")]
async fn the_web_wallet_of_mint_a_pays_a_shop_of_mint_b() {
    let fic = CertifierProc::start(&[]);
    let web = tempfile::tempdir().expect("web dir");
    wallet_files(web.path(), &fic);
    let a = certified_mint(web.path(), &fic);
    fic.certify("Mint A", &a);
    let a_url = a.url().to_owned();
    // The test kit's helpers block: off this test's runtime.
    // The certifier stays up as long as it is held.
    let (_fic, b) = tokio::task::spawn_blocking(move || {
        let b = fic.clearing_mint(
            "Mint B",
            "mint-b",
            &a_url,
            &["--merchant-certificate-secs", "3600"],
        );
        (fic, b)
    })
    .await
    .expect("B clears with A");
    let b_url = b.url().to_owned();
    let shop = ecash_testkit::MerchantProc::start(
        &b_url,
        &b.master,
        &["--label", "Sticker shop at B", "--wallet-url", a.url()],
    );
    let bank = bank_client(a.url());
    for _ in 0..100 {
        if bank.keys().await.expect("keys").certification.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let driver = Driver::start();
    let profiles = tempfile::tempdir().expect("profiles");
    let s = driver.session(&profiles.path().join("a")).await;
    s.goto(&wallet_url(&a)).await.expect("open");
    click(&s, "#create").await;
    wait_text(&s, "#seed-phrase", "the seed phrase", |t| t.len() == 79).await;
    click(&s, "#seed-ok").await;
    withdraw_and_open_pay(&s, shop.url()).await;
    let payee = wait_text(&s, "#pay-merchant", "the payee", |t| !t.is_empty()).await;
    assert!(
        payee.starts_with("Sticker shop at B (certified by mint-b"),
        "{payee}"
    );
    let their_bank = wait_text(&s, "#pay-bank", "the shop's bank", |t| !t.is_empty()).await;
    assert_eq!(their_bank, format!("mint-b at {}", b.url()));
    screenshot(&s, "netcash-05-pay-a-shop-of-another-mint").await;
    click(&s, "#pay-confirm").await;
    wait_text(&s, "#goods-title", "the goods", |t| !t.is_empty()).await;
    screenshot(&s, "netcash-06-paid-across-mints").await;
    // Credited at B, which holds the coins' value at A.
    let shop_bank = bank_client(b.url());
    let peers = shop_bank.peers().await.expect("B's peers");
    assert_eq!(peers.peers.len(), 1);
    let keeper = ecash_core::client::MerchantClient::new(shop.url(), ecash_testkit::transport());
    let orders = keeper.orders(&shop.admin_token).await.expect("orders");
    assert_eq!(orders.paid, 1, "the shop's order is paid");

    // The anonymous A→B exchange from the wallet page: B added by its
    // address (its certificate checked), 2.00 of A's coins exchanged into
    // B's at B; then a shop at B is paid with B's coins.
    s.goto(&wallet_url(&a)).await.expect("back to the wallet");
    click(&s, "#nav-mints").await;
    fill(&s, "#mint-url", &b_url).await;
    click(&s, "#mint-add-btn").await;
    wait_text(&s, "#message", "B added", |t| t.starts_with("Added Mint B")).await;
    let b_row = "#mints tr[data-bank='mint-b'] .mint-total";
    wait_text(&s, b_row, "B's share", money("0.00 DEMO")).await;
    fill(&s, "#exchange-amount", "2").await;
    click(&s, "#exchange-into-btn").await;
    wait_text(&s, "#message", "exchanged", |t| {
        t.starts_with("Exchanged 2.00 DEMO")
    })
    .await;
    wait_text(&s, b_row, "B's share", money("2.00 DEMO")).await;
    let a_row = "#mints tbody tr:first-child .mint-total";
    wait_text(&s, a_row, "A's share", money("2.01 DEMO")).await;
    screenshot(&s, "netcash-07-exchanged-into-mint-b").await;
    s.goto(&format!("{}/item/sticker", shop.url()))
        .await
        .expect("shop");
    click(&s, "#buy").await;
    wait_text(&s, "#pay-link", "pay link", |t| {
        t.contains("Pay with Ecash")
    })
    .await;
    click(&s, "#pay-link").await;
    wait_text(&s, "#pay-bank", "the shop's bank", |t| !t.is_empty()).await;
    click(&s, "#pay-confirm").await;
    wait_text(&s, "#goods-title", "the goods", |t| !t.is_empty()).await;
    s.goto(&wallet_url(&a)).await.expect("back to the wallet");
    click(&s, "#nav-mints").await;
    wait_text(&s, b_row, "B's share", money("1.01 DEMO")).await;
    wait_text(&s, a_row, "A's share", money("2.01 DEMO")).await;
    click(&s, "#nav-balance").await;
    wait_text(&s, "#balance-by-bank", "shares", |t| {
        t.contains("Mint B: 1.01 DEMO")
    })
    .await;
    screenshot(&s, "netcash-08-paid-with-mint-b-coins").await;
    // "Find my coins" scans B for this seed's coins (what a restored wallet
    // needs): the ones held stay as they are, nothing is added twice.
    click(&s, "#nav-mints").await;
    click(&s, "#mints tr[data-bank='mint-b'] .mint-restore").await;
    wait_text(&s, "#message", "scanned at B", |t| {
        t.starts_with("Found 0 unspent coins worth 0.00 DEMO at mint-b")
    })
    .await;
    wait_text(&s, b_row, "B's share", money("1.01 DEMO")).await;
    let orders = keeper.orders(&shop.admin_token).await.expect("orders");
    assert_eq!(orders.paid, 2, "both orders are paid");
}
