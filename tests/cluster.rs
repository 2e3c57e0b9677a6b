//! One mint as three nodes on PostgreSQL behind nginx: real wallets (the
//! wallet core) and the demo shop know only nginx's URL. They withdraw,
//! pay, send and receive, and exchange while one node is killed and comes
//! back; nginx sends each request to a node that answers. The money adds
//! up, and `mint-bench` runs through the same URL.
#![cfg(feature = "pg-tests")]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use browser_e2e::{funded_wallet, paid, shop_client};
use ecash_testkit::nginx::Nginx;
use ecash_testkit::{MerchantProc, MintProc, PgBooks};
use wallet_wasm::Offer;

#[tokio::test(flavor = "current_thread")]
async fn wallets_shop_and_bench_through_nginx_in_front_of_three_nodes() {
    let books = PgBooks::new();
    let mut args = books.args();
    args.extend(
        [
            "--demo-faucet",
            "--faucet-max",
            "1000000000000",
            "--trusted-proxy",
            "127.0.0.1",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut nodes: Vec<MintProc> = (0..3).map(|_| MintProc::start_with(&args)).collect();
    let lb = Nginx::start(
        &nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.proc.port()))
            .collect::<Vec<_>>(),
    );
    let merchant = MerchantProc::start(&lb.url, &nodes[0].master, &[]);
    let shop = shop_client(merchant.url());
    let dir = tempfile::tempdir().expect("tmp");
    let (fa, fb) = (4_000, 1_000);
    let mut a = funded_wallet(dir.path(), "a", &lb.url, fa).await;
    let mut b = funded_wallet(dir.path(), "b", &lb.url, fb).await;

    for round in 0..6 {
        if round == 2 {
            // A node dies under the load; nginx stops sending to it.
            nodes[1].proc.kill();
        }
        if round == 4 {
            nodes[1].proc.start_again();
        }
        a.withdraw(300, None).await.expect("withdraw");
        let payreq = shop.order("sticker").await.expect("order");
        let offer = Offer {
            payreq,
            origin: shop.base().to_owned(),
        };
        a.pay(offer).await.expect("pay at the shop");
        let token = a.send(40).await.expect("send");
        b.receive(&token).await.expect("receive");
        b.exchange_all().await.expect("exchange");
    }
    a.recover().await.expect("recover a");
    b.recover().await.expect("recover b");
    let (ca, cb) = (
        a.account_statement().await.expect("a").balance.value,
        b.account_statement().await.expect("b").balance.value,
    );
    let (ha, hb) = (a.balance().total, b.balance().total);
    assert_eq!(
        ca + cb + ha + hb + paid(&a) + paid(&b),
        fa + fb,
        "money held plus paid changed"
    );
    assert!(paid(&a) > 0 && hb >= 6 * 40);

    // The load generator through the same URL.
    let bench = std::process::Command::new(ecash_testkit::process::binary("mint-bench"))
        .args([
            "--url",
            &lb.url,
            "--master-key",
            &nodes[0].master.0.to_b64(),
        ])
        .args([
            "--seconds",
            "1",
            "--payments",
            "24",
            "--clients",
            "2",
            "--raw-seconds",
            "0.2",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mint-bench");
    assert!(
        bench.status.success(),
        "mint-bench through nginx: {}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).expect("JSON report");
    assert!(
        report["setups"][0]["deposit"]["coins"].as_u64() > Some(0),
        "{report}"
    );
    drop(lb);
}
