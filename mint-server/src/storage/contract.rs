//! The contract every [`Storage`] keeps, as a test suite any backend runs:
//! `contract::run(|| MyStorage::open(...))`. Each check builds a fresh store
//! with `make`; the concurrency checks share one store between threads.
//!
//! A backend that passes it keeps the books the bank relies on: money moves
//! once, in one transaction, with a ledger entry; a coin is spent once; a
//! request id is answered, not executed, twice; and the totals balance.

// A test suite: a broken promise fails it with a panic.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use ecash_core::{B32, Fixed};

use super::*;

fn id(n: u8) -> B32 {
    Fixed([n; 32])
}

fn serial(n: u32) -> B32 {
    let mut s = [0xee; 32];
    s[..4].copy_from_slice(&n.to_be_bytes());
    Fixed(s)
}

/// Coins of key `id(0)`.
fn coins(serials: &[B32]) -> Vec<CoinId> {
    serials.iter().map(|s| (*s, id(0))).collect()
}

fn deposit(payment: u8, merchant: &str, amount: u64, serials: &[B32]) -> NewDeposit {
    NewDeposit {
        payment_id: id(payment),
        merchant_acc_id: merchant.into(),
        amount,
        spent: serials.iter().map(|s| (*s, id(0))).collect(),
        payer_code_hash: id(2),
        payment_info_json: "{}".into(),
        ack_json: format!("ack {payment}"),
        now: 7,
    }
}

/// The keys every check's store knows: `id(0)` and `id(50)`, coins of 1.
fn keys() -> Vec<CoinKey> {
    [0, 50]
        .map(|n| CoinKey {
            key_id: id(n),
            value: 1,
            deposit_until: 1_000_000,
        })
        .to_vec()
}

fn sig(hash: u8, key: B32, signature: Vec<u8>) -> IssuedSig {
    IssuedSig {
        blinded_hash: id(hash),
        key_id: key,
        signature,
    }
}

fn withdrawal(request: u8, hash: u8, account: &str, amount: u64) -> NewWithdrawal {
    NewWithdrawal {
        request_id: id(request),
        request_hash: id(hash),
        account_id: account.into(),
        amount,
        // One coin of 1 (key `id(0)`) per unit, as the bank signs them.
        signatures: (0..amount)
            .map(|i| {
                let mut s = sig(100 + request, id(0), vec![request, 1, 2]);
                s.blinded_hash.0[..8].copy_from_slice(&i.to_be_bytes());
                if i == 0 {
                    s.blinded_hash = id(100 + request);
                }
                s
            })
            .collect(),
        response_json: format!("resp {request}"),
        now: 3,
    }
}

fn exchange(request: u8, hash: u8, serials: &[B32]) -> NewExchange {
    NewExchange {
        request_id: id(request),
        request_hash: id(hash),
        spent: serials.iter().map(|s| (*s, id(0))).collect(),
        signatures: vec![sig(200 + request, id(0), vec![9])],
        recouped: vec![],
        response_json: format!("exch {request}"),
        now: 4,
    }
}

/// Runs every check of the contract on stores made by `make`.
pub fn run<S: Storage>(make: impl Fn() -> S) {
    let make = || {
        let s = make();
        s.add_keys(&keys()).expect("add keys");
        s
    };
    accounts_and_ledgers(&make());
    withdrawals_debit_once(&make());
    exchanges_spend_once(&make());
    deposits_credit_once(&make());
    spent_lookups_and_lists(&make());
    proofs_and_totals(&make());
    closed_stores_refuse_work(&make());
    concurrent_deposits_of_one_coin(Arc::new(make()));
    concurrent_withdrawals_never_overdraw(Arc::new(make()));
    concurrent_exchange_and_deposit_of_one_coin(Arc::new(make()));
    keys_expire_once_and_take_their_coins(&make());
    revocations_and_recoup_links(&make());
}

