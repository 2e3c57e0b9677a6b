//! The bank's SQLite schema, as migrations.

use rusqlite_migration::{M, Migrations};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many ran (the count this file kept before it used `rusqlite_migration`).
pub(super) fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    public_key  BLOB NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    created_at  INTEGER NOT NULL
);
CREATE TABLE ledger (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX ledger_account ON ledger(account_id, seq);
CREATE TABLE withdrawals (
    request_id   BLOB PRIMARY KEY,
    request_hash BLOB NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    amount       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE TABLE exchanges (
    request_id   BLOB PRIMARY KEY,
    request_hash BLOB NOT NULL,
    response     TEXT NOT NULL,
    at           INTEGER NOT NULL
);
-- Blinded messages are unlinkable to coins: storing them costs no privacy.
CREATE TABLE blind_signatures (
    blinded_hash BLOB PRIMARY KEY,
    blind_sig    BLOB NOT NULL,
    request_id   BLOB NOT NULL
);
-- A serial enters here at its deposit and never before.
CREATE TABLE spent_coins (
    serial    BLOB PRIMARY KEY,
    key_id    BLOB NOT NULL,
    spent_at  INTEGER NOT NULL,
    spent_in  BLOB NOT NULL
);
CREATE TABLE deposits (
    payment_id      BLOB PRIMARY KEY,
    merchant_acc_id TEXT NOT NULL REFERENCES accounts(id),
    amount          INTEGER NOT NULL,
    payer_code_hash BLOB NOT NULL,
    payment_info    TEXT NOT NULL,
    ack             TEXT NOT NULL,
    deposited_at    INTEGER NOT NULL
);
CREATE TABLE proofs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id BLOB NOT NULL REFERENCES deposits(payment_id),
    proof      TEXT NOT NULL,
    issued_at  INTEGER NOT NULL
);
"#,
        ),
        M::up(
            r#"
-- The public spent list of one key reads its serials by key.
CREATE INDEX spent_coins_by_key ON spent_coins(key_id);
"#,
        ),
    ])
}
