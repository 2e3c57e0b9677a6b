//! The transactions that move money and spend coins: what must happen
//! once is held by a unique key, and a request that lost a race answers
//! what the winner stored.

use deadpool_postgres::{Client, GenericClient, Transaction};
use ecash_core::B32;
use tokio_postgres::types::ToSql;

use super::{Fail, R, b32, coin_keys};
use crate::storage::*;

/// Serials of `coins` that did not go into `spent_coins` (spent before, or
/// repeated in `coins`), in the order of `coins`; inserts the others. A
/// coin of a key with no partition fails the statement: see
/// [`coin_keys::no_partition`].
pub(super) async fn spend(
    tx: &Transaction<'_>,
    coins: &[CoinId],
    spent_in: &B32,
    now: i64,
) -> R<Vec<B32>> {
    // In one order everywhere: two transactions inserting overlapping
    // coins then wait on each other in that order instead of deadlocking.
    let mut sorted: Vec<(&B32, &B32)> = coins.iter().map(|(s, k)| (k, s)).collect();
    sorted.sort();
    let keys: Vec<&[u8]> = sorted.iter().map(|(k, _)| &k.0[..]).collect();
    let serials: Vec<&[u8]> = sorted.iter().map(|(_, s)| &s.0[..]).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO spent_coins (key_id, serial, spent_at, spent_in)
             SELECT k, s, $3, $4 FROM unnest($1::bytea[], $2::bytea[]) AS c(k, s)
             ON CONFLICT DO NOTHING RETURNING key_id, serial",
        )
        .await?;
    let rows = tx
        .query(&stmt, &[&keys, &serials, &now, &&spent_in.0[..]])
        .await?;
    let mut inserted = std::collections::HashSet::new();
    for r in rows {
        inserted.insert((b32(r.get::<_, &[u8]>(1))?, b32(r.get::<_, &[u8]>(0))?));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(coins
        .iter()
        .filter(|c| !seen.insert(**c) || !inserted.contains(*c))
        .map(|(s, _)| *s)
        .collect())
}

async fn insert_blind_sigs(tx: &Transaction<'_>, sigs: &[IssuedSig], request_id: &B32) -> R<()> {
    let hashes: Vec<&[u8]> = sigs.iter().map(|s| &s.blinded_hash.0[..]).collect();
    let keys: Vec<&[u8]> = sigs.iter().map(|s| &s.key_id.0[..]).collect();
    let blobs: Vec<&[u8]> = sigs.iter().map(|s| s.signature.as_slice()).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO blind_signatures (blinded_hash, key_id, blind_sig, request_id)
             SELECT h, k, s, $4 FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) AS b(h, k, s)",
        )
        .await?;
    tx.execute(&stmt, &[&hashes, &keys, &blobs, &&request_id.0[..]])
        .await?;
    Ok(())
}

