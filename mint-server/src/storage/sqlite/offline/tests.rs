//! The offline books on a real SQLite file: money conserved through every
//! step, identification atomic with a deposit under concurrent payees.

use std::sync::{Arc, Barrier, OnceLock};

use ecash_core::offline::{self, Candidates, Identity, OfflineCoin, PaymentRequest, TERMS};
use ecash_core::rsa::PrivateKey;
use ecash_core::{B32, Fixed, blind_rsa};

use super::*;
use crate::storage::Storage;

fn key() -> &'static PrivateKey {
    static K: OnceLock<PrivateKey> = OnceLock::new();
    K.get_or_init(|| blind_rsa::generate_key(2048).expect("keygen"))
}

const KEY_ID: B32 = Fixed([7; 32]);
const SECRET: [u8; 32] = [5; 32];
const NOW: u64 = 1_000;

fn store() -> (tempfile::TempDir, Arc<SqliteStorage>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStorage::open(&dir.path().join("bank.db")).expect("open");
    (dir, Arc::new(s))
}

fn id(n: u8) -> B32 {
    Fixed([n; 32])
}

/// A coin of value `value` withdrawn by `account` through the books.
fn withdraw(s: &SqliteStorage, account: &str, value: u64, n: u8) -> OfflineCoin {
    let pk = key().to_public_key();
    let counter = s
        .offline_standing(account, NOW, 0)
        .expect("standing")
        .next_counter;
    let u = offline::identity(&SECRET, account, counter);
    let cands = Candidates::new(&pk, KEY_ID, u).expect("candidates");
    let chosen = offline::choose_openings().expect("choose");
    s.begin_offline_withdrawal(&NewOfflineWithdrawal {
        request_id: id(n),
        request_hash: id(n),
        account_id: account.into(),
        counter,
        identity: u,
        key_id: KEY_ID,
        value,
        withdraw_until: NOW + 50,
        deposit_until: NOW + 100,
        period: 0,
        candidates_json: "[]".into(),
        chosen_json: serde_json::to_string(&chosen).expect("json"),
        unfinished_cap: 4,
        now: NOW,
    })
    .expect("begin");
    let product = offline::blind_product(&pk, &cands.blinded, &chosen).expect("product");
    let sig = offline::sign_product(key(), &product).expect("sign");
    s.finish_offline_withdrawal(&id(n), &id(n), "{}", NOW)
        .expect("finish");
    cands.finish(&pk, &chosen, &sig).expect("coin")
}

fn transcript(coin: &OfflineCoin, payee: &str, nonce: u8, value: u64) -> NewTranscript {
    let spend = coin.spend(&PaymentRequest {
        payee_id: payee.into(),
        nonce: Fixed([nonce; 16]),
        issued_at: NOW,
    });
    NewTranscript {
        spend: spend.verify(&key().to_public_key()).expect("verifies"),
        key_id: KEY_ID,
        value,
        spend_json: "{}".into(),
        request_hash: Fixed(ecash_core::Canonical::canonical_hash(&spend.request)),
    }
}

fn deposit(
    s: &SqliteStorage,
    payee: &str,
    batch: u8,
    t: Vec<NewTranscript>,
) -> Vec<OfflineOutcome> {
    s.commit_offline_deposit(&NewOfflineDeposit {
        batch_id: id(batch),
        batch_hash: id(batch),
        payee_id: payee.into(),
        transcripts: t,
        now: NOW,
    })
    .expect("deposit")
}

fn balanced(s: &SqliteStorage) -> bool {
    s.offline_totals()
        .expect("totals")
        .balanced_with(&s.totals().expect("totals"))
}

