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
use wallet_wasm::{Trust, Wallet, WalletError};

/// A certifier, and a bank with a shop that hands it its key sets every second.
fn world(certifier_args: &[&str]) -> (CertifierProc, Mint) {
    let fic = CertifierProc::start(certifier_args);
    let args = fic.mint_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mint = Mint::start_with(&args);
    (fic, mint)
}

fn pin(fic: &CertifierProc) -> Trust {
    Trust::Certifier(CertifierPin {
        key: fic.key,
        url: Some(fic.url().to_owned()),
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

    let cert = fic.issue("Mint A", &mint.url, &master_of(&mint), 86_400);
    let mut w = create_when_served(&mint, pin(&fic)).await;
    assert_eq!(w.certificate(), Some(&cert.body));
    assert_eq!(w.certifier().map(|p| p.key), Some(fic.key));
    // It works as any wallet does.
    w.faucet(300).await.expect("faucet");
    w.withdraw(200, None).await.expect("withdraw");
    assert_eq!(w.balance().total, 200);

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
    assert_eq!(w.balance().total, 200, "a refused refresh changes nothing");
}

#[tokio::test]
async fn an_unreachable_certifier_leaves_cached_papers_in_use_until_they_expire() {
    // Revocation lists are fresh for a minute; the certificate lasts 10 minutes.
    let (mut fic, mint) = world(&["--revocations-ttl-secs", "60"]);
    fic.issue("Mint A", &mint.url, &master_of(&mint), 600);
    let mut w = create_when_served(&mint, pin(&fic)).await;
    w.refresh_keys().await.expect("fresh");

    // The certifier goes away; the lists the bank relays grow stale.
    fic.proc.kill();
    mint.advance(120);
    w.refresh_keys()
        .await
        .expect("stale list, certifier unreachable: the certificate still holds");

    // Past the certificate's expiry nothing holds.
    mint.advance(600);
    let e = w.refresh_keys().await.expect_err("expired");
    assert_eq!(e.code(), "certificate_expired", "{e}");
}

fn master_of(mint: &Mint) -> ecash_core::PublicKey {
    mint.bank.master
}
