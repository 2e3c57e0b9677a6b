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
        M::up(
            r#"
-- The keys whose coins the books take, and what each key's coins never
-- deposited were worth once it expired.
CREATE TABLE coin_keys (
    key_id         BLOB PRIMARY KEY,
    value          INTEGER NOT NULL,
    deposit_until  INTEGER NOT NULL,
    expired_at     INTEGER,
    expired_coins  INTEGER,
    expired_amount INTEGER
);
-- One row per coin paid for (a blinded coin withdrawn twice is two), by
-- key: what a key issued is counted from here, and dropped with the key.
-- Rows from before keep no key: legacy_books counts them.
CREATE TABLE blind_signatures_v3 (
    blinded_hash BLOB NOT NULL,
    request_id   BLOB NOT NULL,
    key_id       BLOB,
    blind_sig    BLOB NOT NULL,
    PRIMARY KEY (blinded_hash, request_id)
);
INSERT INTO blind_signatures_v3 (blinded_hash, request_id, blind_sig)
    SELECT blinded_hash, request_id, blind_sig FROM blind_signatures;
DROP TABLE blind_signatures;
ALTER TABLE blind_signatures_v3 RENAME TO blind_signatures;
CREATE INDEX blind_signatures_by_key ON blind_signatures(key_id);
-- What coins from before were outstanding (withdrawn and not deposited;
-- exchanges move no value), as one figure: their signatures name no key.
-- A coin from before spent since lowers its key's count below what the
-- key issued, and expiring that key takes the difference from here.
CREATE TABLE legacy_books (
    outstanding INTEGER NOT NULL
);
INSERT INTO legacy_books (outstanding)
    SELECT (SELECT COALESCE(SUM(amount), 0) FROM withdrawals)
         - (SELECT COALESCE(SUM(amount), 0) FROM deposits);
-- A coin is its key and its serial. Coins spent before are marked legacy:
-- they were never counted as issued under their key, so not as spent either.
CREATE TABLE spent_coins_v3 (
    key_id   BLOB NOT NULL,
    serial   BLOB NOT NULL,
    spent_at INTEGER NOT NULL,
    spent_in BLOB NOT NULL,
    legacy   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, serial)
) WITHOUT ROWID;
INSERT INTO spent_coins_v3 (key_id, serial, spent_at, spent_in, legacy)
    SELECT key_id, serial, spent_at, spent_in, 1 FROM spent_coins;
