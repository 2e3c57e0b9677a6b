//! 64 clients at once, each withdrawing, exchanging, paying a merchant and
//! (one in four) trying to spend a coin twice: every answer is a success
//! or the intended `coin_spent` refusal. No `database is locked`, no 5xx,
//! and the books add up afterwards.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use common::*;
use ecash_core::messages::*;
use ecash_core::{ErrorCode, Signed};

const CLIENTS: usize = 64;
const ROUNDS: usize = 3;

#[test]
fn sixty_four_clients_see_no_errors_but_the_intended_refusals() {
    let mint = Mint::start(&["--workers", "4"]);
    let c = mint.client();
    let merchant = Arc::new(c.register("merchant"));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, merchant, barrier) = (mint.url.clone(), merchant.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = Client::connect(&url);
                let me = c.register(&format!("client {i}"));
                c.faucet(&me, 1_000);
                let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
                let mut note = |r: Result<(), Refused>, intended: bool| {
                    let k = match r {
                        Ok(()) => "ok".to_owned(),
                        Err(e) if intended && e.error.code == ErrorCode::CoinSpent => {
                            "intended coin_spent".to_owned()
                        }
                        Err(e) => format!("{} {:?}", e.status, e.error.code),
                    };
                    *outcomes.entry(k).or_default() += 1;
                };
                let mut paid = 0;
                barrier.wait();
                for round in 0..ROUNDS {
                    let (req, pending) = c.withdraw_request(&me, 100);
                    let coins = match c.post::<_, BlindSignatures>("/withdraw", &req) {
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
                    let deposit = Signed::sign(
                        Deposit {
                            merchant_acc_id: merchant.id.clone(),
                            payment: payment.clone(),
                        },
                        &merchant.key,
                    );
                    match c.post::<_, Signed<DepositAck>>("/deposit", &deposit) {
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
                        note(
                            c.post::<_, Signed<DepositAck>>("/deposit", &d).map(|_| ()),
                            true,
                        );
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
    assert_eq!(
        c.balance(&merchant),
        paid,
        "the merchant holds what was paid"
    );
    assert!(!mint.log().contains("database is locked"));
}
