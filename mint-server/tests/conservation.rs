//! Conservation: after thousands of random operations (faucet, withdraw,
//! pay, exchange, double-spend attempts, replays), accounts plus outstanding
//! coins equal all money credited.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use ecash_core::api;
use ecash_core::{Coin, ErrorCode};
use ecash_testkit::{Account, MintProc, refused};

#[test]
fn books_balance_after_random_operations() {
    let mint = MintProc::start(&["--max-denomination-exp", "6"]);
    let c = mint.client();
    let mut rng = fastrand::Rng::with_seed(0x00ec_a5b0);
    let clients: Vec<Account> = (0..4).map(|i| c.register(&format!("client{i}"))).collect();
    let merchants: Vec<Account> = (0..3)
        .map(|i| c.register(&format!("merchant{i}")))
        .collect();
    let mut credited = 0u64;
    let mut purse: Vec<Coin> = Vec::new();
    let mut spent: Vec<Coin> = Vec::new();
    let mut counts = [0usize; 6];
    const OPS: usize = 2000;

    for _ in 0..OPS {
        match rng.u8(0..100) {
            0..=9 => {
                let a = &clients[rng.usize(..clients.len())];
                let v = rng.u64(1..=200);
                c.faucet(a, v);
                credited += v;
                counts[0] += 1;
            }
            10..=39 => {
                let a = &clients[rng.usize(..clients.len())];
                let v = rng.u64(1..=20);
                let (req, pending) = c.withdraw_request(a, v);
                match c.call::<api::Withdraw>(&(), &req) {
                    Ok(sigs) => {
                        purse.extend(c.finalize(&pending, &sigs));
                        if rng.bool() {
                            // A replay returns the same answer and must not debit again.
                            let again = c.call::<api::Withdraw>(&(), &req).expect("replay");
                            assert_eq!(again, sigs);
                        }
                    }
                    Err(e) => assert_eq!(refused(Err::<(), _>(e)).1, ErrorCode::InsufficientFunds),
                }
                counts[1] += 1;
            }
            40..=69 if !purse.is_empty() => {
                let n = rng.usize(1..=purse.len().min(4));
                let coins: Vec<Coin> = (0..n)
                    .map(|_| purse.swap_remove(rng.usize(..purse.len())))
                    .collect();
                let m = &merchants[rng.usize(..merchants.len())];
                let (p, _) = c.payment(&coins, &m.id, "order", "goods");
                c.deposit(m, &p).expect("deposit");
                spent.extend(coins);
                counts[2] += 1;
            }
            70..=84 if !purse.is_empty() => {
                let n = rng.usize(1..=purse.len().min(3));
                let coins: Vec<Coin> = (0..n)
                    .map(|_| purse.swap_remove(rng.usize(..purse.len())))
                    .collect();
                purse.extend(c.exchange(&coins).expect("exchange"));
                spent.extend(coins);
                counts[3] += 1;
            }
            85..=99 if !spent.is_empty() => {
                // Double spend attempt: always refused.
                let coin = spent[rng.usize(..spent.len())].clone();
                let m = &merchants[rng.usize(..merchants.len())];
                let (p, _) = c.payment(std::slice::from_ref(&coin), &m.id, "again", "again");
                assert_eq!(refused(c.deposit(m, &p)), (409, ErrorCode::CoinSpent));
                counts[4] += 1;
            }
            _ => counts[5] += 1,
        }
    }

    let balances: u64 = clients.iter().chain(&merchants).map(|a| c.balance(a)).sum();
    let outstanding = c.value_of(&purse);
    assert_eq!(
        balances + outstanding,
        credited,
        "accounts + outstanding coins = all money credited"
    );
    assert!(c.spent(&purse).iter().all(|s| !s), "coins held are unspent");
    if !spent.is_empty() {
        assert!(c.spent(&spent[..spent.len().min(256)]).iter().all(|s| *s));
    }
    assert!(
        counts[2] > 100 && counts[3] > 50 && counts[4] > 50,
        "operation mix too thin: {counts:?}"
    );
}