/// Revocations stand once; extorted marks are found; a blind signature's
/// origins are listed; and each is recouped once ever, atomically with its
/// recoup (a second recoup linking to it spends nothing).
fn revocations_and_recoup_links<S: Storage>(s: &S) {
    use crate::storage::{KeyRevocation, RevocationReason};
    assert!(s.key_revocations().expect("list").is_empty());
    let r = KeyRevocation {
        key_id: id(0),
        reason: RevocationReason::Extorted,
        revoked_at: 5,
    };
    s.revoke_key(&r, &[id(40)]).expect("revoke");
    let again = KeyRevocation {
        reason: RevocationReason::Compromised,
        revoked_at: 9,
        ..r.clone()
    };
    s.revoke_key(&again, &[id(41)]).expect("revoke again");
    assert_eq!(
        s.key_revocations().expect("list"),
        vec![r],
        "the first stands"
    );
    assert!(s.any_extorted(&[id(1), id(41)]).expect("query"));
    assert!(!s.any_extorted(&[id(1), id(2)]).expect("query"));

    let x = exchange(30, 31, &[serial(300)]);
    s.commit_exchange(&x)
        .expect("an exchange issuing signature 230");
    let origins = s.signature_origins(&id(230)).expect("origins");
    assert_eq!(origins.issued, vec![(id(30), vec![9])]);
    assert!(!origins.recouped);
    assert!(
        s.signature_origins(&id(231))
            .expect("origins")
            .issued
            .is_empty()
    );
    let mut first = exchange(32, 33, &[serial(301)]);
    first.recouped = vec![id(230)];
    s.commit_exchange(&first).expect("recouped");
    assert_eq!(
        s.commit_exchange(&first).expect("replayed"),
        s.exchange(&first.request_id).expect("q").expect("stored")
    );
    let mut second = exchange(34, 35, &[serial(302)]);
    second.recouped = vec![id(230)];
    assert!(s.signature_origins(&id(230)).expect("origins").recouped);
    assert!(matches!(
        s.commit_exchange(&second),
        Err(StorageError::Recouped)
    ));
    assert_eq!(s.exchange(&second.request_id).expect("query"), None);
    assert_eq!(
        s.spent(&coins(&[serial(302)])).expect("query"),
        vec![false],
        "nothing spent"
    );
}

fn accounts_and_ledgers<S: Storage>(s: &S) {
    assert_eq!(s.account("a").expect("query"), None);
    s.create_account("a", &[1; 32], "alice", 5).expect("create");
    assert!(matches!(
        s.create_account("a", &[2; 32], "again", 5),
        Err(StorageError::AccountExists)
    ));
    let a = s.account("a").expect("query").expect("exists");
    assert_eq!((a.id.as_str(), a.public_key, a.balance), ("a", [1; 32], 0));
    assert_eq!(s.faucet_credit("a", 10, 6).expect("credit"), 10);
    assert_eq!(s.faucet_credit("a", 5, 7).expect("credit"), 15);
    assert!(matches!(
        s.faucet_credit("nobody", 1, 7),
        Err(StorageError::UnknownAccount(_))
    ));
    assert!(matches!(
        s.faucet_credit("a", u64::MAX, 8),
        Err(StorageError::Overflow)
    ));
    assert_eq!(s.account("a").expect("query").expect("a").balance, 15);
    let ledger = s.ledger("a").expect("ledger");
    let deltas: Vec<i64> = ledger.iter().map(|e| e.delta).collect();
    assert_eq!(
        deltas,
        vec![10, 5],
        "oldest first, the refused credit absent"
    );
    assert!(ledger.iter().all(|e| e.reason == "faucet"));
    assert!(s.ledger("nobody").expect("ledger").is_empty());
}

fn withdrawals_debit_once<S: Storage>(s: &S) {
    s.create_account("a", &[1; 32], "", 0).expect("create");
    s.faucet_credit("a", 10, 0).expect("credit");
    let w = withdrawal(1, 2, "a", 8);
    assert_eq!(s.withdrawal(&w.request_id).expect("query"), None);
    let first = s.commit_withdrawal(&w).expect("withdraw");
    assert_eq!(first.response_json, "resp 1");
    assert_eq!(s.commit_withdrawal(&w).expect("replay"), first);
    assert_eq!(s.withdrawal(&w.request_id).expect("query"), Some(first));
    assert_eq!(s.account("a").expect("q").expect("a").balance, 2, "once");
    let reuse = withdrawal(1, 9, "a", 1);
    assert!(matches!(
        s.commit_withdrawal(&reuse),
        Err(StorageError::RequestIdReused)
    ));
    match s.commit_withdrawal(&withdrawal(7, 7, "a", 8)) {
        Err(StorageError::InsufficientFunds { balance, needed }) => {
            assert_eq!((balance, needed), (2, 8));
        }
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }
    assert_eq!(
        s.withdrawal(&id(7)).expect("query"),
        None,
        "nothing recorded"
    );
    assert!(matches!(
        s.commit_withdrawal(&withdrawal(8, 8, "nobody", 1)),
        Err(StorageError::UnknownAccount(_))
    ));
    assert_eq!(
        s.blind_signatures(&[id(101), id(107), id(1)])
            .expect("query"),
        vec![Some(vec![1, 1, 2]), None, None]
    );
    let ledger = s.ledger("a").expect("ledger");
    assert_eq!(
        ledger.last().map(|e| (e.delta, e.reason.as_str())),
        Some((-8, "withdraw"))
    );
}

