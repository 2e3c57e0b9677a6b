//! The mint on PostgreSQL while the database server itself crashes and restarts: what
//! was acked before stays, the mint answers again once the server is back
//! (its pool replaces the dead connections), and no coin is accepted twice.
#![cfg(feature = "pg-tests")]

use std::time::{Duration, Instant};

use ecash_core::ErrorCode;
use ecash_testkit::{MintProc, refused};

#[test]
fn the_mint_survives_a_database_restart() {
    let books = ecash_testkit::PgBooks::new();
    let args = books.args();
    let mint = MintProc::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let c = mint.client();
    let (alice, shop) = (c.register("alice"), c.register("shop"));
    c.faucet(&alice, 1000);
    let coins = c.withdraw(&alice, 300);
    let (paid, _) = c.payment(&coins[..1], &shop.id, "before", "paid before the restart");
    let ack = c.deposit(&shop, &paid).expect("deposit before the restart");
    let before = c.balance(&shop);

    ecash_testkit::restart_postgres();

    // The first calls may meet connections the restart closed; within a
    // few seconds every call is answered again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let statement = loop {
        match c.statement(&shop) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                println!("while the database restarts: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("the mint did not recover from the restart: {e}"),
        }
    };
    assert_eq!(statement.balance.value, before, "the acked deposit is kept");
    // The replay of the acked payment gets its ack; its coin is spent for
    // any other payment; the other coins still pay.
    let again = c.deposit(&shop, &paid).expect("replay after the restart");
    assert_eq!(again, ack, "the same ack");
    let (twice, _) = c.payment(&coins[..1], &shop.id, "again", "the same coin again");
    assert_eq!(refused(c.deposit(&shop, &twice)).1, ErrorCode::CoinSpent);
    let (rest, _) = c.payment(&coins[1..], &shop.id, "after", "paid after the restart");
    c.deposit(&shop, &rest).expect("deposit after the restart");
    assert_eq!(c.balance(&shop), 300, "every coin paid once");
}
