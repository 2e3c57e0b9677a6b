//! Two wallets (the real wallet core) talk to the real mint and demo shop
//! through a proxy that drops, delays, cuts mid-body and duplicates
//! requests, while they withdraw, pay, send to each other, receive and
//! exchange at random for a bounded time. Then the network heals, both
//! recover, and the money is counted: accounts + coins held + payments made
//! equals every credit, the shop holds exactly what was paid, and every
//! coin held is unspent at the bank.
//!
//! `FAULT_SECS` bounds the faulty phase (default 20; `make faults` runs 300).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use browser_e2e::proxy::Proxy;
use browser_e2e::{Mint, free_port};
use ecash_core::messages::{AccountQuery, AccountStatement, CoinStateRequest, CoinStateResponse};
use ecash_core::{B32, Keypair};
use wallet_wasm::records::Event;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::transport::http::ReqwestTransport;
use wallet_wasm::{Offer, Wallet, WalletSettings};

type W = Wallet<SqliteStore, ReqwestTransport>;

async fn wallet(dir: &Path, name: &str, bank: &str, faucet: u64) -> W {
    let store = SqliteStore::open(&dir.join(format!("{name}.db"))).expect("store");
    let net = ReqwestTransport::new().expect("http");
    let (mut w, _) = Wallet::create(store, net, bank, None, WalletSettings::default())
        .await
        .expect("create");
    w.faucet(faucet).await.expect("faucet");
    w
}

/// A fresh order at the shop behind the proxy (may fail: the network is faulty).
async fn order(http: &reqwest::Client, shop: &str, item: &str) -> Option<Offer> {
    let r = http
        .post(format!("{shop}/shop/api/orders"))
        .json(&serde_json::json!({ "item_id": item }))
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 201 {
        return None;
    }
    let payreq = r.json().await.ok()?;
    Some(Offer {
        payreq,
        origin: shop.to_owned(),
    })
}

fn paid(w: &W) -> u64 {
    w.history()
        .iter()
        .filter(|h| matches!(h.event, Event::Paid { .. }))
        .map(|h| h.amount)
        .sum()
}

/// The shop's balance, asked with its own key (read from the mint's data dir).
async fn shop_balance(mint: &Mint) -> u64 {
    let secret = std::fs::read_to_string(mint.data.path().join("shop/merchant.key")).expect("key");
    let key = Keypair::from_secret_bytes(&B32::from_b64(secret.trim()).expect("b64").0);
    let id = ecash_core::messages::account_id(&key.public());
    let ts = wallet_wasm::platform::now();
    let sig = key.sign(&AccountQuery {
        account_id: id.clone(),
        timestamp: ts,
    });
    let st: AccountStatement = reqwest::Client::new()
        .get(format!("{}/accounts/{id}", mint.url))
        .header("x-ecash-timestamp", ts.to_string())
        .header("x-ecash-signature", sig.0.to_b64())
        .send()
        .await
        .expect("statement")
        .json()
        .await
        .expect("json");
    st.balance.value
}

#[tokio::test(flavor = "current_thread")]
async fn wallets_on_a_faulty_network_lose_no_money() {
    let secs: u64 = std::env::var("FAULT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let proxy_port = free_port();
    let shop_url = format!("http://127.0.0.1:{proxy_port}");
    let mint = Mint::start_with(&["--public-url", &shop_url], false);
    let upstream = mint.url.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start(proxy_port, &upstream, None);
    let dir = tempfile::tempdir().expect("tmp");
    let (fa, fb) = (6_000, 3_000);
    let mut a = wallet(dir.path(), "a", &proxy.url, fa).await;
    let mut b = wallet(dir.path(), "b", &proxy.url, fb).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http");
    let items = ["haiku", "sticker", "notes", "coffee"];
    let mut tokens: Vec<(bool, String)> = vec![]; // (for b, token)
    let mut tally: BTreeMap<(&str, bool), u64> = BTreeMap::new();

    proxy.faults(true);
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let (op, ok) = match fastrand::u32(..9) {
            0 => (
                "withdraw",
                a.withdraw(1 + fastrand::u64(..300), None).await.is_ok(),
            ),
            1 => (
                "withdraw",
                b.withdraw(1 + fastrand::u64(..200), None).await.is_ok(),
            ),
            n @ (2 | 3) => {
                let w = if n == 2 { &mut a } else { &mut b };
                match order(&http, &shop_url, items[fastrand::usize(..items.len())]).await {
                    Some(o) => ("pay", w.pay(o).await.is_ok()),
                    None => ("order", false),
                }
            }
            n @ (4 | 5) => {
                let to_b = n == 4;
                let (from, to) = if to_b {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                match from.send(1 + fastrand::u64(..60)).await {
                    Ok(t) => {
                        let received = to.receive(&t).await.is_ok();
                        if !received {
                            tokens.push((to_b, t));
                        }
                        ("send+receive", received)
                    }
                    Err(_) => ("send", false),
                }
            }
            6 => ("exchange", a.exchange_all().await.is_ok()),
            7 => ("exchange", b.exchange_all().await.is_ok()),
            _ => {
                let w = if fastrand::bool() { &mut a } else { &mut b };
                ("recover", w.recover().await.is_ok())
            }
        };
        *tally.entry((op, ok)).or_default() += 1;
    }

    // The network heals: every journaled operation finishes, every token is claimed.
    proxy.faults(false);
    for round in 0.. {
        let ra = a.recover().await.expect("recover a");
        let rb = b.recover().await.expect("recover b");
        if a.pending().is_empty() && b.pending().is_empty() {
            break;
        }
        assert!(
            round < 5,
            "still pending: {ra:?} {rb:?} {:?} {:?}",
            a.pending(),
            b.pending()
        );
    }
    for (to_b, t) in &tokens {
        let w = if *to_b { &mut b } else { &mut a };
        if let Err(e) = w.receive(t).await {
            // Claimed already, by an exchange that recovery finished.
            assert_eq!(e.code(), "coin_spent", "{e}");
        }
    }
    assert!(a.pending().is_empty() && b.pending().is_empty());

    let acct = |st: AccountStatement| st.balance.value;
    let (ca, cb) = (
        acct(a.account_statement().await.expect("a's account")),
        acct(b.account_statement().await.expect("b's account")),
    );
    let (ha, hb) = (a.balance().total, b.balance().total);
    let (pa, pb) = (paid(&a), paid(&b));
    println!(
        "faulty phase {secs}s; operations (kind, succeeded) → count: {tally:?}; proxy (requests, faults): {:?}",
        proxy.report()
    );
    println!("accounts {ca}+{cb}, coins {ha}+{hb}, paid {pa}+{pb}");
    assert_eq!(
        ca + cb + ha + hb + pa + pb,
        fa + fb,
        "money held plus paid changed"
    );
    assert_eq!(
        shop_balance(&mint).await,
        pa + pb,
        "the shop holds exactly what was paid"
    );
    // No coin lost: every coin a wallet holds is unspent at the bank.
    let serials: Vec<B32> = a
        .coins()
        .iter()
        .chain(b.coins().iter())
        .map(|r| r.coin.serial)
        .collect();
    for chunk in serials.chunks(200) {
        let st: CoinStateResponse = reqwest::Client::new()
            .post(format!("{}/coins/state", mint.url))
            .json(&CoinStateRequest {
                serials: chunk.to_vec(),
            })
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
        assert!(st.spent.iter().all(|s| !s), "a wallet holds a spent coin");
    }
    let total_ops: u64 = tally.values().sum();
    assert!(total_ops >= 10, "too few operations ran: {tally:?}");
}
