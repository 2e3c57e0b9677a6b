//! A wallet that pins a certifier (NetCash's FIC), not a bank: it takes any
//! bank the certifier vouches for, and refuses, changing nothing, a bank
//! with no certificate, another certifier's, an expired or a revoked one.
//! The bank runs in this process on the wallet's test clock; the certifier
//! is the real binary.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ecash_testkit::CertifierProc;
use wallet_wasm::records::CertifierPin;
use wallet_wasm::store::Store;
use wallet_wasm::store::memory::MemoryStore;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::{Trust, Wallet, WalletError, WalletSettings};

/// A certifier, and a bank that hands it its key sets every second and
/// certifies its shop for `merchant_secs`.
fn world_with(certifier_args: &[&str], merchant_secs: u64) -> (CertifierProc, Mint) {
    let fic = CertifierProc::start(certifier_args);
    let mut args = fic.mint_args();
    args.extend([
        "--merchant-certificate-secs".into(),
        merchant_secs.to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mint = Mint::start_with(&args);
    (fic, mint)
}

fn world(certifier_args: &[&str]) -> (CertifierProc, Mint) {
    world_with(certifier_args, 3_600)
}

fn pin(fic: &CertifierProc) -> Trust {
    Trust::Certifier(CertifierPin {
        key: fic.key,
        url: fic.url().to_owned(),
    })
}

async fn create(mint: &Mint, trust: Trust) -> Result<Wallet<MemoryStore, Flaky>, WalletError> {
    Wallet::create(
        MemoryStore::new(),
        Flaky::new(),
        &mint.url,
        trust,
        mint.settings(),
    )
    .await
    .map(|(w, _)| w)
}

/// Creates a wallet, retrying while the bank has not yet served its new
/// papers (it hands its set in every second).
async fn create_when_served(mint: &Mint, trust: Trust) -> Wallet<MemoryStore, Flaky> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match create(mint, trust.clone()).await {
            Ok(w) => return w,
            Err(e) if e.code() == "not_certified" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create: {e}"),
        }
    }
}