fn exchanges_spend_once<S: Storage>(s: &S) {
    let x = exchange(1, 1, &[serial(1), serial(2)]);
    assert_eq!(s.exchange(&x.request_id).expect("query"), None);
    let first = s.commit_exchange(&x).expect("exchange");
    assert_eq!(s.commit_exchange(&x).expect("replay"), first);
    assert_eq!(s.exchange(&x.request_id).expect("query"), Some(first));
    assert_eq!(
        s.spent(&coins(&[serial(1), serial(2), serial(3)]))
            .expect("spent"),
        vec![true, true, false]
    );
    assert!(matches!(
        s.commit_exchange(&exchange(1, 2, &[serial(5)])),
        Err(StorageError::RequestIdReused)
    ));
    match s.commit_exchange(&exchange(3, 3, &[serial(3), serial(2), serial(1)])) {
        Err(StorageError::Spent(v)) => {
            let mut v = v;
            v.sort();
            let mut want = vec![serial(1), serial(2)];
            want.sort();
            assert_eq!(v, want, "every spent coin named");
        }
        other => panic!("expected Spent, got {other:?}"),
    }
    assert_eq!(
        s.spent(&coins(&[serial(3)])).expect("spent"),
        vec![false],
        "nothing recorded"
    );
    assert_eq!(s.exchange(&id(3)).expect("query"), None);
    assert_eq!(
        s.blind_signatures(&[id(201), id(203)]).expect("query"),
        vec![Some(vec![9]), None]
    );
}

fn deposits_credit_once<S: Storage>(s: &S) {
    s.create_account("m", &[1; 32], "shop", 0).expect("create");
    let d = deposit(1, "m", 5, &[serial(10), serial(11)]);
    assert_eq!(s.deposit(&d.payment_id).expect("query"), None);
    let first = s.commit_deposit(&d).expect("deposit");
    assert_eq!(first.ack_json, "ack 1");
    assert_eq!((first.payment_id, first.deposited_at), (d.payment_id, 7));
    assert_eq!(s.commit_deposit(&d).expect("replay"), first);
    assert_eq!(s.deposit(&d.payment_id).expect("query"), Some(first));
    assert_eq!(s.account("m").expect("q").expect("m").balance, 5);
    // Another payment reusing one serial: refused, nothing recorded.
    match s.commit_deposit(&deposit(3, "m", 5, &[serial(12), serial(11)])) {
        Err(StorageError::Spent(v)) => assert_eq!(v, vec![serial(11)]),
        other => panic!("expected Spent, got {other:?}"),
    }
    assert_eq!(s.spent(&coins(&[serial(12)])).expect("q"), vec![false]);
    assert_eq!(s.deposit(&id(3)).expect("query"), None);
    assert_eq!(s.account("m").expect("q").expect("m").balance, 5);
    // A serial twice in one payment is refused too.
    assert!(matches!(
        s.commit_deposit(&deposit(4, "m", 2, &[serial(13), serial(13)])),
        Err(StorageError::Spent(_))
    ));
    assert_eq!(s.spent(&coins(&[serial(13)])).expect("q"), vec![false]);
    assert!(matches!(
        s.commit_deposit(&deposit(5, "nobody", 1, &[serial(14)])),
        Err(StorageError::UnknownAccount(_))
    ));
    assert_eq!(s.spent(&coins(&[serial(14)])).expect("q"), vec![false]);
    let ledger = s.ledger("m").expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].delta, ledger[0].reason.as_str()), (5, "deposit"));
}

