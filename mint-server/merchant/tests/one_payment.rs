//! One order, one payment: a payment claims its order before it goes to
//! the bank, and only the bank's definite refusal frees the order again.
//! Racing payers, a twin of a payment (same id, junk envelope), a payment
//! whose coins are busy elsewhere, and one of spent coins: the order is
//! never paid twice, a refused payer keeps its coins, and an honest payer
//! is never kept out for good. The bank runs in this process.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use ecash_core::api;
use ecash_core::client::CallError;
use ecash_core::clock::SystemClock;
use ecash_core::messages::{ExchangeRequest, PayReq, Payment};
use ecash_core::shop::OrderState;
use ecash_core::{Coin, ErrorCode, Fixed};
use ecash_testkit::{InProcMerchant, InProcMint, Shop, SyncBank, random32, refused};

struct World {
    mint: InProcMint,
    merchant: InProcMerchant,
}

fn world() -> World {
    let mint = InProcMint::start(&[], Arc::new(SystemClock));
    let merchant = InProcMerchant::start(&mint, &[], Arc::new(SystemClock));
    World { mint, merchant }
}

impl World {
    fn bank(&self) -> SyncBank {
        self.mint.client()
    }

    fn shop(&self) -> Shop {
        self.merchant.client()
    }

    /// Where an order stands, in the shop keeper's list.
    fn state(&self, payreq_id: &str) -> OrderState {
        self.shop()
            .order_state(&self.merchant.admin_token, payreq_id)
    }
}

fn all_spent(bank: &SyncBank, coins: &[Coin]) -> bool {
    bank.spent(coins).iter().all(|s| *s)
}

fn none_spent(bank: &SyncBank, coins: &[Coin]) -> bool {
    bank.spent(coins).iter().all(|s| !s)
}

/// Finding 4: two payers racing for one order: exactly one is deposited,
/// the other is refused before its coins are touched and keeps them.
#[test]
fn one_order_takes_exactly_one_payment() {
    let w = world();
    let (bank, shop) = (w.bank(), w.shop());
    for round in 0..6 {
        let payreq = shop.order("haiku");
        let barrier = Arc::new(Barrier::new(2));
        let payers: Vec<_> = (0..2)
            .map(|i| {
                let (bank, shop) = (w.bank(), w.shop());
                let (payreq, barrier) = (payreq.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let buyer = bank.register(&format!("buyer {round}/{i}"));
                    bank.faucet(&buyer, payreq.amount.value);
                    let (coins, payment) = bank.pay_from(&buyer, &payreq);
                    barrier.wait();
                    let r = shop.pay(&payreq.payreq_id, &payment);
                    (coins, payment.payment_id(), r)
                })
            })
            // Both threads must exist before either is joined (the barrier).
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("payer"))
            .collect();
        let won = payers.iter().filter(|(_, _, r)| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: exactly one payment is taken");
        for (coins, pid, r) in &payers {
            match r {
                Ok(resp) => {
                    assert_eq!(&resp.receipt.body.payment_id, pid, "its own receipt");
                    assert!(all_spent(&bank, coins));
                }
                Err(e) => {
                    // Refused before its coins were touched: at once
                    // (order_taken), or told to retry while the other payment
                    // is at the bank (in_progress).
                    let (status, code) = refused(Err::<(), _>(e.clone()));
                    assert_eq!(status, 409, "{code:?}");
                    assert!(
                        matches!(code, ErrorCode::OrderTaken | ErrorCode::InProgress),
                        "{code:?}"
                    );
                    assert!(
                        none_spent(&bank, coins),
                        "round {round}: the refused payer keeps its coins"
                    );
                    // Retrying once the winner is done: refused for good.
                    let (again, _) = bank.payment_for(&payreq, coins);
                    assert_eq!(
                        refused(shop.pay(&payreq.payreq_id, &again)),
                        (409, ErrorCode::OrderTaken)
                    );
                    assert!(none_spent(&bank, coins));
                }
            }
        }
        assert_eq!(w.state(&payreq.payreq_id), OrderState::Paid);
    }
}