/// Makes every key the bank needs now (its rotation task may not have run
/// yet), then waits until the bank serves its papers for that set: the set
/// then stays the same while the test moves the clock alone.
async fn settle_keys(mint: &Mint, w: &mut Wallet<MemoryStore, Flaky>) {
    mint.bank.rotate();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = w.refresh_keys().await {
        assert!(Instant::now() < deadline, "papers for the set: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Refreshes the keys until it fails (the bank stops serving its papers
/// within a second or two); the failure.
async fn refresh_until_refused(w: &mut Wallet<MemoryStore, Flaky>) -> WalletError {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match w.refresh_keys().await {
            Err(e) => return e,
            Ok(()) => {
                assert!(Instant::now() < deadline, "still accepted");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_certified_bank_is_taken_and_one_without_papers_refused_leaving_no_wallet() {
    let (fic, mint) = world(&[]);
    // Not certified yet: refused, and nothing is stored.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("w.db");
    let store = SqliteStore::open(&path).expect("store");
    let e = Wallet::create(store, Flaky::new(), &mint.url, pin(&fic), mint.settings())
        .await
        .expect_err("uncertified");
    assert_eq!(e.code(), "not_certified", "{e}");
    let store = SqliteStore::open(&path).expect("store");
    assert!(store.load_all().await.expect("load").is_empty());

    let cert = fic.issue("Mint A", "demo-bank", &mint.url, &master_of(&mint), 86_400);
    let mut w = create_when_served(&mint, pin(&fic)).await;
    assert_eq!(w.certificate(), Some(&cert.body));
    assert_eq!(w.certifier().map(|p| p.key), Some(fic.key));
    // It works as any wallet does, and pays a shop its bank certifies.
    w.faucet(300).await.expect("faucet");
    w.withdraw(300, None).await.expect("withdraw");
    let offer = mint.order("coffee").await;
    let shop = offer
        .payreq
        .merchant_certificate
        .clone()
        .expect("the shop's payreq carries its certificate");
    assert_eq!(shop.body.merchant_id, offer.payreq.merchant_acc_id);
    let price = offer.payreq.amount.value;
    w.pay(offer.clone()).await.expect("pay a certified shop");
    assert_eq!(w.balance().total, 300 - price);

    // Refused, each changing nothing: a shop certificate by another bank,
    // one for another shop, none at all.
    let before = w.balance();
    let thief = ecash_core::Keypair::from_secret_bytes(&[9; 32]);
    let mut forged = mint.order("coffee").await;
    if let Some(c) = forged.payreq.merchant_certificate.as_mut() {
        c.signature = thief.sign(&c.body);
    }
    let e = w.pay(forged).await.expect_err("another bank's certificate");
    assert_eq!(e.code(), "payreq_invalid", "{e}");
    let mut other_shop = mint.order("coffee").await;
    other_shop.payreq.merchant_certificate = Some(shop.clone());
    other_shop.payreq.merchant_acc_id = ecash_core::messages::account_id(&thief.public());
    let e = w
        .pay(other_shop)
        .await
        .expect_err("another shop's certificate");
    assert_eq!(e.code(), "payreq_invalid", "{e}");
    let mut bare = mint.order("coffee").await;
    bare.payreq.merchant_certificate = None;
    let e = w.pay(bare).await.expect_err("no certificate");
    assert_eq!(e.code(), "payreq_invalid", "{e}");
    assert_eq!(w.balance(), before);
    assert!(w.pending().is_empty());

    // Another certifier's wallet refuses the same bank.
    let other = CertifierProc::start(&[]);
    let e = create(&mint, pin(&other))
        .await
        .expect_err("another certifier");
    assert_eq!(e.code(), "certificate_invalid", "{e}");

    // Revoked: the bank drops its papers, and the wallet refuses it.
    fic.revoke(cert.body.cert_id, "keys compromised");
    let e = refresh_until_refused(&mut w).await;
    assert!(
        matches!(e.code(), "not_certified" | "certificate_revoked"),
        "{e}"
    );
    assert_eq!(
        w.balance().total,
        300 - price,
        "a refused refresh changes nothing"
    );
}

#[tokio::test]
async fn an_expired_shop_certificate_is_refused() {
    let (fic, mint) = world_with(&[], 60);
    fic.issue("Mint A", "demo-bank", &mint.url, &master_of(&mint), 86_400);
    let mut w = create_when_served(&mint, pin(&fic)).await;
    w.faucet(100).await.expect("faucet");
    w.withdraw(100, None).await.expect("withdraw");
    let offer = mint.order("coffee").await;
    let until = offer
        .payreq
        .merchant_certificate
        .as_ref()
        .expect("certified")
        .body
        .not_after;
    mint.advance(until + 1 - mint.now());
    let e = w.pay(offer).await.expect_err("expired shop certificate");
    assert_eq!(e.code(), "payreq_invalid", "{e}");
    assert!(e.to_string().contains("valid from"), "{e}");
    assert_eq!(w.balance().total, 100);
}

#[tokio::test]
async fn an_unreachable_certifier_leaves_cached_papers_in_use_until_they_expire() {
    // Revocation lists are fresh for a minute; the certificate lasts 10 minutes.
    let (mut fic, mint) = world(&["--revocations-ttl-secs", "60"]);
    fic.issue("Mint A", "demo-bank", &mint.url, &master_of(&mint), 600);
    let mut w = create_when_served(&mint, pin(&fic)).await;
    settle_keys(&mint, &mut w).await;

    // The certifier goes away; the lists the bank relays grow stale.
    fic.proc.kill();
    mint.clock.advance(120);
    w.refresh_keys()
        .await
        .expect("stale list, certifier unreachable: the certificate still holds");

    // Past the certificate's expiry nothing holds.
    mint.clock.advance(600);
    let e = w.refresh_keys().await.expect_err("expired");
    assert_eq!(e.code(), "certificate_expired", "{e}");
}

fn master_of(mint: &Mint) -> ecash_core::PublicKey {
    mint.bank.master
}

#[tokio::test]
async fn a_fresh_list_that_revokes_the_bank_is_kept_and_refuses_it_offline_too() {
    // The bank hands its set in only hourly: it keeps relaying papers (and a
    // list) from before its revocation, as a revoked bank would.
    let mut fic = CertifierProc::start(&["--revocations-ttl-secs", "60"]);
    let args = [
        "--certifier-url".to_owned(),
        fic.url().to_owned(),
        "--certifier-key".to_owned(),
        fic.key.0.to_b64(),
        "--certify-every-secs".to_owned(),
        "3600".to_owned(),
        "--merchant-certificate-secs".to_owned(),
        "3600".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cert_mint = Mint::start_with(&args);
    let mint = &cert_mint;
    // Certified only after the bank's first try: it tries again every 2 s while refused.
    let cert = fic.issue("Mint A", "demo-bank", &mint.url, &master_of(mint), 86_400);
    let mut w = create_when_served(mint, pin(&fic)).await;
    w.faucet(100).await.expect("faucet");
    w.withdraw(100, None).await.expect("withdraw");
    settle_keys(mint, &mut w).await;

    fic.revoke(cert.body.cert_id, "coins extorted");
    mint.clock.advance(120);
    let e = w.refresh_keys().await.expect_err("revoked");
    assert_eq!(e.code(), "certificate_revoked", "{e}");

    // The certifier goes away; the bank still relays its old papers. The
    // list kept refuses the bank for payments from the cached keys too.
    fic.proc.kill();
    let offer = mint.order("coffee").await;
    let e = w.pay(offer).await.expect_err("revoked, offline");
    assert_eq!(e.code(), "certificate_revoked", "{e}");
    let e = w.refresh_keys().await.expect_err("revoked, certifier down");
    assert_eq!(e.code(), "certificate_revoked", "{e}");
    let e = w
        .withdraw(10, None)
        .await
        .expect_err("no new coins of a revoked bank");
    assert_eq!(e.code(), "certificate_revoked", "{e}");
    assert_eq!(w.balance().total, 100);
}

/// NetCash across banks, all real binaries: a wallet whose coins are bank
/// A's pays a shop banking at bank B (B clears with A). The wallet fetches
/// B's key set from the address the payreq names and takes it only with
/// B's certificate by the pinned certifier, seals the payment to B, and
/// checks B's ack, the shop's certificate by B and the receipt; B clears
/// the coins at A, and the payer proves the payment at B.
#[tokio::test]
async fn a_wallet_of_bank_a_pays_a_shop_of_bank_b_which_clears_at_a() {
    use ecash_testkit::MerchantProc;
    // The test kit's helpers block: they run off this test's runtime.
    let (fic, a, b, shop) = tokio::task::spawn_blocking(|| {
        let fic = CertifierProc::start(&[]);
        let a = fic.certified_mint("Mint A", "mint-a", &[]);
        let b = fic.clearing_mint(
            "Mint B",
            "mint-b",
            a.url(),
            &["--merchant-certificate-secs", "3600"],
        );
        let shop = MerchantProc::start(b.url(), &b.master, &["--label", "Shop at B"]);
        (fic, a, b, shop)
    })
    .await
    .expect("the network starts");
    let shop_client = ecash_core::client::MerchantClient::new(
        shop.url(),
        ecash_http::ReqwestTransport::new().expect("http"),
    );
    let order_url = async || {
        let payreq = shop_client.order("coffee").await.expect("order");
        shop_client.payreq_url(&payreq.payreq_id)
    };
    let settings = WalletSettings {
        restore_gap: 8,
        ..WalletSettings::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut w = loop {
        match Wallet::create(
            MemoryStore::new(),
            Flaky::new(),
            a.url(),
            pin(&fic),
            settings.clone(),
        )
        .await
        {
            Ok((w, _)) => break w,
            Err(e) if e.code() == "not_certified" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create: {e}"),
        }
    };
    w.faucet(1000).await.expect("faucet");
    w.withdraw(1000, None).await.expect("withdraw at A");

    let offer = w
        .fetch_payreq(&order_url().await)
        .await
        .expect("the shop's payment request");
    assert_eq!(offer.payreq.merchant_bank_id, "mint-b");
    assert_eq!(offer.payreq.merchant_bank_url.as_deref(), Some(b.url()));
    assert!(
        offer.payreq.accepts("mint-a"),
        "{:?}",
        offer.payreq.accepted_mints
    );
    w.check_payreq(&offer).expect("payable from A's coins");
    let price = offer.payreq.amount.value;
    let done = w.pay(offer.clone()).await.expect("paid across banks");
    assert_eq!(w.balance().total, 1000 - price);
    let wallet_wasm::records::Event::Paid {
        receipt,
        deposit_ack,
        merchant_bank,
        payment_id,
        ..
    } = &done.entry.event
    else {
        panic!("a payment")
    };
    assert!(receipt.is_some(), "the receipt checks out");
    deposit_ack
        .as_ref()
        .expect("B's ack")
        .verify(&b.master)
        .expect("signed by B");
    assert_eq!(merchant_bank.as_ref().map(|m| m.master_key), Some(b.master));
    // The payer proves the payment at the merchant's bank, B.
    let proof = w.prove_payment(payment_id).await.expect("a proof at B");
    proof.verify(&b.master).expect("B's proof");

    // Refused, changing nothing: a payreq naming an address that is not B's
    // (A answers there: another bank than the payreq's), a bank that takes
    // no coins of A.
    let before = w.balance();
    let mut elsewhere = w.fetch_payreq(&order_url().await).await.expect("payreq");
    elsewhere.payreq.merchant_bank_url = Some(a.url().to_owned());
    let e = w.pay(elsewhere).await.expect_err("the address is not B's");
    assert_eq!(e.code(), "payreq_invalid", "{e}");
    assert_eq!(w.balance(), before);
    assert!(w.pending().is_empty());

    // Banks the wallet cannot hold beside its own: its own bank, something
    // that is no bank. Nothing is added.
    let e = w
        .add_mint(a.url())
        .await
        .expect_err("A is the wallet's own bank");
    assert_eq!(e.code(), "invalid_input", "{e}");
    assert!(
        w.add_mint(fic.url()).await.is_err(),
        "the certifier is no bank"
    );
    assert_eq!(w.mints().len(), 1);

    // A shop that takes only its own bank's coins: the wallet exchanges
    // the price into B's coins at B (anonymously: no account), then pays
    // with them; B is kept as a known bank.
    let mut only_b = w.fetch_payreq(&order_url().await).await.expect("payreq");
    only_b.payreq.accepted_mints.clear();
    w.pay(only_b)
        .await
        .expect("exchanged into B, then paid with B's coins");
    let mints = w.mints();
    assert_eq!(mints.len(), 2, "{mints:?}");
    assert_eq!((mints[0].bank_id.as_str(), mints[0].own), ("mint-a", true));
    assert_eq!(mints[0].total, 1000 - 2 * price);
    assert_eq!(
        (mints[1].bank_id.as_str(), mints[1].name.as_str()),
        ("mint-b", "Mint B")
    );
    assert_eq!(mints[1].total, 0, "exactly the price was exchanged");

    // The anonymous A→B exchange asked for: 300 of A's coins become B's.
    let added = w.add_mint(&format!("{}/", b.url())).await.expect("B again");
    assert_eq!(added.url, b.url());
    // B acts but its answer is lost: the exchange stays journaled, and
    // recovery sends it to B again, which replays it: 300, not 600.
    let exchange_at_b = format!("{}/exchange", b.url());
    w.transport().inject(&exchange_at_b, Fault::DropAnswer, 1);
    let e = w
        .exchange_into("mint-b", 300, None)
        .await
        .expect_err("the answer is lost");
    assert_eq!(e.code(), "interrupted", "{e}");
    assert_eq!(w.pending().len(), 1);
    assert_eq!(w.mints()[1].total, 0);
    w.recover().await.expect("recovered at B");
    assert!(w.pending().is_empty());
    let body = w
        .transport()
        .posts
        .borrow()
        .iter()
        .rev()
        .find(|(u, _)| u == &exchange_at_b)
        .map(|(_, b)| b.clone())
        .expect("the exchange went to B");
    assert!(
        !body.contains(w.account_id()),
        "the exchange names no account"
    );
    let mints = w.mints();
    assert_eq!(mints[0].total, 1000 - 2 * price - 300);
    assert_eq!(mints[1].total, 300);
    assert!(
        w.coins().iter().filter(|c| c.bank_id.is_some()).all(|c| {
            let keys = w.other_key_set("mint-b").expect("B's keys");
            c.coin
                .verify(&keys.key(&c.coin.key_id).expect("B's key").key)
                .is_ok()
        }),
        "B's coins verify under B's keys"
    );
    let e = w
        .exchange_into("mint-b", 1_000_000, None)
        .await
        .expect_err("more than the wallet holds");
    assert_eq!(e.code(), "insufficient_funds", "{e}");
    let e = w
        .exchange_into("mint-c", 10, None)
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), "invalid_input", "{e}");

    // With enough of B's coins, a shop at B is paid with them: no clearing.
    let offer = w.fetch_payreq(&order_url().await).await.expect("payreq");
    w.pay(offer).await.expect("paid with B's coins");
    let mints = w.mints();
    assert_eq!(
        mints[0].total,
        1000 - 2 * price - 300,
        "A's coins untouched"
    );
    assert_eq!(mints[1].total, 300 - price);
    assert!(w.pending().is_empty());

    // Another certified bank that calls itself mint-b takes nothing over:
    // the certifier gives the id to B alone, so E's certificate names
    // another, and no key set of E's under B's id is attested; wallets take
    // none. B's coins and operations stay with the B the wallet knows.
    let fic2 = std::sync::Arc::new(fic);
    let f = fic2.clone();
    let impostor = tokio::task::spawn_blocking(move || {
        let mut args = f.mint_args();
        args.extend(["--bank-id".to_owned(), "mint-b".to_owned()]);
        let e =
            ecash_testkit::MintProc::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let taken = f.command(&[
            "issue",
            "--cs-name",
            "Mint E",
            "--bank-id",
            "mint-b",
            "--cs-addr",
            e.url(),
            "--master-key",
            &e.master.0.to_b64(),
        ]);
        assert!(taken.is_err_and(|m| m.contains("bank id")), "mint-b is B's");
        f.issue("Mint E", "mint-e", e.url(), &e.master, 86_400);
        e
    })
    .await
    .expect("a second mint-b starts");
    let net = || ecash_http::ReqwestTransport::new().expect("http");
    let its_keys = ecash_core::client::BankClient::new(impostor.url(), net())
        .keys()
        .await
        .expect("its key set");
    assert!(its_keys.certification.is_none(), "never attested");
    let refused = ecash_core::client::CertifierClient::new(fic2.url(), net())
        .attest(&its_keys.key_set)
        .await
        .expect_err("the bank id is another mint's");
    assert!(
        matches!(
            &refused,
            ecash_core::client::CallError::Refused { status: 409, error, .. }
                if error.code == ecash_core::ErrorCode::KeySetConflict
        ),
        "{refused}"
    );
    let e = w
        .add_mint(impostor.url())
        .await
        .expect_err("no attestation, no bank");
    assert_eq!(e.code(), "not_certified", "{e}");
    assert_eq!(w.mints(), mints, "nothing changed");

    // The wallet that made B's coins finds none to add at B: it scans from
    // its own counters, past every coin it made (held, spent or journaled),
    // so coins it spent never come back, whatever B's cached spent list says.
    let own_scan = w.restore_mint("mint-b", None).await.expect("scanned");
    assert_eq!((own_scan.found, own_scan.unspent), (0, 0));
    assert_eq!(w.mints(), mints, "nothing changed");

    // A restore from the phrase finds the coins of the wallet's own bank;
    // B's come back once B is added again and scanned there.
    let phrase = w.seed_phrase();
    let (mut r, report) = Wallet::restore(
        MemoryStore::new(),
        Flaky::new(),
        a.url(),
        pin(&fic2),
        &phrase,
        settings.clone(),
        None,
    )
    .await
    .expect("restored at A");
    assert_eq!(report.value, mints[0].total);
    r.add_mint(b.url()).await.expect("B added again");
    // Not before B is scanned: new coins there would repeat old ones.
    let e = r
        .exchange_into("mint-b", 10, None)
        .await
        .expect_err("B not scanned yet");
    assert!(
        e.code() == "invalid_input" && e.to_string().contains("Find my coins"),
        "{e}"
    );
    // A scan cut half-way (its first window's counters reserved, the
    // answer lost) loses nothing: B stays unscanned, and the next scan
    // starts at zero again.
    r.transport()
        .inject(&format!("{}/restore", b.url()), Fault::DropAnswer, 1);
    let e = r
        .restore_mint("mint-b", None)
        .await
        .expect_err("the answer is lost");
    assert_eq!(e.code(), "unreachable", "{e}");
    let at_b = r.restore_mint("mint-b", None).await.expect("scanned at B");
    assert_eq!(
        (at_b.unspent, at_b.value),
        (
            w.coins().iter().filter(|c| c.bank_id.is_some()).count(),
            mints[1].total
        )
    );
    assert!(at_b.found > at_b.unspent, "the coins paid were found spent");
    assert_eq!(r.mints(), mints, "every bank's share is back");
    let again = r.restore_mint("mint-b", None).await.expect("again");
    assert_eq!(again.unspent, 0, "coins held stay as they are");
    assert_eq!(r.balance().total, w.balance().total);
    // New coins at B never reuse a restored coin's secrets.
    r.exchange_into("mint-b", 10, None)
        .await
        .expect("counters moved past the restored coins");
    assert_eq!(r.mints()[1].total, mints[1].total + 10);

    // Reopened from its store, the wallet still knows B and its coins.
    let total = w.balance().total;
    let (store, net) = w.into_parts();
    let w = Wallet::open(store, net, settings).await.expect("reopen");
    assert_eq!(w.mints(), mints);
    assert_eq!(w.balance().total, total);
}
