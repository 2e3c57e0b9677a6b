//! The spent coins, partitioned by denomination key: each key's coins go
//! into a table of their own, made when the key is added, and dropped
//! whole when its deposit window has closed, after the value of its coins
//! never deposited is booked as expired. The spent set so holds only the
//! coins of keys still in force, however long the mint runs.
//!
//! Locks: every statement on the spent coins locks the parent table, then
//! the partitions it reads. DDL here takes the parent first too (create,
//! detach) and touches a partition alone only once it is detached: the
//! other order deadlocks against readers.

use deadpool_postgres::{Client, GenericClient};
use ecash_core::B32;
use tokio_postgres::error::SqlState;

use super::{Fail, R, b32};
use crate::storage::*;

/// The advisory lock adding keys holds ("ecash-bks"): two nodes adding
/// one key would both try to create its partition.
const ADD_LOCK: i64 = 0x6563_6173_682d_626b;

/// The partition of `key_id`'s spent coins. Identifiers hold at most 63
/// bytes: half the key id's 64 hex digits name it (128 bits, unique enough).
pub(super) fn partition(key_id: &B32) -> String {
    let hex: String = key_id.0[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("spent_coins_k{hex}")
}

/// `key_id` as an SQL expression (DDL takes no parameters; hex digits only,
/// decoded by the server whatever its string settings).
fn literal(key_id: &B32) -> String {
    let hex: String = key_id.0.iter().map(|b| format!("{b:02x}")).collect();
    format!("decode('{hex}', 'hex')")
}

/// Whether `e` is PostgreSQL finding no partition for a row: a coin of a
/// key never added, or expired.
pub(super) fn no_partition(e: &Fail) -> bool {
    matches!(e, Fail::Pg(e) if e.code() == Some(&SqlState::CHECK_VIOLATION))
}

/// The first of `coins`' keys not in force in the books, as the error to give.
pub(super) async fn unknown_key(c: &impl GenericClient, coins: &[CoinId]) -> Fail {
    let keys: Vec<&[u8]> = coins.iter().map(|(_, k)| &k.0[..]).collect();
    let live = match c
        .query(
            "SELECT key_id FROM coin_keys WHERE key_id = ANY($1) AND expired_at IS NULL",
            &[&keys],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Fail::Pg(e),
    };
    let live: Vec<Vec<u8>> = live.iter().map(|r| r.get(0)).collect();
    match coins
        .iter()
        .find(|(_, k)| !live.iter().any(|l| l[..] == k.0[..]))
    {
        Some((_, k)) => StorageError::UnknownKey(*k).into(),
        None => StorageError::Db("a coin found no partition of a key in force".into()).into(),
    }
}

/// Value of the coins issued and not spent: key by key for unexpired keys,
/// plus what coins from before keys were counted still hold.
pub(super) const OUTSTANDING: &str = "SELECT ((SELECT outstanding FROM legacy_books)
      + COALESCE(SUM(k.value * (
        (SELECT COUNT(*) FROM blind_signatures b WHERE b.key_id = k.key_id)
      - (SELECT COUNT(*) FROM spent_coins s WHERE s.key_id = k.key_id AND NOT s.legacy))), 0))::BIGINT
    FROM coin_keys k WHERE k.expired_at IS NULL";

/// Adds the keys not in the books yet, each with its partition.
pub(super) async fn add(c: &mut Client, keys: &[CoinKey]) -> R<()> {
    let ids: Vec<&[u8]> = keys.iter().map(|k| &k.key_id.0[..]).collect();
    let known = |rows: Vec<tokio_postgres::Row>| -> Vec<Vec<u8>> {
        rows.iter().map(|r| r.get(0)).collect()
    };
    let find = "SELECT key_id FROM coin_keys WHERE key_id = ANY($1)";
    let have = known(c.query(find, &[&ids]).await?);
    if keys
        .iter()
        .all(|k| have.iter().any(|h| h[..] == k.key_id.0[..]))
    {
        return Ok(());
    }
    let tx = c.transaction().await?;
    // Another node adding keys is waited for, however long (each of its
    // DDL statements is bounded, below).
    tx.batch_execute("SET LOCAL lock_timeout = 0").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADD_LOCK])
        .await?;
    // CREATE ... PARTITION OF locks the whole spent set: it waits for the
    // deposits in flight, and every new one waits behind it. Not long:
    // given up after 2 s, and tried again at the next rotation tick.
    tx.batch_execute("SET LOCAL lock_timeout = '2s'").await?;
    let have = known(tx.query(find, &[&ids]).await?);
    for k in keys {
        if have.iter().any(|h| h[..] == k.key_id.0[..]) {
            continue;
        }
        // The partition first: a key in coin_keys always has one.
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF spent_coins FOR VALUES IN ({})",
            partition(&k.key_id),
            literal(&k.key_id)
        ))
        .await?;
        tx.execute(
            "INSERT INTO coin_keys (key_id, value, deposit_until) VALUES ($1, $2, $3)",
            &[
                &&k.key_id.0[..],
                &to_i64(k.value)?,
                &to_i64(k.deposit_until)?,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Keys in force whose window closed before `cutoff`.
pub(super) async fn due(c: &impl GenericClient, cutoff: i64) -> R<Vec<(B32, u64)>> {
    let rows = c
        .query(
            "SELECT key_id, value FROM coin_keys WHERE expired_at IS NULL AND deposit_until < $1",
            &[&cutoff],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((b32(r.get::<_, &[u8]>(0))?, to_u64(r.get(1))?)))
        .collect()
}

/// The advisory lock expiring keys holds ("ecash-exp").
const EXPIRE_LOCK: i64 = 0x6563_6173_682d_6578;

/// Whether `part` is still a partition of `spent_coins` (not detached, not dropped).
async fn attached(c: &impl GenericClient, part: &str) -> R<bool> {
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits
                 WHERE inhrelid = to_regclass($1) AND inhparent = 'spent_coins'::regclass)",
            &[&part],
        )
        .await?;
    Ok(row.get(0))
}