fn spent_lookups_and_lists<S: Storage>(s: &S) {
    s.create_account("m", &[1; 32], "", 0).expect("create");
    let mut d = deposit(1, "m", 2, &[serial(1), serial(2)]);
    d.spent[1].1 = id(50);
    s.commit_deposit(&d).expect("deposit");
    let mut x = exchange(9, 9, &[serial(3)]);
    x.spent[0].1 = id(50);
    s.commit_exchange(&x).expect("exchange");
    let mut under = s.spent_serials(&id(50)).expect("list");
    under.sort();
    let mut want = vec![serial(2), serial(3)];
    want.sort();
    assert_eq!(under, want, "by the key each coin was spent under");
    assert_eq!(s.spent_serials(&id(0)).expect("list"), vec![serial(1)]);
    assert!(matches!(
        s.spent_serials(&id(77)),
        Err(StorageError::UnknownKey(_))
    ));
    assert!(s.spent(&[]).expect("empty").is_empty());
    // A coin is its key and serial: serial 2 under key 0 is another coin.
    assert_eq!(
        s.spent(&[(serial(2), id(50)), (serial(2), id(0))])
            .expect("q"),
        vec![true, false]
    );
    s.commit_deposit(&deposit(2, "m", 1, &[serial(2)]))
        .expect("the same serial under another key is another coin");
    // A coin of a key the books do not know is not taken.
    let mut d = deposit(3, "m", 1, &[serial(4)]);
    d.spent[0].1 = id(77);
    assert!(matches!(s.commit_deposit(&d), Err(StorageError::UnknownKey(k)) if k == id(77)));
    assert_eq!(s.deposit(&id(3)).expect("query"), None);
}

fn proofs_and_totals<S: Storage>(s: &S) {
    assert_eq!(s.totals().expect("totals"), Totals::default());
    s.create_account("a", &[1; 32], "", 0).expect("create");
    s.create_account("m", &[2; 32], "", 0).expect("create");
    s.faucet_credit("a", 3, 0).expect("credit");
    s.commit_withdrawal(&NewWithdrawal {
        signatures: vec![
            sig(1, id(0), vec![1]),
            sig(2, id(0), vec![2]),
            sig(3, id(50), vec![3]),
        ],
        ..withdrawal(1, 1, "a", 3)
    })
    .expect("withdraw");
    s.commit_deposit(&deposit(1, "m", 1, &[serial(1)]))
        .expect("deposit");
    let t = s.totals().expect("totals");
    assert_eq!(
        (t.credited, t.balances, t.outstanding, t.expired),
        (3, 1, 2, 0)
    );
    assert!(t.balanced(), "the books balance: {t:?}");
    s.record_proof(&id(1), "{\"proof\":1}", 9).expect("proof");
    s.record_proof(&id(1), "{\"proof\":2}", 10)
        .expect("a second proof of one payment");
}

/// Two keys; one's window closes: what its coins never deposited were worth
/// is booked as expired, once, and its spent coins and blind signatures go.
fn keys_expire_once_and_take_their_coins<S: Storage>(s: &S) {
    let (old, new) = (id(60), id(61));
    s.add_keys(&[
        CoinKey {
            key_id: old,
            value: 20,
            deposit_until: 100,
        },
        CoinKey {
            key_id: new,
            value: 5,
            deposit_until: 1000,
        },
    ])
    .expect("add");
    s.add_keys(&[CoinKey {
        key_id: old,
        value: 20,
        deposit_until: 100,
    }])
    .expect("adding a key again changes nothing");
    s.create_account("a", &[1; 32], "", 0).expect("create");
    s.create_account("m", &[2; 32], "", 0).expect("create");
    s.faucet_credit("a", 100, 0).expect("credit");
    let mut sigs: Vec<IssuedSig> = (0..2).map(|i| sig(10 + i, old, vec![i])).collect();
    sigs.extend((0..4).map(|i| sig(20 + i, new, vec![i])));
    s.commit_withdrawal(&NewWithdrawal {
        signatures: sigs,
        ..withdrawal(1, 1, "a", 60)
    })
    .expect("withdraw 2 x 20 + 4 x 5");
    let mut d = deposit(1, "m", 25, &[serial(1), serial(2)]);
    (d.spent[0].1, d.spent[1].1) = (old, new);
    s.commit_deposit(&d).expect("deposit 20 + 5");
    let t = s.totals().expect("totals");
    assert_eq!((t.balances, t.outstanding, t.expired), (65, 35, 0), "{t:?}");

    assert!(
        s.expire_keys(100, 200).expect("expire").is_empty(),
        "not before its end"
    );
    let done = s.expire_keys(101, 200).expect("expire");
    assert_eq!(
        done,
        vec![Expiry {
            key_id: old,
            coins: 1,
            amount: 20
        }]
    );
    assert!(s.expire_keys(101, 300).expect("again").is_empty(), "once");
    let t = s.totals().expect("totals");
    assert_eq!(
        (t.credited, t.balances, t.outstanding, t.expired),
        (100, 65, 15, 20),
        "{t:?}"
    );
    assert!(
        t.balanced(),
        "accounts + outstanding + expired = credited: {t:?}"
    );
    assert!(
        matches!(s.spent_serials(&old), Err(StorageError::UnknownKey(_))),
        "its spent list is no more"
    );
    assert_eq!(
        s.spent(&[(serial(2), new)]).expect("q"),
        vec![true],
        "the other key's stay"
    );
    assert_eq!(
        s.blind_signatures(&[id(10), id(20)]).expect("q"),
        vec![None, Some(vec![0])],
        "its blind signatures are dropped"
    );
    let mut late = deposit(2, "m", 20, &[serial(3)]);
    late.spent[0].1 = old;
    assert!(
        matches!(s.commit_deposit(&late), Err(StorageError::UnknownKey(k)) if k == old),
        "an expired key's coin is not taken"
    );
}

