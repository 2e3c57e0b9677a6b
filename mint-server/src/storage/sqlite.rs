//! The embedded default storage: one SQLite file in WAL mode with
//! `synchronous=FULL`, so a committed transaction survives power loss.
//!
//! One connection behind a mutex: SQLite serializes writers anyway, and a
//! single connection makes every method trivially serializable.

use std::path::Path;
use std::sync::Mutex;

use ecash_core::messages::LedgerEntry;
use ecash_core::{B32, Fixed};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::group_commit::GroupCommit;
use super::*;

mod clearing;
mod coin_keys;
mod offline;
mod schema;

use schema::migrations;

/// SQLite-backed [`Storage`].
pub struct SqliteStorage {
    conn: Mutex<Option<Connection>>,
    /// Deposits waiting for the next group commit.
    deposits: GroupCommit<NewDeposit, DepositRecord>,
}

/// Largest number of deposits committed in one transaction.
const GROUP_MAX: usize = 512;

fn db<E: std::fmt::Display>(e: E) -> StorageError {
    StorageError::Db(e.to_string())
}

fn b32(v: Vec<u8>) -> Result<B32, StorageError> {
    <[u8; 32]>::try_from(v.as_slice())
        .map(Fixed)
        .map_err(|_| StorageError::Db("corrupt 32-byte field".into()))
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and runs migrations.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        migrations().to_latest(&mut conn).map_err(db)?;
        Ok(Self {
            deposits: GroupCommit::new(GROUP_MAX),
            conn: Mutex::new(Some(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StorageError::Db("storage lock poisoned".into()))?;
        let conn = guard
            .as_mut()
            .ok_or_else(|| StorageError::Db("storage closed".into()))?;
        f(conn)
    }
}

/// Commits `batch` in one transaction; one outcome per deposit, in order.
fn commit_group(
    c: &mut Connection,
    batch: &[NewDeposit],
) -> Vec<Result<DepositRecord, StorageError>> {
    let run =
        |c: &mut Connection| -> Result<Vec<Result<DepositRecord, StorageError>>, StorageError> {
            let mut tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                let sp = tx.savepoint().map_err(db)?;
                let o = apply_deposit(&sp, job);
                if o.is_ok() {
                    sp.commit().map_err(db)?;
                }
                // Dropping an uncommitted savepoint rolls it back.
                outcomes.push(o);
            }
            tx.commit().map_err(db)?;
            Ok(outcomes)
        };
    match run(c) {
        Ok(o) => o,
        // Nothing committed: every deposit of the group gets the error.
        Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// One deposit inside an open transaction: idempotent by payment id,
/// refused if any serial is spent.
fn apply_deposit(tx: &Connection, d: &NewDeposit) -> Result<DepositRecord, StorageError> {
    if let Some(r) = deposit_record(tx, &d.payment_id)? {
        return Ok(r);
    }
    let spent = already_spent(tx, &d.spent)?;
    if !spent.is_empty() {
        return Err(StorageError::Spent(spent));
    }
    let now = to_i64(d.now)?;
    insert_spent(tx, &d.spent, &d.payment_id, now)?;
    move_money(
        tx,
        &d.merchant_acc_id,
        to_i64(d.amount)?,
        "deposit",
        &d.payment_id.to_b64(),
        now,
    )?;
    tx.execute(
        "INSERT INTO deposits (payment_id, merchant_acc_id, amount, payer_code_hash, payment_info, ack, deposited_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            &d.payment_id.0[..],
            d.merchant_acc_id,
            to_i64(d.amount)?,
            &d.payer_code_hash.0[..],
            d.payment_info_json,
            d.ack_json,
            now
        ],
    )
    .map_err(db)?;
    Ok(DepositRecord {
        payment_id: d.payment_id,
        payer_code_hash: d.payer_code_hash,
        payment_info_json: d.payment_info_json.clone(),
        ack_json: d.ack_json.clone(),
        deposited_at: d.now,
    })
}

/// Answers stored under a request id, from `table` (withdrawals or exchanges).
fn stored_answer(
    conn: &Connection,
    table: &str,
    request_id: &B32,
) -> Result<Option<StoredAnswer>, StorageError> {
    conn.query_row(
        &format!("SELECT request_hash, response FROM {table} WHERE request_id = ?1"),
        params![&request_id.0[..]],
        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
    .map_err(db)?
    .map(|(h, response_json)| {
        Ok(StoredAnswer {
            request_hash: b32(h)?,
            response_json,
        })
    })
    .transpose()
}

/// Serials of `coins` already in `spent_coins` (or repeated in `coins`);
/// `UnknownKey` for a coin of a key not added or expired.
fn already_spent(conn: &Connection, coins: &[CoinId]) -> Result<Vec<B32>, StorageError> {
    let mut live = conn
        .prepare_cached("SELECT 1 FROM coin_keys WHERE key_id = ?1 AND expired_at IS NULL")
        .map_err(db)?;
    let mut stmt = conn
        .prepare_cached("SELECT 1 FROM spent_coins WHERE key_id = ?1 AND serial = ?2")
        .map_err(db)?;
    let mut known = std::collections::HashSet::new();
    let mut seen = std::collections::HashSet::new();
    let mut spent = Vec::new();
    for (serial, key_id) in coins {
        if !known.contains(key_id) {
            if !live.exists(params![&key_id.0[..]]).map_err(db)? {
                return Err(StorageError::UnknownKey(*key_id));
            }
            known.insert(*key_id);
        }
        if !seen.insert((*serial, *key_id))
            || stmt
                .exists(params![&key_id.0[..], &serial.0[..]])
                .map_err(db)?
        {
            spent.push(*serial);
        }
    }
    Ok(spent)
}

fn insert_spent(
    conn: &Connection,
    coins: &[CoinId],
    spent_in: &B32,
    now: i64,
) -> Result<(), StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO spent_coins (key_id, serial, spent_at, spent_in) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db)?;
    for (serial, key_id) in coins {
        stmt.execute(params![&key_id.0[..], &serial.0[..], now, &spent_in.0[..]])
            .map_err(db)?;
    }
    Ok(())
}

fn insert_blind_sigs(
    conn: &Connection,
    sigs: &[IssuedSig],
    request_id: &B32,
) -> Result<(), StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO blind_signatures (blinded_hash, request_id, key_id, blind_sig) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db)?;
    for s in sigs {
        stmt.execute(params![
            &s.blinded_hash.0[..],
            &request_id.0[..],
            &s.key_id.0[..],
            s.signature
        ])
        .map_err(db)?;
    }
    Ok(())
}