DROP TABLE spent_coins;
ALTER TABLE spent_coins_v3 RENAME TO spent_coins;
"#,
        ),
        M::up(
            r#"
-- Clearing between mints (NetCash). Accounts other mints hold here.
CREATE TABLE peer_accounts (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    name       TEXT NOT NULL,
    since      INTEGER NOT NULL
);
-- Payments and exchanges in other mints' coins: journaled before the
-- coins go to their mint, finished with its signed ack (merchant credited,
-- or the new coins signed; the claim booked). A payment names its
-- merchant; an exchange its request's hash, and `payment_info` holds the
-- request itself.
CREATE TABLE clearings (
    payment_id      BLOB PRIMARY KEY,
    peer_bank_id    TEXT NOT NULL,
    merchant_acc_id TEXT REFERENCES accounts(id),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    payer_code_hash BLOB,
    request_hash    BLOB,
    payment_info    TEXT NOT NULL,
    ack             TEXT NOT NULL,
    forward         TEXT NOT NULL,
    began_at        INTEGER NOT NULL,
    peer_ack        TEXT,
    done_at         INTEGER,
    CHECK ((merchant_acc_id IS NULL) = (request_hash IS NOT NULL))
);
CREATE INDEX clearings_pending ON clearings(began_at) WHERE done_at IS NULL;
-- Settlements, as payer (the other mint's account here debited) or as
-- payee (the claim on the other mint lowered once its statement is in).
CREATE TABLE settlements (
    settlement_id BLOB PRIMARY KEY,
    side          TEXT NOT NULL CHECK (side IN ('payer', 'payee')),
    peer_bank_id  TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    request       TEXT NOT NULL,
    statement     TEXT,
    began_at      INTEGER NOT NULL,
    done_at       INTEGER
);
"#,
        ),
        M::up(
            r#"
-- Denomination keys revoked (compromised, or coins extorted under them),
-- and the requests whose blinded coins were extorted: their coins are
-- never recouped.
CREATE TABLE key_revocations (
    key_id     BLOB PRIMARY KEY,
    reason     TEXT NOT NULL CHECK (reason IN ('compromised', 'extorted')),
    revoked_at INTEGER NOT NULL
);
CREATE TABLE extorted_requests (
    request_id BLOB PRIMARY KEY,
    marked_at  INTEGER NOT NULL
);
-- Each blind signature is recouped once ever: with a leaked key, another
-- coin could be made to link to an honest withdrawal's signature.
CREATE TABLE recouped_signatures (
    blinded_hash BLOB PRIMARY KEY,
    request_id   BLOB NOT NULL,
    at           INTEGER NOT NULL
);
"#,
        ),
        M::up(
            r#"
-- Offline (CAFE) coins, OFFLINE.md. Per account: collateral locked, the
-- penalties paid from it, whether a double spend froze it, and the
-- counter of its next identity.
CREATE TABLE offline_accounts (
    account_id   TEXT PRIMARY KEY REFERENCES accounts(id),
    collateral   INTEGER NOT NULL DEFAULT 0 CHECK (collateral >= 0),
    penalties    INTEGER NOT NULL DEFAULT 0,
    frozen       INTEGER NOT NULL DEFAULT 0,
    next_counter INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE offline_collateral_moves (
    request_id BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    delta      INTEGER NOT NULL,
    at         INTEGER NOT NULL
);
-- Each withdrawal, with the identity it was made under: the table that
-- names the withdrawer of a coin spent twice.
CREATE TABLE offline_withdrawals (
    request_id    BLOB PRIMARY KEY,
    request_hash  BLOB NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    counter       INTEGER NOT NULL,
    identity      BLOB NOT NULL UNIQUE,
    key_id        BLOB NOT NULL,
    value          INTEGER NOT NULL,
    withdraw_until INTEGER NOT NULL,
    deposit_until  INTEGER NOT NULL,
    period         INTEGER NOT NULL,
    candidates     TEXT NOT NULL,
    chosen        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('chosen', 'signed', 'refused')),
    open_hash     BLOB,
    response      TEXT,
    at            INTEGER NOT NULL,
    UNIQUE (account_id, counter)
);
CREATE INDEX offline_withdrawals_by_account ON offline_withdrawals(account_id, period);
CREATE TABLE offline_batches (
    batch_id   BLOB PRIMARY KEY,
    batch_hash BLOB NOT NULL,
    payee_id   TEXT NOT NULL REFERENCES accounts(id),
    at         INTEGER NOT NULL
);
-- Every transcript deposited, kept as the evidence: its bits, terms
-- (x, y per term) and revealed pads, and what it was paid.
CREATE TABLE offline_transcripts (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id   BLOB NOT NULL REFERENCES offline_batches(batch_id),
    position   INTEGER NOT NULL,
    coin_id    BLOB NOT NULL,
    key_id     BLOB NOT NULL,
    value      INTEGER NOT NULL,
    bits       BLOB NOT NULL,
    terms      BLOB NOT NULL,
    pads       BLOB NOT NULL,
    spend      TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('credited', 'double_spent', 'replayed')),
    paid       INTEGER NOT NULL,
    identified INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    UNIQUE (batch_id, position)
);
CREATE INDEX offline_transcripts_by_coin ON offline_transcripts(coin_id);
-- Every term of every transcript: a term in two coins is spent twice too.
CREATE TABLE offline_terms (
    term_id    BLOB NOT NULL,
    transcript INTEGER NOT NULL REFERENCES offline_transcripts(seq),
    PRIMARY KEY (term_id, transcript)
);
CREATE TABLE offline_double_spends (
    transcript INTEGER PRIMARY KEY REFERENCES offline_transcripts(seq),
    coin_id    BLOB NOT NULL,
    identity   BLOB,
    account_id TEXT,
    paid       INTEGER NOT NULL
);
"#,
        ),
        M::up(
            r#"
-- A replay is the same transcript for the same request: the same coin and
-- challenge bits under another request is a payer grinding a colluding
-- payee's nonce, and is no replay.
ALTER TABLE offline_transcripts ADD COLUMN request_hash BLOB;
"#,
        ),
    ])
}
