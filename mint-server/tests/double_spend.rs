//! Double spending, sequential and concurrent: one deposit of a coin
//! succeeds, every other is refused with 409 naming the coin, and nothing
//! else is recorded.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use ecash_core::api;
use ecash_core::messages::ExchangeRequest;
use ecash_core::{ErrorCode, Fixed};
use ecash_testkit::client::serials;
use ecash_testkit::{MintProc, SyncBank, random32, refused};

#[test]
fn sequential_double_spend_and_replay() {
    let mint = MintProc::start(&[]);
    let c = mint.client();
    let alice = c.register("alice");
    let shop = c.register("shop");
    let other_shop = c.register("other");
    c.faucet(&alice, 100);
    let coins = c.withdraw(&alice, 3); // coins of 2 and 1

    let (p1, _) = c.payment(&coins, &shop.id, "a", "a");
    let ack = c.deposit(&shop, &p1).expect("first deposit");
    // The same payment again: the same ack, books move once.
    assert_eq!(c.deposit(&shop, &p1).expect("replay"), ack);
    assert_eq!(c.balance(&shop), 3);

    // The same coins in a new payment, to another merchant: refused, naming both coins.
    let (p2, _) = c.payment(&coins, &other_shop.id, "b", "b");
    let e = c.deposit(&other_shop, &p2).expect_err("double spend");
    let error = e.refusal().expect("a refusal").clone();
    assert_eq!(refused(Err::<(), _>(e)), (409, ErrorCode::CoinSpent));
    let mut named = error.spent.clone();
    named.sort();
    let mut want = serials(&coins);
    want.sort();
    assert_eq!(named, want);

    // One spent coin among fresh ones: nothing recorded, the fresh coin stays unspent.
    let fresh = c.withdraw(&alice, 4);
    let mixed = vec![fresh[0].clone(), coins[0].clone()];
    let (p3, _) = c.payment(&mixed, &other_shop.id, "c", "c");
    let e = c.deposit(&other_shop, &p3).expect_err("partly spent");
    assert_eq!(e.refusal().expect("a refusal").spent, vec![coins[0].serial]);
    assert_eq!(c.spent(&fresh), vec![false]);
    assert_eq!(c.balance(&other_shop), 0);
    // Spent coins cannot be exchanged either.
    assert_eq!(refused(c.exchange(&coins)).1, ErrorCode::CoinSpent);
}

#[test]
fn sixty_four_concurrent_deposits_of_one_coin() {
    let mint = MintProc::start(&["--workers", "4"]);
    let c = mint.client();
    let alice = c.register("alice");
    c.faucet(&alice, 10);
    let coin = c.withdraw(&alice, 8);
    // 64 merchants, each with its own payment of the same coin.
    let jobs: Vec<_> = (0..64)
        .map(|i| {
            let m = c.register(&format!("m{i}"));
            let (p, _) = c.payment(&coin, &m.id, &format!("p{i}"), "same coin");
            (m, p)
        })
        .collect();
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(m, p)| {
            let (barrier, url, master) = (barrier.clone(), c.url.clone(), c.master);
            std::thread::spawn(move || {
                let c = SyncBank::connect(&url, &master);
                barrier.wait();
                (c.deposit(&m, &p).map(|_| ()), m)
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let ok = results.iter().filter(|(r, _)| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one deposit succeeds");
    for (r, _) in &results {
        if r.is_err() {
            // Spent, or told to retry while the winner was committing.
            let (status, code) = refused(r.clone());
            assert_eq!(status, 409);
            assert!(
                matches!(code, ErrorCode::CoinSpent | ErrorCode::InProgress),
                "{code:?}"
            );
        }
    }
    let credited: u64 = results.iter().map(|(_, m)| c.balance(m)).sum();
    assert_eq!(credited, 8, "the coin's value was credited once");
}

#[test]
fn replayed_exchange_gets_the_same_answer_once() {
    let mint = MintProc::start(&[]);
    let c = mint.client();
    let alice = c.register("alice");
    c.faucet(&alice, 20);
    let coins = c.withdraw(&alice, 12);
    let pending = c.blind(12);
    let req = ExchangeRequest {
        request_id: Fixed(random32()),
        coins: coins.clone(),
        outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
    };
    let first = c.call::<api::Exchange>(&(), &req).expect("exchange");
    let again = c.call::<api::Exchange>(&(), &req).expect("replay");
    assert_eq!(first, again);
    let fresh = c.finalize(&pending, &first);
    assert_eq!(c.value_of(&fresh), 12);
    assert!(c.spent(&coins).iter().all(|s| *s));
    assert!(c.spent(&fresh).iter().all(|s| !s));
    // The same id with other outputs is refused.
    let other = ExchangeRequest {
        outputs: c.blind(12).iter().map(|p| p.blinded.clone()).collect(),
        ..req
    };
    assert_eq!(
        refused(c.call::<api::Exchange>(&(), &other)),
        (409, ErrorCode::RequestIdReused)
    );
    assert_eq!(c.balance(&alice), 8, "exchange moves no account money");
}