/// Finding 4 (outside review): a copy of a payment with a junk wrapped key
/// (the same payment id) cannot free the order while the real payment is
/// being deposited: the order is never paid twice, and no answer is a 5xx.
#[test]
fn a_twin_payment_cannot_free_an_order_being_paid() {
    let w = world();
    let (bank, shop) = (w.bank(), w.shop());
    for round in 0..8 {
        let payreq = shop.order("haiku");
        let buyer = bank.register(&format!("buyer {round}"));
        bank.faucet(&buyer, 50);
        let (coins_p, p) = bank.pay_from(&buyer, &payreq);
        let (coins_q, q) = bank.pay_from(&buyer, &payreq);
        let mut twin = p.clone();
        twin.sealed_coins.wrapped_key.0[5] ^= 0xff;
        assert_eq!(twin.payment_id(), p.payment_id());
        let barrier = Arc::new(Barrier::new(3));
        let send = |payment: Payment, delay_ms: u64| {
            let (shop, barrier, id) = (w.shop(), barrier.clone(), payreq.payreq_id.clone());
            std::thread::spawn(move || {
                barrier.wait();
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                shop.pay(&id, &payment).map(|_| ()).map_err(|e| match e {
                    CallError::Refused { status, error, .. } => (status, error.code),
                    other => panic!("round {round}: no answer: {other}"),
                })
            })
        };
        let threads = [send(p, 0), send(twin, 0), send(q, 3)];
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        for (status, code) in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(*status < 500, "round {round}: {status} {code:?}");
        }
        let paid_p = all_spent(&bank, &coins_p);
        let paid_q = all_spent(&bank, &coins_q);
        assert!(
            !(paid_p && paid_q),
            "round {round}: the order was paid twice: {results:?}"
        );
        // Whoever was deposited got the receipt; the other kept its coins.
        assert_eq!(paid_p, results[0].is_ok(), "round {round}: {results:?}");
        assert_eq!(paid_q, results[2].is_ok(), "round {round}: {results:?}");
        assert!(paid_p || none_spent(&bank, &coins_p));
        assert!(paid_q || none_spent(&bank, &coins_q));
        // Nothing is left half-claimed: paid, or open for the next payer.
        let state = w.state(&payreq.payreq_id);
        assert_eq!(
            state,
            if paid_p || paid_q {
                OrderState::Paid
            } else {
                OrderState::Open
            },
            "round {round}: {results:?}"
        );
    }
}

/// Finding 4 (third review): a payment whose deposit fails for a passing
/// reason (its coins busy in an exchange at that instant) frees the order
/// again, so an honest payer is never told `in_progress` for good.
#[test]
fn a_payment_that_fails_at_the_bank_frees_its_order() {
    let w = world();
    let (bank, shop) = (w.bank(), w.shop());
    for round in 0..12 {
        let payreq = shop.order("haiku");
        let buyer = bank.register(&format!("racer {round}"));
        bank.faucet(&buyer, 50);
        let (racing, p) = bank.pay_from(&buyer, &payreq);
        let (honest, q) = bank.pay_from(&buyer, &payreq);
        // The racing coins are paid and exchanged at the same moment.
        let exchange = ExchangeRequest {
            request_id: Fixed(random32()),
            coins: racing.clone(),
            outputs: bank.blind(25).into_iter().map(|b| b.blinded).collect(),
        };
        let barrier = Arc::new(Barrier::new(2));
        let (other, b) = (w.bank(), barrier.clone());
        let exchanger = std::thread::spawn(move || {
            b.wait();
            other.call::<api::Exchange>(&(), &exchange).is_ok()
        });
        barrier.wait();
        let paid = shop.pay(&payreq.payreq_id, &p);
        let exchanged = exchanger.join().expect("thread");
        assert!(
            !(paid.is_ok() && exchanged),
            "round {round}: coins spent twice"
        );
        let answer = shop.pay(&payreq.payreq_id, &q);
        match &paid {
            Ok(_) => assert_eq!(
                refused(answer),
                (409, ErrorCode::OrderTaken),
                "round {round}"
            ),
            Err(e) => {
                // Refused by the bank (spent, or busy in the exchange) ...
                let (_, code) = refused(Err::<(), _>(e.clone()));
                assert!(
                    matches!(code, ErrorCode::CoinSpent | ErrorCode::InProgress),
                    "round {round}: {code:?}"
                );
                // ... so the order is free for the honest payment.
                assert!(
                    answer.is_ok(),
                    "round {round}: the racing payment failed ({code:?}) and still holds the order: {:?}",
                    answer.err()
                );
            }
        }
        assert!(all_spent(&bank, &racing), "round {round}");
        assert_eq!(all_spent(&bank, &honest), paid.is_err(), "round {round}");
        assert_eq!(w.state(&payreq.payreq_id), OrderState::Paid);
    }
}