/// Adds `delta` to a balance under the account's row lock, with a ledger
/// line; refuses overdraft and overflow.
pub(super) async fn move_money(
    tx: &Transaction<'_>,
    id: &str,
    delta: i64,
    reason: &str,
    reference: &str,
    now: i64,
) -> R<u64> {
    let lock = tx
        .prepare_cached("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE")
        .await?;
    let balance: i64 = tx
        .query_opt(&lock, &[&id])
        .await?
        .ok_or_else(|| StorageError::UnknownAccount(id.to_owned()))?
        .get(0);
    let new = balance.checked_add(delta).ok_or(StorageError::Overflow)?;
    if new < 0 {
        return Err(StorageError::InsufficientFunds {
            balance: to_u64(balance)?,
            needed: delta.unsigned_abs(),
        }
        .into());
    }
    let set = tx
        .prepare_cached("UPDATE accounts SET balance = $1 WHERE id = $2")
        .await?;
    tx.execute(&set, &[&new, &id]).await?;
    let line = tx
        .prepare_cached(
            "INSERT INTO ledger (account_id, delta, reason, reference, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    tx.execute(&line, &[&id, &delta, &reason, &reference, &now])
        .await?;
    Ok(to_u64(new)?)
}

pub(super) async fn deposit_record(
    c: &impl GenericClient,
    payment_id: &B32,
) -> R<Option<DepositRecord>> {
    let stmt = c
        .prepare_cached(
            "SELECT payer_code_hash, payment_info, ack, deposited_at FROM deposits WHERE payment_id = $1",
        )
        .await?;
    let Some(r) = c.query_opt(&stmt, &[&&payment_id.0[..]]).await? else {
        return Ok(None);
    };
    Ok(Some(DepositRecord {
        payment_id: *payment_id,
        payer_code_hash: b32(r.get::<_, &[u8]>(0))?,
        payment_info_json: r.get(1),
        ack_json: r.get(2),
        deposited_at: to_u64(r.get(3))?,
    }))
}

/// The answer stored under a request id in `table` (withdrawals or exchanges).
pub(super) async fn stored_answer(
    c: &impl GenericClient,
    table: &str,
    request_id: &B32,
) -> R<Option<StoredAnswer>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT request_hash, response FROM {table} WHERE request_id = $1"
        ))
        .await?;
    let Some(r) = c.query_opt(&stmt, &[&&request_id.0[..]]).await? else {
        return Ok(None);
    };
    Ok(Some(StoredAnswer {
        request_hash: b32(r.get::<_, &[u8]>(0))?,
        response_json: r.get(1),
    }))
}

/// One deposit inside the group's transaction, in a savepoint of its own.
pub(super) async fn apply_deposit(tx: &mut Transaction<'_>, d: &NewDeposit) -> R<DepositRecord> {
    if let Some(r) = deposit_record(&*tx, &d.payment_id).await? {
        return Ok(r);
    }
    let sp = tx.transaction().await?;
    let now = to_i64(d.now)?;
    let refused = match spend(&sp, &d.spent, &d.payment_id, now).await {
        Err(e) if coin_keys::no_partition(&e) => {
            sp.rollback().await?;
            return Err(coin_keys::unknown_key(&*tx, &d.spent).await);
        }
        other => other?,
    };
    if !refused.is_empty() {
        sp.rollback().await?;
        // Another node may have committed this very payment meanwhile.
        return match deposit_record(&*tx, &d.payment_id).await? {
            Some(r) => Ok(r),
            None => Err(StorageError::Spent(refused).into()),
        };
    }
    let amount = to_i64(d.amount)?;
    let reference = d.payment_id.to_b64();
    if let Err(e) = move_money(&sp, &d.merchant_acc_id, amount, "deposit", &reference, now).await {
        sp.rollback().await?;
        return Err(e);
    }
    let stmt = sp
        .prepare_cached(
            "INSERT INTO deposits (payment_id, merchant_acc_id, amount, payer_code_hash, payment_info, ack, deposited_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 7] = [
        &&d.payment_id.0[..],
        &d.merchant_acc_id,
        &amount,
        &&d.payer_code_hash.0[..],
        &d.payment_info_json,
        &d.ack_json,
        &now,
    ];
    if sp.execute(&stmt, &params).await? == 0 {
        sp.rollback().await?;
        return deposit_record(&*tx, &d.payment_id)
            .await?
            .ok_or_else(|| StorageError::Db("a deposit vanished".into()).into());
    }
    sp.commit().await?;
    Ok(DepositRecord {
        payment_id: d.payment_id,
        payer_code_hash: d.payer_code_hash,
        payment_info_json: d.payment_info_json.clone(),
        ack_json: d.ack_json.clone(),
        deposited_at: d.now,
    })
}

