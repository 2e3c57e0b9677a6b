//! The bank's PostgreSQL schema, as numbered migrations that run once.
//!
//! Several nodes may start together: each takes a transaction-scoped
//! advisory lock before it reads the schema's version, so one applies what
//! is missing and the others find it done. A database newer than this
//! build is refused rather than used.

use deadpool_postgres::Client;

use super::{StorageError, pg};

/// The advisory lock the migrations hold ("ecash-mig").
const MIGRATION_LOCK: i64 = 0x6563_6173_682d_6d69;

/// Migrations in order; `schema_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    public_key  BYTEA NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    created_at  BIGINT NOT NULL
);
CREATE TABLE ledger (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    delta       BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX ledger_account ON ledger(account_id, seq);
CREATE TABLE withdrawals (
    request_id   BYTEA PRIMARY KEY,
    request_hash BYTEA NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    amount       BIGINT NOT NULL,
    response     TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE TABLE exchanges (
    request_id   BYTEA PRIMARY KEY,
    request_hash BYTEA NOT NULL,
    response     TEXT NOT NULL,
    at           BIGINT NOT NULL
);
-- Blinded messages are unlinkable to coins: storing them costs no privacy.
CREATE TABLE blind_signatures (
    blinded_hash BYTEA PRIMARY KEY,
    blind_sig    BYTEA NOT NULL,
    request_id   BYTEA NOT NULL
);
-- A serial enters here at its deposit and never before; the key is what
-- makes a double spend impossible, whatever node commits it.
CREATE TABLE spent_coins (
    serial    BYTEA PRIMARY KEY,
    key_id    BYTEA NOT NULL,
    spent_at  BIGINT NOT NULL,
    spent_in  BYTEA NOT NULL
);
CREATE INDEX spent_coins_by_key ON spent_coins(key_id);
CREATE TABLE deposits (
    payment_id      BYTEA PRIMARY KEY,
    merchant_acc_id TEXT NOT NULL REFERENCES accounts(id),
    amount          BIGINT NOT NULL,
    payer_code_hash BYTEA NOT NULL,
    payment_info    TEXT NOT NULL,
    ack             TEXT NOT NULL,
    deposited_at    BIGINT NOT NULL
);
CREATE TABLE proofs (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id BYTEA NOT NULL REFERENCES deposits(payment_id),
    proof      TEXT NOT NULL,
    issued_at  BIGINT NOT NULL
);
"#,
    r#"
-- The keys every node of the mint signs with, each private key sealed
-- under the key-encryption key the nodes are given (see keys::vault).
CREATE TABLE mint_secrets (
    name    TEXT PRIMARY KEY,
    sealed  BYTEA NOT NULL
);
CREATE TABLE denomination_keys (
    key_id        BYTEA PRIMARY KEY,
    currency      TEXT NOT NULL,
    value         BIGINT NOT NULL,
    withdraw_from BIGINT NOT NULL,
    record        TEXT NOT NULL,
    sealed        BYTEA,
    created_at    BIGINT NOT NULL,
    -- One key per value and period, whatever node made it.
    UNIQUE (currency, value, withdraw_from)
);
"#,
    r#"
-- The keys whose coins the books take, and what each key's coins never
-- deposited were worth once it expired (see coin_keys.rs).
CREATE TABLE coin_keys (
    key_id         BYTEA PRIMARY KEY,
    value          BIGINT NOT NULL,
    deposit_until  BIGINT NOT NULL,
    expired_at     BIGINT,
    expired_coins  BIGINT,
    expired_amount BIGINT
);
-- What coins from before were outstanding (withdrawn and not deposited;
-- exchanges move no value), as one figure: their signatures name no key.
-- A coin from before spent since lowers its key's count below what the
-- key issued, and expiring that key takes the difference from here.
CREATE TABLE legacy_books (
    outstanding BIGINT NOT NULL
);
INSERT INTO legacy_books (outstanding)
    SELECT (SELECT COALESCE(SUM(amount), 0) FROM withdrawals)
         - (SELECT COALESCE(SUM(amount), 0) FROM deposits);
-- One row per coin paid for (a blinded coin withdrawn twice is two), by
-- key: what a key issued is counted from here, and dropped with the key.
-- Rows from before keep no key: legacy_books counts them.
ALTER TABLE blind_signatures ADD COLUMN key_id BYTEA;
ALTER TABLE blind_signatures DROP CONSTRAINT blind_signatures_pkey;
ALTER TABLE blind_signatures ADD PRIMARY KEY (blinded_hash, request_id);
CREATE INDEX blind_signatures_by_key ON blind_signatures(key_id);
-- A coin is its key and its serial, and each key's coins are a partition.
ALTER TABLE spent_coins RENAME TO spent_coins_v1;
DROP INDEX spent_coins_by_key;
-- Coins spent before are marked legacy: they were never counted as issued
-- under their key, so not as spent either.
CREATE TABLE spent_coins (
    key_id    BYTEA NOT NULL,
    serial    BYTEA NOT NULL,
    spent_at  BIGINT NOT NULL,
    spent_in  BYTEA NOT NULL,
    legacy    BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (key_id, serial)
) PARTITION BY LIST (key_id);
DO $$
DECLARE k BYTEA;
BEGIN
    FOR k IN SELECT DISTINCT key_id FROM spent_coins_v1 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF spent_coins FOR VALUES IN (decode(%L, ''hex''))',
            'spent_coins_k' || encode(substring(k FROM 1 FOR 16), 'hex'),
            encode(k, 'hex'));
    END LOOP;
END $$;
INSERT INTO spent_coins (key_id, serial, spent_at, spent_in, legacy)
    SELECT key_id, serial, spent_at, spent_in, true FROM spent_coins_v1;
DROP TABLE spent_coins_v1;
"#,
    // Denomination keys revoked, and the requests whose blinded coins were
    // extorted: their coins are never recouped.
    r#"
CREATE TABLE key_revocations (
    key_id     BYTEA PRIMARY KEY,
    reason     TEXT NOT NULL CHECK (reason IN ('compromised', 'extorted')),
    revoked_at BIGINT NOT NULL
);
CREATE TABLE extorted_requests (
    request_id BYTEA PRIMARY KEY,
    marked_at  BIGINT NOT NULL
);
-- Each blind signature is recouped once ever: with a leaked key, another
-- coin could be made to link to an honest withdrawal's signature.
CREATE TABLE recouped_signatures (
    blinded_hash BYTEA PRIMARY KEY,
    request_id   BYTEA NOT NULL,
    at           BIGINT NOT NULL
);
"#,
];

