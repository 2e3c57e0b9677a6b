//! SQLite storage against a real file: the contract, migrations, reopen.

use super::*;

fn store() -> (tempfile::TempDir, SqliteStorage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStorage::open(&dir.path().join("bank.db")).expect("open");
    (dir, s)
}

#[test]
fn sqlite_keeps_the_storage_contract() {
    let dirs = std::cell::RefCell::new(Vec::new());
    crate::storage::contract::run(|| {
        let (dir, s) = store();
        dirs.borrow_mut().push(dir);
        s
    });
}

#[test]
fn migrations_are_valid() {
    migrations()
        .validate()
        .expect("every migration applies in order");
}

#[test]
fn reopen_keeps_everything_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bank.db");
    {
        let s = SqliteStorage::open(&path).expect("open");
        s.create_account("a", &[1; 32], "", 0).expect("create");
        s.faucet_credit("a", 3, 0).expect("credit");
        s.close().expect("close");
        assert!(s.account("a").is_err(), "closed storage refuses work");
    }
    let s = SqliteStorage::open(&path).expect("reopen");
    assert_eq!(s.account("a").expect("q").expect("a").balance, 3);
}

/// Books from before a coin was (key, serial): their coins stay spent,
/// what they had outstanding stays counted (as one legacy figure, as their
/// signatures name no key), a coin from before deposited since and a key
/// of theirs expiring keep the books balanced.
#[test]
fn books_from_before_keys_were_counted_stay_spent_and_balanced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bank.db");
    {
        let mut conn = Connection::open(&path).expect("open");
        migrations().to_version(&mut conn, 2).expect("version 2");
        // 10 credited to a; a withdrew 3 coins of 2; one was paid to m.
        conn.execute_batch(
            "INSERT INTO accounts VALUES ('a', x'01', '', 4, 0), ('m', x'02', '', 2, 0);
             INSERT INTO ledger (account_id, delta, reason, reference, at) VALUES
                 ('a', 10, 'faucet', 'demo', 0), ('a', -6, 'withdraw', 'r', 0), ('m', 2, 'deposit', 'p', 0);
             INSERT INTO withdrawals VALUES (x'0a', x'0b', 'a', 6, '{}', 0);
             INSERT INTO blind_signatures VALUES (x'c1', x'51', x'0a'), (x'c2', x'52', x'0a'), (x'c3', x'53', x'0a');
             INSERT INTO deposits VALUES (x'0d', 'm', 2, x'00', '{}', 'ack', 0);",
        )
        .expect("books of version 2");
        conn.execute(
            "INSERT INTO spent_coins (serial, key_id, spent_at, spent_in) VALUES (?1, ?2, 0, x'0d')",
            params![&[1u8; 32][..], &[7u8; 32][..]],
        )
        .expect("a coin spent before");
    }
    let s = SqliteStorage::open(&path).expect("migrates");
    let key = CoinKey {
        key_id: Fixed([7; 32]),
        value: 2,
        deposit_until: 10,
    };
    s.add_keys(std::slice::from_ref(&key)).expect("add");
    let coin = |serial: u8| (Fixed([serial; 32]), Fixed([7; 32]));
    assert_eq!(s.spent(&[coin(1), coin(2)]).expect("q"), vec![true, false]);
    assert_eq!(
        s.spent_serials(&key.key_id).expect("list"),
        vec![Fixed([1; 32])]
    );
    let t = s.totals().expect("totals");
    assert_eq!(
        (t.credited, t.balances, t.outstanding, t.expired),
        (10, 6, 4, 0)
    );
    assert!(t.balanced(), "{t:?}");
    // A coin from before, deposited now.
    s.commit_deposit(&NewDeposit {
        payment_id: Fixed([9; 32]),
        merchant_acc_id: "m".into(),
        amount: 2,
        spent: vec![coin(2)],
        payer_code_hash: Fixed([0; 32]),
        payment_info_json: "{}".into(),
        ack_json: "ack".into(),
        now: 5,
    })
    .expect("a coin from before pays");
    let t = s.totals().expect("totals");
    assert_eq!((t.balances, t.outstanding), (8, 2), "{t:?}");
    assert!(t.balanced(), "{t:?}");
    // Its key expires: the coin from before spent since comes out of the
    // legacy figure, nothing is booked as expired, the books still balance.
    let done = s.expire_keys(11, 12).expect("expire");
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].coins, done[0].amount), (0, 0));
    let t = s.totals().expect("totals");
    assert_eq!((t.balances, t.outstanding, t.expired), (8, 2, 0), "{t:?}");
    assert!(t.balanced(), "{t:?}");
}