/// A payment of spent coins is refused by the bank and never holds its
/// order: the order stays open, and an honest payment racing it is at most
/// told to retry, never that the order is taken.
#[test]
fn a_payment_of_spent_coins_never_holds_an_order() {
    let w = world();
    let (bank, shop) = (w.bank(), w.shop());
    let cheat = bank.register("cheat");
    let honest = bank.register("honest");
    bank.faucet(&cheat, 25 * 9);
    bank.faucet(&honest, 25 * 9);
    // One after the other.
    let payreq = shop.order("haiku");
    let (coins, spent) = bank.pay_from(&cheat, &payreq);
    bank.exchange(&coins)
        .expect("the cheat spends its coins elsewhere");
    let e = shop
        .pay(&payreq.payreq_id, &spent)
        .expect_err("spent coins");
    assert_eq!(
        e.refusal().expect("a refusal").spent.len(),
        coins.len(),
        "the bank names the spent coins"
    );
    assert_eq!(refused(Err::<(), _>(e)), (409, ErrorCode::CoinSpent));
    assert_eq!(w.state(&payreq.payreq_id), OrderState::Open);
    // The same spent payment again: refused again, still not holding it.
    assert_eq!(
        refused(shop.pay(&payreq.payreq_id, &spent)),
        (409, ErrorCode::CoinSpent)
    );
    let (good, payment) = bank.pay_from(&honest, &payreq);
    let resp = shop
        .pay(&payreq.payreq_id, &payment)
        .expect("honest payment");
    assert_eq!(resp.receipt.body.payment_id, payment.payment_id());
    assert!(all_spent(&bank, &good));

    // At the same moment, eight times.
    for round in 0..8 {
        let payreq: PayReq = shop.order("haiku");
        let (coins, spent) = bank.pay_from(&cheat, &payreq);
        bank.exchange(&coins).expect("spent elsewhere");
        let (good, payment) = bank.pay_from(&honest, &payreq);
        let barrier = Arc::new(Barrier::new(2));
        let (s, b, id) = (w.shop(), barrier.clone(), payreq.payreq_id.clone());
        let cheater = std::thread::spawn(move || {
            b.wait();
            s.pay(&id, &spent).map(|_| ())
        });
        barrier.wait();
        let mut answer = shop.pay(&payreq.payreq_id, &payment);
        // The spent payment is refused by the bank, told to retry while
        // the honest one holds the order, or told the order is paid when
        // the honest one finished first.
        let (status, code) = refused(cheater.join().expect("thread"));
        assert_eq!(status, 409, "round {round}");
        assert!(
            matches!(
                code,
                ErrorCode::CoinSpent | ErrorCode::InProgress | ErrorCode::OrderTaken
            ),
            "round {round}: {code:?}"
        );
        // Told to retry while the spent payment was at the bank; then taken.
        for _ in 0..50 {
            match &answer {
                Err(e) if e.refusal().map(|r| r.code) == Some(ErrorCode::InProgress) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    answer = shop.pay(&payreq.payreq_id, &payment);
                }
                _ => break,
            }
        }
        let resp = answer.unwrap_or_else(|e| panic!("round {round}: the honest payer: {e}"));
        assert_eq!(resp.receipt.body.payment_id, payment.payment_id());
        assert!(all_spent(&bank, &good), "round {round}");
        assert_eq!(w.state(&payreq.payreq_id), OrderState::Paid);
    }
}