/// Applies the migrations this database lacks, under the cluster-wide lock.
pub(super) async fn migrate(client: &mut Client) -> Result<(), StorageError> {
    migrate_to(client, MIGRATIONS.len()).await
}

/// [`migrate`], up to version `target` (tests start from older schemas).
pub(super) async fn migrate_to(client: &mut Client, target: usize) -> Result<(), StorageError> {
    let tx = client.transaction().await.map_err(pg("migrations"))?;
    // A migration may wait for another node's and may take long: the
    // session's limits on statements and lock waits do not apply to it.
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
        .await
        .map_err(pg("migrations"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg("the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg("the schema version"))?;
    let done: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await
        .map_err(pg("the schema version"))?
        .get(0);
    let known = MIGRATIONS.len();
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > known {
        return Err(StorageError::Db(format!(
            "the database's schema is version {done}, newer than this mint's {known}: upgrade the mint"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target).skip(done) {
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.batch_execute(sql)
            .await
            .map_err(pg(&format!("migration {version}")))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg("the schema version"))?;
        tracing::info!(version, "database migrated");
    }
    tx.commit().await.map_err(pg("migrations"))
}

/// How many migrations this build knows.
#[cfg(test)]
pub(super) fn latest() -> usize {
    MIGRATIONS.len()
}
