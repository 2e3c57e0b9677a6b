//! 64 clients at once, each withdrawing, exchanging, paying a merchant and
//! (one in four) trying to spend a coin twice: every answer is a success
//! or the intended `coin_spent` refusal. No `database is locked`, no 5xx,
//! and the books add up afterwards. And key rotations that run at once
//! still publish one key per value and period.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use ecash_core::api;
use ecash_core::client::CallError;
use ecash_core::messages::*;
use ecash_core::{Clock, ErrorCode, Signed};
use ecash_testkit::{InProcMint, MintProc, SyncBank, TestClock, now};

const CLIENTS: usize = 64;
const ROUNDS: usize = 3;

#[test]
fn sixty_four_clients_see_no_errors_but_the_intended_refusals() {
    let mint = MintProc::start(&["--workers", "4"]);
    let c = mint.client();
    let merchant = Arc::new(c.register("merchant"));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, master, merchant, barrier) =
                (c.url.clone(), c.master, merchant.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = SyncBank::connect(&url, &master);
                let me = c.register(&format!("client {i}"));
                c.faucet(&me, 1_000);
                let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
                let mut note = |r: Result<(), CallError>, intended: bool| {
                    let k = match r {
                        Ok(()) => "ok".to_owned(),
                        Err(CallError::Refused { status, error, .. }) => {
                            if intended && error.code == ErrorCode::CoinSpent {
                                "intended coin_spent".to_owned()
                            } else {
                                format!("{status} {:?}", error.code)
                            }
                        }
                        Err(other) => format!("no answer: {other}"),
                    };
                    *outcomes.entry(k).or_default() += 1;
                };
                let mut paid = 0;
                barrier.wait();
                for round in 0..ROUNDS {
                    let (req, pending) = c.withdraw_request(&me, 100);
                    let coins = match c.call::<api::Withdraw>(&(), &req) {
                        Ok(sigs) => {
                            note(Ok(()), false);
                            c.finalize(&pending, &sigs)
                        }
                        Err(e) => {
                            note(Err(e), false);
                            continue;
                        }
                    };
                    let half = coins.len() / 2;
                    let mut spendable = coins[half..].to_vec();
                    match c.exchange(&coins[..half]) {
                        Ok(fresh) => {
                            note(Ok(()), false);
                            spendable.extend(fresh);
                        }
                        Err(e) => note(Err(e), false),
                    }
                    let (payment, _) = c.payment(&spendable, &merchant.id, "order", "load");
                    match c.deposit(&merchant, &payment) {
                        Ok(_) => {
                            note(Ok(()), false);
                            paid += c.value_of(&spendable);
                        }
                        Err(e) => note(Err(e), false),
                    }
                    if i % 4 == round % 4 {
                        // The same coin again, in another payment: refused.
                        let (again, _) = c.payment(&spendable[..1], &merchant.id, "twice", "x");
                        let d = Signed::sign(
                            Deposit {
                                merchant_acc_id: merchant.id.clone(),
                                payment: again,
                            },
                            &merchant.key,
                        );
                        note(c.call::<api::Deposit>(&(), &d).map(|_| ()), true);
                    }
                }
                (outcomes, paid)
            })
        })
        .collect();
    let mut all: BTreeMap<String, u64> = BTreeMap::new();
    let mut paid = 0;
    for t in threads {
        let (o, p) = t.join().expect("client thread");
        for (k, n) in o {
            *all.entry(k).or_default() += n;
        }
        paid += p;
    }
    println!("outcomes of {CLIENTS} concurrent clients: {all:?}");
    let unexpected: Vec<_> = all
        .iter()
        .filter(|(k, _)| k.as_str() != "ok" && k.as_str() != "intended coin_spent")
        .collect();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert_eq!(all["ok"], (CLIENTS * ROUNDS * 3) as u64);
    assert!(all.contains_key("intended coin_spent"));
    assert_eq!(
        c.balance(&merchant),
        paid,
        "the merchant holds what was paid"
    );
    assert!(!mint.proc.log().contains("database is locked"));
}

/// The mint's own rotation task and callers of `Bank::rotate_keys` (a test
/// moving its clock, an operator) may rotate at the same moment: each key
/// is still made once, and the key set verifies.
#[test]
fn rotations_at_once_make_each_key_once() {
    let clock = Arc::new(TestClock::at(now()));
    let mint = InProcMint::start(
        &[
            "--withdraw-period-secs",
            "600",
            "--max-denomination-exp",
            "2",
        ],
        clock.clone(),
    );
    for _ in 0..3 {
        // Two periods on: every rotation finds the same keys missing.
        clock.advance(1200);
        let barrier = Arc::new(Barrier::new(4));
        let rotations: Vec<_> = (0..4)
            .map(|_| {
                let (bank, barrier) = (mint.bank.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    bank.rotate_keys().expect("rotation")
                })
            })
            .collect();
        for t in rotations {
            t.join().expect("rotation thread");
        }
        // Every key of the new periods is there once (the mint's own
        // rotation task may have made them first); verifying the set
        // refuses two keys of one value and period.
        let c = SyncBank::connect_on(&mint.url, &mint.master, clock.clone());
        let period = clock.now() / 600;
        for p in period..=period + 2 {
            let n = c
                .keys
                .set
                .denominations
                .iter()
                .filter(|d| d.period == p)
                .count();
            assert_eq!(n, 3, "period {p} has {n} keys");
        }
    }
}