/// Expires one key, unless another node did, in one transaction: detaches
/// its partition (no coin can enter it after), counts its coins issued and
/// spent, books the difference (see [`book`]), drops the partition.
///
/// The detach locks the parent table and nothing before it, as every query
/// of the spent coins does (parent, then partitions), so it cannot deadlock
/// with them; deposits of other keys wait while the partition is counted.
/// The key's blind signatures are deleted after, in [`forget_signatures`].
pub(super) async fn expire(
    c: &mut Client,
    key_id: &B32,
    value: u64,
    now: i64,
) -> R<Option<Expiry>> {
    let tx = c.transaction().await?;
    // Another node expiring this key is waited for, then found done.
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EXPIRE_LOCK])
        .await?;
    // The detach waits for deposits in flight, and new ones wait behind
    // it: given up after 2 s, and tried again at the next tick.
    tx.batch_execute("SET LOCAL lock_timeout = '2s'").await?;
    let id = &key_id.0[..];
    let live: bool = tx
        .query_one(
            "SELECT expired_at IS NULL FROM coin_keys WHERE key_id = $1",
            &[&id],
        )
        .await?
        .get(0);
    if !live {
        return Ok(None);
    }
    let issued: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM blind_signatures WHERE key_id = $1",
            &[&id],
        )
        .await?
        .get(0);
    let part = partition(key_id);
    if attached(&tx, &part).await? {
        tx.batch_execute(&format!("ALTER TABLE spent_coins DETACH PARTITION {part}"))
            .await?;
    }
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&part])
        .await?
        .get(0);
    let spent: i64 = if exists {
        tx.query_one(
            &format!("SELECT COUNT(*) FROM {part} WHERE NOT legacy"),
            &[],
        )
        .await?
        .get(0)
    } else {
        0
    };
    let e = book(&tx, key_id, value, issued - spent, now).await?;
    if exists {
        tx.batch_execute(&format!("DROP TABLE {part}")).await?;
    }
    tx.commit().await?;
    Ok(Some(e))
}

/// Books an expired key whose coins issued exceed those spent by
/// `unspent`: that many coins' value is expired. Fewer (coins from before
/// keys were counted, spent since) come out of the legacy figure.
async fn book(
    tx: &deadpool_postgres::Transaction<'_>,
    key_id: &B32,
    value: u64,
    unspent: i64,
    now: i64,
) -> R<Expiry> {
    let (coins, amount, legacy) = expiry_split(unspent, value)?;
    tx.execute(
        "UPDATE coin_keys SET expired_at = $2, expired_coins = $3, expired_amount = $4 WHERE key_id = $1",
        &[&&key_id.0[..], &now, &coins, &amount],
    )
    .await?;
    if legacy != 0 {
        tx.execute(
            "UPDATE legacy_books SET outstanding = outstanding + $1",
            &[&legacy],
        )
        .await?;
    }
    Ok(Expiry {
        key_id: *key_id,
        coins: to_u64(coins)?,
        amount: to_u64(amount)?,
    })
}

/// Deletes the blind signatures of an expired key (`/restore` has no use
/// for them): its own transaction, as long as it takes.
pub(super) async fn forget_signatures(c: &mut Client, key_id: &B32) -> R<()> {
    let tx = c.transaction().await?;
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute(
        "DELETE FROM blind_signatures WHERE key_id = $1
           AND EXISTS (SELECT 1 FROM coin_keys WHERE key_id = $1 AND expired_at IS NOT NULL)",
        &[&&key_id.0[..]],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Expired keys whose blind signatures are still kept.
pub(super) async fn unforgotten(c: &impl GenericClient) -> R<Vec<B32>> {
    let rows = c
        .query(
            "SELECT k.key_id FROM coin_keys k WHERE k.expired_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM blind_signatures b WHERE b.key_id = k.key_id)",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok(b32(r.get::<_, &[u8]>(0))?))
        .collect()
}
