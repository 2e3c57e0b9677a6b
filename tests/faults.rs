//! Two wallets (the real wallet core) talk to the real mint and the real
//! demo merchant through proxies that drop, delay, cut mid-body and
//! duplicate requests, while they withdraw, pay, send to each other,
//! receive and exchange at random for a bounded time. One proxy stands in
//! front of the bank (the wallets' bank URL, and the merchant's too: its
//! deposits cross the same faulty network), one in front of the merchant
//! (its public URL: orders and payments go through it). Then the network
//! heals, both wallets recover, and the money is counted: accounts + coins
//! held + payments made equals every credit, the shop's account at the bank
//! holds exactly what was paid, and every coin held is unspent at the bank.
//!
//! `FAULT_SECS` bounds the faulty phase (default 20; `make faults` runs 300).

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use browser_e2e::{
    MerchantClient, ReqwestTransport, bank_client, bank_mint, funded_wallet, merchant_behind_proxy,
    paid, proxy_to, shop_client, shop_statement,
};
use ecash_core::messages::AccountStatement;
use wallet_wasm::Offer;

/// A fresh order at the shop behind its proxy (may fail: the network is faulty).
async fn order(shop: &MerchantClient<ReqwestTransport>, item: &str) -> Option<Offer> {
    let payreq = shop.order(item).await.ok()?;
    Some(Offer {
        payreq,
        origin: shop.base().to_owned(),
    })
}

#[tokio::test(flavor = "current_thread")]
async fn wallets_on_a_faulty_network_lose_no_money() {
    let secs: u64 = std::env::var("FAULT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mint = bank_mint(&[]);
    let bank_proxy = proxy_to(&mint);
    let (merchant, shop_proxy) = merchant_behind_proxy(&mint, &bank_proxy.url, None, &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let (fa, fb) = (6_000, 3_000);
    let mut a = funded_wallet(dir.path(), "a", &bank_proxy.url, fa).await;
    let mut b = funded_wallet(dir.path(), "b", &bank_proxy.url, fb).await;
    let shop = shop_client(&shop_proxy.url);
    let items = ["haiku", "sticker", "notes", "coffee"];
    let mut tokens: Vec<(bool, String)> = vec![]; // (for b, token)
    let mut tally: BTreeMap<(&str, bool), u64> = BTreeMap::new();

    bank_proxy.faults(true);
    shop_proxy.faults(true);
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
                match order(&shop, items[fastrand::usize(..items.len())]).await {
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
    bank_proxy.faults(false);
    shop_proxy.faults(false);
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
        "faulty phase {secs}s; operations (kind, succeeded) → count: {tally:?}; bank proxy (requests, faults): {:?}; shop proxy (requests, faults): {:?}",
        bank_proxy.report(),
        shop_proxy.report()
    );
    println!("accounts {ca}+{cb}, coins {ha}+{hb}, paid {pa}+{pb}");
    assert_eq!(
        ca + cb + ha + hb + pa + pb,
        fa + fb,
        "money held plus paid changed"
    );
    // Asked of the bank directly, with the shop's own key.
    let bank = bank_client(mint.url());
    let shop_account = shop_statement(&bank, &merchant).await;
    assert_eq!(
        shop_account.balance.value,
        pa + pb,
        "the shop holds exactly what was paid"
    );
    // The shop's own books agree: its paid orders sum to the same.
    let books = shop
        .orders(&merchant.admin_token)
        .await
        .expect("the shop's orders");
    assert_eq!(
        books.paid_value,
        pa + pb,
        "the shop's paid orders: {} of {} listed",
        books.paid,
        books.orders.len()
    );
    // No coin lost: every coin a wallet holds is unspent at the bank.
    let held: Vec<ecash_core::messages::CoinRef> = a
        .coins()
        .iter()
        .chain(b.coins().iter())
        .map(|r| r.coin.id())
        .collect();
    for chunk in held.chunks(200) {
        let spent = bank.coin_state(chunk.to_vec()).await.expect("coin state");
        assert_eq!(spent.len(), chunk.len());
        assert!(spent.iter().all(|s| !s), "a wallet holds a spent coin");
    }
    let total_ops: u64 = tally.values().sum();
    assert!(total_ops >= 10, "too few operations ran: {tally:?}");
}
