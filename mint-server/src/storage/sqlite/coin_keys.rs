//! The keys whose coins the books take, and their expiry: once a key's
//! window has closed, what its coins never deposited were worth is booked
//! as expired, and its spent coins and blind signatures are deleted, so the
//! spent set holds only the coins of keys in force.

use ecash_core::B32;
use rusqlite::{Connection, TransactionBehavior, params};

use super::{b32, db};
use crate::storage::*;

/// Value of the coins issued and not spent: key by key for unexpired keys,
/// plus what coins from before keys were counted still hold.
pub(super) const OUTSTANDING: &str = "SELECT (SELECT outstanding FROM legacy_books)
      + COALESCE(SUM(k.value * (
        (SELECT COUNT(*) FROM blind_signatures b WHERE b.key_id = k.key_id)
      - (SELECT COUNT(*) FROM spent_coins s WHERE s.key_id = k.key_id AND s.legacy = 0))), 0)
    FROM coin_keys k WHERE k.expired_at IS NULL";

/// Adds the keys not in the books yet.
pub(super) fn add(c: &mut Connection, keys: &[CoinKey]) -> Result<(), StorageError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO coin_keys (key_id, value, deposit_until) VALUES (?1, ?2, ?3)",
            )
            .map_err(db)?;
        for k in keys {
            stmt.execute(params![
                &k.key_id.0[..],
                to_i64(k.value)?,
                to_i64(k.deposit_until)?
            ])
            .map_err(db)?;
        }
    }
    tx.commit().map_err(db)
}

/// Expires every key in force whose window closed before `cutoff`, in one transaction.
pub(super) fn expire_due(
    c: &mut Connection,
    cutoff: u64,
    now: u64,
) -> Result<Vec<Expiry>, StorageError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let due: Vec<(Vec<u8>, i64)> = {
        let mut stmt = tx
            .prepare(
                "SELECT key_id, value FROM coin_keys WHERE expired_at IS NULL AND deposit_until < ?1",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![to_i64(cutoff)?], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let mut done = Vec::with_capacity(due.len());
    for (key_id, value) in due {
        done.push(expire_key(
            &tx,
            &b32(key_id)?,
            to_u64(value)?,
            to_i64(now)?,
        )?);
    }
    tx.commit().map_err(db)?;
    Ok(done)
}

/// Expires one key inside an open transaction: books its unspent value
/// (coins from before keys were counted, spent since, come out of the
/// legacy figure), deletes its coins and signatures.
fn expire_key(tx: &Connection, key_id: &B32, value: u64, now: i64) -> Result<Expiry, StorageError> {
    let count = |sql: &str| -> Result<i64, StorageError> {
        tx.query_row(sql, params![&key_id.0[..]], |r| r.get::<_, i64>(0))
            .map_err(db)
    };
    let issued = count("SELECT COUNT(*) FROM blind_signatures WHERE key_id = ?1")?;
    let spent = count("SELECT COUNT(*) FROM spent_coins WHERE key_id = ?1 AND legacy = 0")?;
    let (coins, amount, legacy) = expiry_split(issued - spent, value)?;
    tx.execute(
        "UPDATE coin_keys SET expired_at = ?2, expired_coins = ?3, expired_amount = ?4 WHERE key_id = ?1",
        params![&key_id.0[..], now, coins, amount],
    )
    .map_err(db)?;
    if legacy != 0 {
        tx.execute(
            "UPDATE legacy_books SET outstanding = outstanding + ?1",
            params![legacy],
        )
        .map_err(db)?;
    }
    tx.execute(
        "DELETE FROM spent_coins WHERE key_id = ?1",
        params![&key_id.0[..]],
    )
    .map_err(db)?;
    tx.execute(
        "DELETE FROM blind_signatures WHERE key_id = ?1",
        params![&key_id.0[..]],
    )
    .map_err(db)?;
    Ok(Expiry {
        key_id: *key_id,
        coins: to_u64(coins)?,
        amount: to_u64(amount)?,
    })
}