/// Adds `delta` to an account's balance with a ledger line; refuses overdraft and overflow.
fn move_money(
    conn: &Connection,
    id: &str,
    delta: i64,
    reason: &str,
    reference: &str,
    now: i64,
) -> Result<u64, StorageError> {
    let balance: i64 = conn
        .query_row(
            "SELECT balance FROM accounts WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?
        .ok_or_else(|| StorageError::UnknownAccount(id.to_owned()))?;
    let new = balance.checked_add(delta).ok_or(StorageError::Overflow)?;
    if new < 0 {
        return Err(StorageError::InsufficientFunds {
            balance: to_u64(balance)?,
            needed: delta.unsigned_abs(),
        });
    }
    conn.execute(
        "UPDATE accounts SET balance = ?1 WHERE id = ?2",
        params![new, id],
    )
    .map_err(db)?;
    conn.execute(
        "INSERT INTO ledger (account_id, delta, reason, reference, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, delta, reason, reference, now],
    )
    .map_err(db)?;
    to_u64(new)
}

fn deposit_record(
    conn: &Connection,
    payment_id: &B32,
) -> Result<Option<DepositRecord>, StorageError> {
    conn.query_row(
        "SELECT payer_code_hash, payment_info, ack, deposited_at FROM deposits WHERE payment_id = ?1",
        params![&payment_id.0[..]],
        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)),
    )
    .optional()
    .map_err(db)?
    .map(|(h, info, ack, at)| {
        Ok(DepositRecord {
            payment_id: *payment_id,
            payer_code_hash: b32(h)?,
            payment_info_json: info,
            ack_json: ack,
            deposited_at: to_u64(at)?,
        })
    })
    .transpose()
}