#[test]
fn money_is_conserved_through_collateral_withdrawal_deposit_and_penalty() {
    let (_d, s) = store();
    for (i, a) in ["alice", "shop", "bob"].iter().enumerate() {
        s.create_account(a, &[i as u8 + 1; 32], "", NOW)
            .expect("account");
    }
    s.faucet_credit("alice", 50, NOW).expect("credit");
    assert!(balanced(&s));
    s.move_collateral("alice", &id(1), 10, NOW).expect("lock");
    // A replay of the lock changes nothing; the same id for another amount is refused.
    s.move_collateral("alice", &id(1), 10, NOW).expect("replay");
    assert!(matches!(
        s.move_collateral("alice", &id(1), 9, NOW),
        Err(StorageError::RequestIdReused)
    ));
    assert_eq!(s.account("alice").expect("q").expect("a").balance, 40);
    assert!(balanced(&s));
    let coin = withdraw(&s, "alice", 8, 10);
    assert!(balanced(&s));
    // Beyond the allowance: 8 of 10 in use.
    let pk = key().to_public_key();
    let u = offline::identity(&SECRET, "alice", 1);
    let over = NewOfflineWithdrawal {
        request_id: id(11),
        request_hash: id(11),
        account_id: "alice".into(),
        counter: 1,
        identity: u,
        key_id: KEY_ID,
        value: 4,
        withdraw_until: NOW + 50,
        deposit_until: NOW + 100,
        period: 0,
        candidates_json: "[]".into(),
        chosen_json: "[]".into(),
        unfinished_cap: 4,
        now: NOW,
    };
    assert!(matches!(
        s.begin_offline_withdrawal(&over),
        Err(StorageError::OfflineRefused(_))
    ));
    drop(pk);
    assert_eq!(
        deposit(&s, "shop", 20, vec![transcript(&coin, "shop", 1, 8)]),
        vec![OfflineOutcome::Credited { amount: 8 }]
    );
    assert!(balanced(&s));
    // The same coin at bob, and at the shop again with a new nonce: paid
    // from the 10 of collateral, first deposited first paid.
    assert_eq!(
        deposit(&s, "bob", 21, vec![transcript(&coin, "bob", 2, 8)]),
        vec![OfflineOutcome::DoubleSpent {
            paid: 8,
            identified: true
        }]
    );
    assert_eq!(
        deposit(&s, "shop", 22, vec![transcript(&coin, "shop", 3, 8)]),
        vec![OfflineOutcome::DoubleSpent {
            paid: 2,
            identified: true
        }]
    );
    assert!(balanced(&s));
    let st = s.offline_standing("alice", NOW, 0).expect("standing");
    assert_eq!((st.collateral, st.penalties, st.frozen), (0, 10, true));
    assert_eq!(s.account("shop").expect("q").expect("a").balance, 10);
    assert_eq!(s.account("bob").expect("q").expect("a").balance, 8);
    let named = s.double_spends(Some("alice")).expect("list");
    assert_eq!(named.len(), 2);
    assert!(named.iter().all(|d| d.identity == Some(coin.u)));
    // The batch again: its stored outcomes, nothing more paid.
    assert_eq!(deposit(&s, "bob", 21, vec![]).len(), 1);
    assert!(balanced(&s));
    assert_eq!(s.offline_identities().expect("ids"), vec![coin.u]);
}

#[test]
fn concurrent_payees_of_one_coin_are_paid_once_and_the_rest_from_collateral() {
    let (_d, s) = store();
    s.create_account("cheat", &[1; 32], "", NOW)
        .expect("account");
    s.faucet_credit("cheat", 100, NOW).expect("credit");
    s.move_collateral("cheat", &id(1), 20, NOW).expect("lock");
    let coin = withdraw(&s, "cheat", 4, 2);
    let payees = 12u8;
    for p in 0..payees {
        s.create_account(&format!("p{p}"), &[p + 10; 32], "", NOW)
            .expect("payee");
    }
    let barrier = Arc::new(Barrier::new(usize::from(payees)));
    let handles: Vec<_> = (0..payees)
        .map(|p| {
            let (s, barrier) = (s.clone(), barrier.clone());
            let t = transcript(&coin, &format!("p{p}"), p, 4);
            std::thread::spawn(move || {
                barrier.wait();
                deposit(&s, &format!("p{p}"), 100 + p, vec![t])
            })
        })
        .collect();
    let outcomes: Vec<OfflineOutcome> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let credited = outcomes
        .iter()
        .filter(|o| matches!(o, OfflineOutcome::Credited { .. }))
        .count();
    assert_eq!(credited, 1, "{outcomes:?}");
    let paid: u64 = outcomes
        .iter()
        .map(|o| match o {
            OfflineOutcome::DoubleSpent { paid, identified } => {
                assert!(identified);
                *paid
            }
            _ => 0,
        })
        .sum();
    assert_eq!(paid, 20, "the whole collateral, and no more");
    assert!(balanced(&s));
}

/// `spend` with term `k` made to point at `u` (as a term planted at
/// withdrawal would), where it differs from `other`.
fn planted(spend: &NewTranscript, other: &NewTranscript, u: &Identity) -> NewTranscript {
    let mut t = spend.clone();
    let k = (0..TERMS)
        .find(|&i| t.spend.bits[i] != other.spend.bits[i])
        .expect("two challenges differ somewhere");
    for (p, (a, b)) in t.spend.pads[k]
        .iter_mut()
        .zip(other.spend.pads[k].iter().zip(u.0))
    {
        *p = a ^ b;
    }
    t
}

