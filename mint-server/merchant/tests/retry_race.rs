//! A payment sent again that races its own first request at the bank gets
//! the first's ack, not `coin_spent` for its own coins, so the shop never
//! frees an order the bank holds and no second payer can pay it. (Found by
//! the outside audit: the retry's refusal freed the order; paid twice.)
//!
//! The network delays the first deposit (the shop sees its connection
//! break, the bank receives it later: a hostile or merely slow network).
//! The shop abandons the claim (outcome unknown) and the payer retries; the
//! retry (`Claim::Resumed`) reaches the bank while the first is being
//! checked: its lookup by payment id comes before the first's commit and
//! its spent check after it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ecash_core::api::{self, Endpoint};
use ecash_core::clock::SystemClock;
use ecash_core::messages::WithdrawRequest;
use ecash_core::shop::OrderState;
use ecash_core::{Coin, ErrorCode, Fixed, Signed};
use ecash_testkit::process::merchant_key;
use ecash_testkit::proxy::{Fault, Proxy};
use ecash_testkit::{Account, InProcMerchant, InProcMint, SyncBank, random32, refused};

/// `n` coins of value 1 (a payment of many coins: the bank checks each).
fn ones(bank: &SyncBank, acct: &Account, n: usize) -> Vec<Coin> {
    let pending: Vec<_> = (0..n).map(|_| bank.blind(1).remove(0)).collect();
    let req = Signed::sign(
        WithdrawRequest {
            account_id: acct.id.clone(),
            request_id: Fixed(random32()),
            amount: bank.amount(n as u64),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: bank.now(),
        },
        &acct.key,
    );
    let sigs = bank.call::<api::Withdraw>(&(), &req).expect("withdraw");
    bank.finalize(&pending, &sigs)
}

#[test]
fn a_retried_payment_racing_its_first_request_never_frees_a_paid_order() {
    let clock = Arc::new(SystemClock);
    let mint = InProcMint::start(&[], clock.clone());
    // The network in front of the bank: a held deposit reaches the bank
    // just before the next one, so a retry meets its first request there.
    let net = Proxy::start(0, mint.url.strip_prefix("http://").unwrap(), None);
    let merchant = InProcMerchant::start_at(
        &net.url,
        &mint.master,
        &["--settle-every-secs", "3600"],
        clock.clone(),
    );
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    let other = bank.register("another buyer");
    bank.faucet(&buyer, 1000);
    bank.faucet(&other, 1000);
    let me = Account {
        key: merchant_key(merchant.dir.path()),
        id: merchant.account_id.clone(),
    };
    let state = |id: &str| shop.order_state(&merchant.admin_token, id);

    let mut orders = 0;
    for round in 0..30 {
        let payreq = shop.order("sticker");
        orders += 1;
        bank.faucet(&buyer, 99);
        bank.faucet(&other, 99);
        let coins = ones(&bank, &buyer, 99);
        let (p, _) = bank.payment_for(&payreq, &coins);
        net.fail_next(api::Deposit::INFO.path, Fault::Hold, 1);
        // The first request: the shop's connection to the bank breaks.
        assert_eq!(
            refused(shop.pay(&payreq.payreq_id, &p)),
            (503, ErrorCode::Unavailable)
        );
        assert_eq!(state(&payreq.payreq_id), OrderState::Paying);
        // The payer sends it again; it meets the first at the bank.
        let again = shop.pay(&payreq.payreq_id, &p);
        std::thread::sleep(Duration::from_millis(300));
        let taken = bank.spent(&coins).iter().all(|s| *s);
        assert!(taken, "round {round}: the bank took the payment");
        let left = state(&payreq.payreq_id);
        // Another payer for the same order must be refused now.
        let (q_coins, q) = bank.pay_from(&other, &payreq);
        let q_paid = shop.pay(&payreq.payreq_id, &q);
        assert!(
            q_paid.is_err(),
            "round {round}: the order was paid twice: the bank holds the first payment \
             (the retry was told {:?}, the order was left {:?}), and a second payer's coins \
             were taken too",
            again.as_ref().err().map(|e| e.to_string()),
            left
        );
        assert!(bank.spent(&q_coins).iter().all(|s| !s));
        // The first payer's retry finishes it, whatever the race did.
        let done = shop.pay(&payreq.payreq_id, &p);
        assert!(
            done.is_ok() || matches!(refused(done), (409, ErrorCode::InProgress)),
            "round {round}"
        );
    }
    assert_eq!(
        bank.balance(&me),
        99 * orders,
        "each order is paid exactly once"
    );
}