impl Storage for SqliteStorage {
    fn create_account(
        &self,
        id: &str,
        public_key: &[u8; 32],
        label: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        self.with(|c| {
            let r = c.execute(
                "INSERT INTO accounts (id, public_key, label, balance, created_at) VALUES (?1, ?2, ?3, 0, ?4)",
                params![id, &public_key[..], label, to_i64(now)?],
            );
            match r {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StorageError::AccountExists)
                }
                Err(e) => Err(db(e)),
            }
        })
    }

    fn account(&self, id: &str) -> Result<Option<AccountRecord>, StorageError> {
        self.with(|c| {
            c.query_row(
                "SELECT public_key, balance FROM accounts WHERE id = ?1",
                params![id],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(db)?
            .map(|(pk, balance)| {
                Ok(AccountRecord {
                    id: id.to_owned(),
                    public_key: b32(pk)?.0,
                    balance: to_u64(balance)?,
                })
            })
            .transpose()
        })
    }

    fn ledger(&self, id: &str) -> Result<Vec<LedgerEntry>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached("SELECT delta, reason, reference, at FROM ledger WHERE account_id = ?1 ORDER BY seq")
                .map_err(db)?;
            let rows = stmt
                .query_map(params![id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
                })
                .map_err(db)?;
            rows.map(|row| {
                let (delta, reason, reference, at) = row.map_err(db)?;
                Ok(LedgerEntry { delta, reason, reference, at: to_u64(at)? })
            })
            .collect()
        })
    }

    fn faucet_credit(&self, id: &str, amount: u64, now: u64) -> Result<u64, StorageError> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let balance = move_money(&tx, id, to_i64(amount)?, "faucet", "demo", to_i64(now)?)?;
            tx.commit().map_err(db)?;
            Ok(balance)
        })
    }

    fn withdrawal(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError> {
        self.with(|c| stored_answer(c, "withdrawals", request_id))
    }

    fn commit_withdrawal(&self, w: &NewWithdrawal) -> Result<StoredAnswer, StorageError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            if let Some(a) = StoredAnswer::replay(stored_answer(&tx, "withdrawals", &w.request_id)?, &w.request_hash)? {
                return Ok(a);
            }
            let now = to_i64(w.now)?;
            move_money(&tx, &w.account_id, -to_i64(w.amount)?, "withdraw", &w.request_id.to_b64(), now)?;
            tx.execute(
                "INSERT INTO withdrawals (request_id, request_hash, account_id, amount, response, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&w.request_id.0[..], &w.request_hash.0[..], w.account_id, to_i64(w.amount)?, w.response_json, now],
            )
            .map_err(db)?;
            insert_blind_sigs(&tx, &w.signatures, &w.request_id)?;
            tx.commit().map_err(db)?;
            Ok(StoredAnswer { request_hash: w.request_hash, response_json: w.response_json.clone() })
        })
    }

    fn exchange(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError> {
        self.with(|c| stored_answer(c, "exchanges", request_id))
    }

    fn commit_exchange(&self, x: &NewExchange) -> Result<StoredAnswer, StorageError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            if let Some(a) = StoredAnswer::replay(stored_answer(&tx, "exchanges", &x.request_id)?, &x.request_hash)? {
                return Ok(a);
            }
            let spent = already_spent(&tx, &x.spent)?;
            if !spent.is_empty() {
                return Err(StorageError::Spent(spent));
            }
            let now = to_i64(x.now)?;
            insert_spent(&tx, &x.spent, &x.request_id, now)?;
            for h in &x.recouped {
                let fresh = tx
                    .execute(
                        "INSERT OR IGNORE INTO recouped_signatures (blinded_hash, request_id, at) VALUES (?1, ?2, ?3)",
                        params![&h.0[..], &x.request_id.0[..], now],
                    )
                    .map_err(db)?;
                if fresh == 0 {
                    return Err(StorageError::Recouped);
                }
            }
            tx.execute(
                "INSERT INTO exchanges (request_id, request_hash, response, at) VALUES (?1, ?2, ?3, ?4)",
                params![&x.request_id.0[..], &x.request_hash.0[..], x.response_json, now],
            )
            .map_err(db)?;
            insert_blind_sigs(&tx, &x.signatures, &x.request_id)?;
            tx.commit().map_err(db)?;
            Ok(StoredAnswer { request_hash: x.request_hash, response_json: x.response_json.clone() })
        })
    }

    fn deposit(&self, payment_id: &B32) -> Result<Option<DepositRecord>, StorageError> {
        self.with(|c| deposit_record(c, payment_id))
    }

    /// Group commit: every deposit waiting is committed in one transaction
    /// (one fsync), each inside its own savepoint so a refused one (a double
    /// spend) does not take the others down.
    fn commit_deposit(&self, d: &NewDeposit) -> Result<DepositRecord, StorageError> {
        self.deposits.submit(d.clone(), |batch| {
            self.with(|c| Ok(commit_group(c, batch)))
                .unwrap_or_else(|e| batch.iter().map(|_| Err(e.clone())).collect())
        })
    }

    fn spent(&self, coins: &[CoinId]) -> Result<Vec<bool>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached("SELECT 1 FROM spent_coins WHERE key_id = ?1 AND serial = ?2")
                .map_err(db)?;
            coins
                .iter()
                .map(|(s, k)| stmt.exists(params![&k.0[..], &s.0[..]]).map_err(db))
                .collect()
        })
    }

    fn spent_serials(&self, key_id: &B32) -> Result<Vec<B32>, StorageError> {
        self.with(|c| {
            let live = c
                .prepare_cached("SELECT 1 FROM coin_keys WHERE key_id = ?1 AND expired_at IS NULL")
                .map_err(db)?
                .exists(params![&key_id.0[..]])
                .map_err(db)?;
            if !live {
                return Err(StorageError::UnknownKey(*key_id));
            }
            let mut stmt = c
                .prepare_cached("SELECT serial FROM spent_coins WHERE key_id = ?1")
                .map_err(db)?;
            let rows = stmt
                .query_map(params![&key_id.0[..]], |r| r.get::<_, Vec<u8>>(0))
                .map_err(db)?;
            rows.map(|r| b32(r.map_err(db)?)).collect()
        })
    }

    fn blind_signatures(&self, hashes: &[B32]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT blind_sig FROM blind_signatures WHERE blinded_hash = ?1 LIMIT 1",
                )
                .map_err(db)?;
            hashes
                .iter()
                .map(|h| {
                    stmt.query_row(params![&h.0[..]], |r| r.get::<_, Vec<u8>>(0))
                        .optional()
                        .map_err(db)
                })
                .collect()
        })
    }

    fn revoke_key(&self, r: &KeyRevocation, extorted: &[B32]) -> Result<(), StorageError> {
        self.with(|c| {
            let tx = c.unchecked_transaction().map_err(db)?;
            tx.execute(
                "INSERT OR IGNORE INTO key_revocations (key_id, reason, revoked_at)
                 VALUES (?1, ?2, ?3)",
                params![&r.key_id.0[..], r.reason.as_str(), to_i64(r.revoked_at)?],
            )
            .map_err(db)?;
            for id in extorted {
                tx.execute(
                    "INSERT OR IGNORE INTO extorted_requests (request_id, marked_at) VALUES (?1, ?2)",
                    params![&id.0[..], to_i64(r.revoked_at)?],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)
        })
    }

    fn key_revocations(&self) -> Result<Vec<KeyRevocation>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key_id, reason, revoked_at FROM key_revocations ORDER BY key_id",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(db)?;
            rows.map(|r| {
                let (k, reason, at) = r.map_err(db)?;
                Ok(KeyRevocation {
                    key_id: b32(k)?,
                    reason: reason_from(&reason)?,
                    revoked_at: to_u64(at)?,
                })
            })
            .collect()
        })
    }

    fn signature_origins(&self, blinded_hash: &B32) -> Result<SignatureOrigins, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT request_id, blind_sig FROM blind_signatures WHERE blinded_hash = ?1",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![&blinded_hash.0[..]], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(db)?;
            let issued = rows
                .map(|r| {
                    let (id, sig) = r.map_err(db)?;
                    Ok((b32(id)?, sig))
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            let recouped = c
                .prepare_cached("SELECT 1 FROM recouped_signatures WHERE blinded_hash = ?1")
                .map_err(db)?
                .exists(params![&blinded_hash.0[..]])
                .map_err(db)?;
            Ok(SignatureOrigins { issued, recouped })
        })
    }

    fn any_extorted(&self, request_ids: &[B32]) -> Result<bool, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare_cached("SELECT 1 FROM extorted_requests WHERE request_id = ?1")
                .map_err(db)?;
            for id in request_ids {
                if stmt.exists(params![&id.0[..]]).map_err(db)? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    fn record_proof(
        &self,
        payment_id: &B32,
        proof_json: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO proofs (payment_id, proof, issued_at) VALUES (?1, ?2, ?3)",
                params![&payment_id.0[..], proof_json, to_i64(now)?],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn add_keys(&self, keys: &[CoinKey]) -> Result<(), StorageError> {
        self.with(|c| coin_keys::add(c, keys))
    }

    fn expire_keys(&self, cutoff: u64, now: u64) -> Result<Vec<Expiry>, StorageError> {
        self.with(|c| coin_keys::expire_due(c, cutoff, now))
    }

    fn totals(&self) -> Result<Totals, StorageError> {
        self.with(|c| {
            let q = |sql: &str| -> Result<u64, StorageError> {
                to_u64(c.query_row(sql, [], |r| r.get::<_, i64>(0)).map_err(db)?)
            };
            // One read transaction: the sums are of one state of the books.
            c.execute_batch("BEGIN").map_err(db)?;
            let sums = (|| {
                Ok(Totals {
                    credited: q(
                        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE reason = 'faucet'",
                    )?,
                    balances: q("SELECT COALESCE(SUM(balance), 0) FROM accounts")?,
                    outstanding: q(coin_keys::OUTSTANDING)?,
                    expired: q("SELECT COALESCE(SUM(expired_amount), 0) FROM coin_keys")?,
                })
            })();
            c.execute_batch("COMMIT").map_err(db)?;
            sums
        })
    }

    fn close(&self) -> Result<(), StorageError> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StorageError::Db("storage lock poisoned".into()))?;
        if let Some(conn) = guard.take() {
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
                .map_err(db)?;
            conn.close().map_err(|(_, e)| db(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