fn closed_stores_refuse_work<S: Storage>(s: &S) {
    s.create_account("a", &[1; 32], "", 0).expect("create");
    s.close().expect("close");
    assert!(s.account("a").is_err(), "closed storage refuses work");
    assert!(s.faucet_credit("a", 1, 0).is_err());
}

fn concurrent_deposits_of_one_coin<S: Storage>(s: Arc<S>) {
    s.create_account("m", &[1; 32], "shop", 0).expect("create");
    // 48 deposits at once: pairs share a serial (exactly one of each pair
    // wins), and every deposit is sent twice (the replay gets the same answer).
    let threads: Vec<_> = (0..96u32)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let n = i % 48;
                let mut pid = [0u8; 32];
                pid[..4].copy_from_slice(&n.to_be_bytes());
                let d = NewDeposit {
                    payment_id: Fixed(pid),
                    ack_json: format!("ack {n}"),
                    ..deposit(0, "m", 1, &[serial(n / 2)])
                };
                (n, s.commit_deposit(&d).map(|r| r.ack_json))
            })
        })
        .collect();
    let mut won = BTreeMap::new();
    for t in threads {
        let (n, r) = t.join().expect("thread");
        match r {
            Ok(ack) => {
                assert_eq!(ack, format!("ack {n}"), "each deposit its own answer");
                won.insert(n, ());
            }
            Err(StorageError::Spent(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won.len(), 24, "{won:?}");
    for pair in 0..24u32 {
        assert!(won.contains_key(&(2 * pair)) ^ won.contains_key(&(2 * pair + 1)));
    }
    assert_eq!(s.account("m").expect("q").expect("m").balance, 24);
}

fn concurrent_withdrawals_never_overdraw<S: Storage>(s: Arc<S>) {
    s.create_account("a", &[1; 32], "", 0).expect("create");
    s.faucet_credit("a", 50, 0).expect("credit");
    let threads: Vec<_> = (0..16u8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || s.commit_withdrawal(&withdrawal(i + 1, i + 1, "a", 7)))
        })
        .collect();
    let mut ok = 0;
    for t in threads {
        match t.join().expect("thread") {
            Ok(_) => ok += 1,
            Err(StorageError::InsufficientFunds { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 7, "50 holds seven withdrawals of 7");
    assert_eq!(s.account("a").expect("q").expect("a").balance, 1);
    let t = s.totals().expect("totals");
    assert_eq!(
        (t.balances, t.outstanding),
        (1, 49),
        "seven debits of 7: {t:?}"
    );
    assert!(t.balanced(), "{t:?}");
}

fn concurrent_exchange_and_deposit_of_one_coin<S: Storage>(s: Arc<S>) {
    s.create_account("m", &[1; 32], "", 0).expect("create");
    for round in 0..20u32 {
        let coin = serial(1000 + round);
        let (a, b) = (s.clone(), s.clone());
        let x = std::thread::spawn(move || {
            let mut x = exchange(0, 0, &[coin]);
            x.request_id.0[..4].copy_from_slice(&round.to_be_bytes());
            a.commit_exchange(&x).is_ok()
        });
        let d = std::thread::spawn(move || {
            let mut d = deposit(0, "m", 1, &[coin]);
            d.payment_id.0[..4].copy_from_slice(&round.to_be_bytes());
            b.commit_deposit(&d).is_ok()
        });
        let (x, d) = (x.join().expect("thread"), d.join().expect("thread"));
        assert!(x ^ d, "round {round}: exactly one spends the coin");
    }
}