/// A group of deposits in one transaction; one outcome per deposit.
pub(super) async fn commit_group(
    c: &mut Client,
    batch: &[NewDeposit],
) -> R<Vec<Result<DepositRecord, StorageError>>> {
    let mut tx = c.transaction().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for d in batch {
        match apply_deposit(&mut tx, d).await {
            Ok(r) => outcomes.push(Ok(r)),
            // A driver failure aborts the transaction: the group is retried whole.
            Err(Fail::Pg(e)) => return Err(Fail::Pg(e)),
            Err(Fail::Store(e)) => outcomes.push(Err(e)),
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

pub(super) async fn commit_withdrawal(c: &mut Client, w: &NewWithdrawal) -> R<StoredAnswer> {
    let tx = c.transaction().await?;
    if let Some(a) = StoredAnswer::replay(
        stored_answer(&tx, "withdrawals", &w.request_id).await?,
        &w.request_hash,
    )? {
        return Ok(a);
    }
    let now = to_i64(w.now)?;
    let amount = to_i64(w.amount)?;
    // The account's lock, then the request id, then the balance: a second
    // node committing the same request waits for the first and answers its
    // stored answer, rather than reading a balance the first's debit lowered.
    let lock = tx
        .prepare_cached("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
        .await?;
    if tx.query_opt(&lock, &[&w.account_id]).await?.is_none() {
        return Err(StorageError::UnknownAccount(w.account_id.clone()).into());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO withdrawals (request_id, request_hash, account_id, amount, response, at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 6] = [
        &&w.request_id.0[..],
        &&w.request_hash.0[..],
        &w.account_id,
        &amount,
        &w.response_json,
        &now,
    ];
    if tx.execute(&stmt, &params).await? == 0 {
        tx.rollback().await?;
        return StoredAnswer::replay(
            stored_answer(&*c, "withdrawals", &w.request_id).await?,
            &w.request_hash,
        )?
        .ok_or_else(|| StorageError::Db("a withdrawal vanished".into()).into());
    }
    move_money(
        &tx,
        &w.account_id,
        -amount,
        "withdraw",
        &w.request_id.to_b64(),
        now,
    )
    .await?;
    insert_blind_sigs(&tx, &w.signatures, &w.request_id).await?;
    tx.commit().await?;
    Ok(StoredAnswer {
        request_hash: w.request_hash,
        response_json: w.response_json.clone(),
    })
}

pub(super) async fn commit_exchange(c: &mut Client, x: &NewExchange) -> R<StoredAnswer> {
    let tx = c.transaction().await?;
    if let Some(a) = StoredAnswer::replay(
        stored_answer(&tx, "exchanges", &x.request_id).await?,
        &x.request_hash,
    )? {
        return Ok(a);
    }
    let now = to_i64(x.now)?;
    let refused = match spend(&tx, &x.spent, &x.request_id, now).await {
        Err(e) if coin_keys::no_partition(&e) => {
            tx.rollback().await?;
            return Err(coin_keys::unknown_key(&*c, &x.spent).await);
        }
        other => other?,
    };
    let stmt = tx
        .prepare_cached(
            "INSERT INTO exchanges (request_id, request_hash, response, at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?;
    let stored = refused.is_empty()
        && tx
            .execute(
                &stmt,
                &[
                    &&x.request_id.0[..],
                    &&x.request_hash.0[..],
                    &x.response_json,
                    &now,
                ],
            )
            .await?
            == 1;
    if !stored {
        tx.rollback().await?;
        // This very exchange may have committed meanwhile (on another node).
        return match StoredAnswer::replay(
            stored_answer(&*c, "exchanges", &x.request_id).await?,
            &x.request_hash,
        )? {
            Some(a) => Ok(a),
            None if refused.is_empty() => {
                Err(StorageError::Db("an exchange vanished".into()).into())
            }
            None => Err(StorageError::Spent(refused).into()),
        };
    }
    for h in &x.recouped {
        let fresh = tx
            .execute(
                "INSERT INTO recouped_signatures (blinded_hash, request_id, at)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&&h.0[..], &&x.request_id.0[..], &now],
            )
            .await?;
        if fresh == 0 {
            tx.rollback().await?;
            return Err(StorageError::Recouped.into());
        }
    }
    insert_blind_sigs(&tx, &x.signatures, &x.request_id).await?;
    tx.commit().await?;
    Ok(StoredAnswer {
        request_hash: x.request_hash,
        response_json: x.response_json.clone(),
    })
}
