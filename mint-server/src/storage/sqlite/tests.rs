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