#[test]
fn a_planted_term_frames_no_one_and_the_cheater_is_never_paid_his_own_collateral() {
    let (_d, s) = store();
    for (i, a) in ["cheat", "victim", "shop", "bob"].iter().enumerate() {
        s.create_account(a, &[i as u8 + 1; 32], "", NOW)
            .expect("account");
        s.faucet_credit(a, 100, NOW).expect("credit");
        s.move_collateral(a, &id(i as u8 + 1), 20, NOW)
            .expect("lock");
    }
    let coin = withdraw(&s, "cheat", 4, 10);
    let victims = withdraw(&s, "victim", 4, 11);
    let first = transcript(&coin, "shop", 1, 4);
    assert_eq!(
        deposit(&s, "shop", 20, vec![first.clone()]),
        vec![OfflineOutcome::Credited { amount: 4 }]
    );
    // The second spend with one term pointing at the victim's identity: the
    // honest terms outvote it, and the cheater is named.
    let second = planted(&transcript(&coin, "bob", 2, 4), &first, &victims.u);
    assert_eq!(
        deposit(&s, "bob", 21, vec![second]),
        vec![OfflineOutcome::DoubleSpent {
            paid: 4,
            identified: true
        }]
    );
    let v = s.offline_standing("victim", NOW, 0).expect("standing");
    assert!(!v.frozen && v.penalties == 0, "the victim is untouched");
    assert_eq!(s.double_spends(Some("cheat")).expect("list").len(), 1);
    // A third spend, deposited by the cheater himself: named, paid nothing.
    assert_eq!(
        deposit(&s, "cheat", 22, vec![transcript(&coin, "cheat", 3, 4)]),
        vec![OfflineOutcome::DoubleSpent {
            paid: 0,
            identified: true
        }]
    );
    let c = s.offline_standing("cheat", NOW, 0).expect("standing");
    assert_eq!((c.collateral, c.penalties, c.frozen), (16, 4, true));
    assert!(balanced(&s));
}

#[test]
fn a_term_copied_from_an_honest_spend_voids_no_coin() {
    let (_d, s) = store();
    for (i, a) in ["honest", "copier", "shop"].iter().enumerate() {
        s.create_account(a, &[i as u8 + 1; 32], "", NOW)
            .expect("account");
        s.faucet_credit(a, 100, NOW).expect("credit");
        s.move_collateral(a, &id(i as u8 + 1), 20, NOW)
            .expect("lock");
    }
    let honest = transcript(&withdraw(&s, "honest", 4, 10), "shop", 1, 4);
    // A coin of the copier's that carries one of the honest spend's terms,
    // revealed the same way (seen in transit), deposited first.
    let mut copy = transcript(&withdraw(&s, "copier", 4, 11), "shop", 2, 4);
    copy.spend.terms[5] = honest.spend.terms[5];
    copy.spend.bits[5] = honest.spend.bits[5];
    copy.spend.pads[5] = honest.spend.pads[5];
    assert_eq!(
        deposit(&s, "shop", 20, vec![copy]),
        vec![OfflineOutcome::Credited { amount: 4 }]
    );
    assert_eq!(
        deposit(&s, "shop", 21, vec![honest]),
        vec![OfflineOutcome::Credited { amount: 4 }],
        "a shared term that names no one is no double spend of this coin"
    );
    assert!(balanced(&s));
}

#[test]
fn the_same_bits_under_another_request_are_no_replay() {
    // A payer grinding a colluding payee's nonce until the challenge bits
    // are those of an honest spend: the bank books it as a double spend it
    // cannot name (never as a replay of the honest one), and pays nothing.
    let (_d, s) = store();
    for (i, a) in ["payer", "shop", "accomplice"].iter().enumerate() {
        s.create_account(a, &[i as u8 + 1; 32], "", NOW)
            .expect("account");
        s.faucet_credit(a, 100, NOW).expect("credit");
    }
    s.move_collateral("payer", &id(1), 10, NOW).expect("lock");
    let coin = withdraw(&s, "payer", 4, 10);
    let honest = transcript(&coin, "shop", 1, 4);
    let mut ground = honest.clone();
    ground.request_hash = id(77);
    assert_eq!(
        deposit(&s, "accomplice", 20, vec![ground]),
        vec![OfflineOutcome::Credited { amount: 4 }]
    );
    assert_eq!(
        deposit(&s, "shop", 21, vec![honest.clone()]),
        vec![OfflineOutcome::DoubleSpent {
            paid: 0,
            identified: false
        }]
    );
    let fraud = s.double_spends(None).expect("list");
    assert_eq!((fraud.len(), fraud[0].identity), (1, None));
    // The very same transcript and request again: a replay.
    assert_eq!(
        deposit(&s, "shop", 22, vec![honest]),
        vec![OfflineOutcome::Replayed]
    );
    assert!(balanced(&s));
}
