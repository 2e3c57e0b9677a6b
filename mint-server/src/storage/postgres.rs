//! PostgreSQL storage, which several mint nodes share: `--database
//! postgres://...`.
//!
//! Every method is one transaction at READ COMMITTED. What must happen once
//! is held by a unique constraint, not by a read before the write: a coin
//! enters `spent_coins` with `ON CONFLICT DO NOTHING`, which waits for any
//! transaction inserting the same coin, and a coin that did not go in is
//! spent; a request id enters its table the same way, and a request that
//! lost the race answers what the winner stored. Balances change under the
//! account's row lock. Deadlocks and serialization failures (which
//! PostgreSQL resolves by aborting one side) are retried whole.
//!
//! The driver is `tokio-postgres` with a `deadpool-postgres` pool, run on
//! a small runtime of this store's own: the bank calls [`Storage`] from
//! blocking threads, and the runtime is what lets those calls wait without
//! ever blocking an actix worker's event loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{Client, GenericClient, Pool, Transaction};
use ecash_core::messages::LedgerEntry;
use ecash_core::{B32, Fixed};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::group_commit::GroupCommit;
use super::*;

mod schema;
#[cfg(test)]
mod tests;

/// Largest number of deposits committed in one transaction. Each writes in
/// a savepoint (a subtransaction), and past 64 of them a transaction
/// overflows PostgreSQL's per-backend subtransaction cache, which slows
/// every snapshot in the cluster.
const GROUP_MAX: usize = 48;

/// Longest any one storage call may take, connection wait included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What each connection asks of the server, so that a statement stuck on a
/// lock (a node that hangs mid-transaction) is cancelled by the server
/// before [`CALL_TIMEOUT`] gives up on it, and the connection comes back
/// free: milliseconds.
const SESSION_LIMITS: &str =
    "-c statement_timeout=20000 -c lock_timeout=15000 -c idle_in_transaction_session_timeout=25000";

/// How often a transaction aborted by a deadlock or a serialization
/// failure is run again before the caller hears of it.
const RETRIES: usize = 4;

/// How a PostgreSQL store connects.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/database` (or key=value form).
    pub url: String,
    /// Connections this node keeps at most.
    pub pool_size: usize,
}

/// PostgreSQL-backed [`Storage`].
pub struct PostgresStorage {
    rt: Option<tokio::runtime::Runtime>,
    pool: Mutex<Option<Pool>>,
    deposits: GroupCommit<NewDeposit, DepositRecord>,
}

/// A failure inside a transaction: the driver's (maybe worth a retry) or
/// the contract's.
#[derive(Debug)]
enum Fail {
    Pg(tokio_postgres::Error),
    Store(StorageError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Self {
        Self::Store(e)
    }
}

type R<T> = Result<T, Fail>;

fn pg_error(e: &tokio_postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(d) => StorageError::Db(format!("{} ({})", d.message(), d.code().code())),
        None => StorageError::Db(e.to_string()),
    }
}

impl Fail {
    fn transient(&self) -> bool {
        matches!(self, Self::Pg(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
            || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
    }

    fn into_storage(self) -> StorageError {
        match self {
            Self::Pg(e) => pg_error(&e),
            Self::Store(e) => e,
        }
    }
}

fn b32(v: &[u8]) -> Result<B32, StorageError> {
    <[u8; 32]>::try_from(v)
        .map(Fixed)
        .map_err(|_| StorageError::Db("corrupt 32-byte field".into()))
}

/// A random byte, for retry jitter (no secret: a failed draw gives 0).
fn random_byte() -> u8 {
    let mut b = [0u8; 1];
    getrandom::fill(&mut b).map_or(0, |_| b[0])
}

/// A future a transaction body returns, borrowing its client.
type Body<'c, T> = Pin<Box<dyn Future<Output = R<T>> + Send + 'c>>;

/// Runs `body` on a pooled connection, again when PostgreSQL aborted it
/// for a deadlock or a serialization failure.
async fn retried<T>(
    pool: Pool,
    mut body: impl for<'c> FnMut(&'c mut Client) -> Body<'c, T>,
) -> Result<T, StorageError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| StorageError::Db(format!("connecting: {e}")))?;
    let mut attempt = 0;
    loop {
        match body(&mut client).await {
            Ok(v) => return Ok(v),
            Err(f) if f.transient() && attempt < RETRIES => {
                attempt += 1;
                // Apart, so the two sides of a deadlock do not meet again.
                let jitter = u64::from(random_byte());
                tokio::time::sleep(Duration::from_millis(attempt as u64 * 5 + jitter % 20)).await;
            }
            Err(f) => return Err(f.into_storage()),
        }
    }
}

impl PostgresStorage {
    /// Connects, and brings the schema up to date (once, whatever number of
    /// nodes start together).
    pub fn open(settings: &PgSettings) -> Result<Self, StorageError> {
        let mut pg: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|_| StorageError::Db("the database settings do not parse".into()))?;
        let options = match pg.get_options() {
            Some(own) => format!("{own} {SESSION_LIMITS}"),
            None => SESSION_LIMITS.to_owned(),
        };
        pg.options(&options)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10));
        let manager = deadpool_postgres::Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StorageError::Db(format!("database pool: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Db(format!("starting the database runtime: {e}")))?;
        // From here on the store owns the runtime: its Drop shuts it down
        // safely on every error path, an async caller's included.
        let store = Self {
            rt: Some(rt),
            pool: Mutex::new(Some(pool.clone())),
            deposits: GroupCommit::new(GROUP_MAX),
        };
        // Unbounded: a migration may wait for another node's, and may take long.
        store.run_within(None, async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| StorageError::Db(format!("connecting: {e}")))?;
            schema::migrate(&mut client).await
        })?;
        Ok(store)
    }

    /// Runs `fut` on this store's runtime and waits for it, from any thread
    /// (an async one included: the wait is on a channel, not a runtime).
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StorageError>> + Send + 'static,
    ) -> Result<T, StorageError> {
        self.run_within(Some(CALL_TIMEOUT), fut)
    }

    /// [`Self::run`], given up after `limit` if there is one.
    fn run_within<T: Send + 'static>(
        &self,
        limit: Option<Duration>,
        fut: impl Future<Output = Result<T, StorageError>> + Send + 'static,
    ) -> Result<T, StorageError> {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| StorageError::Db("storage closed".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let out = match limit {
                None => fut.await,
                Some(limit) => match tokio::time::timeout(limit, fut).await {
                    Ok(out) => out,
                    Err(_) => Err(StorageError::Db(
                        "the database did not answer in time".into(),
                    )),
                },
            };
            let _ = tx.send(out);
        });
        rx.recv()
            .map_err(|_| StorageError::Db("the database task died".into()))?
    }

    fn pool(&self) -> Result<Pool, StorageError> {
        self.pool
            .lock()
            .map_err(|_| StorageError::Db("storage lock poisoned".into()))?
            .clone()
            .ok_or_else(|| StorageError::Db("storage closed".into()))
    }

    /// Runs a transaction body (retried, see [`retried`]) and waits for it.
    fn tx<T: Send + 'static>(
        &self,
        body: impl for<'c> FnMut(&'c mut Client) -> Body<'c, T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let pool = self.pool()?;
        self.run(retried(pool, body))
    }
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        // Dropping a runtime may block, which an async caller may not do.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Serials of `coins` that did not go into `spent_coins` (spent before, or
/// repeated in `coins`), in the order of `coins`; inserts the others.
async fn spend(
    tx: &Transaction<'_>,
    coins: &[(B32, B32)],
    spent_in: &B32,
    now: i64,
) -> R<Vec<B32>> {
    // In one order everywhere: two transactions inserting overlapping
    // coins then wait on each other in that order instead of deadlocking.
    let mut sorted: Vec<&(B32, B32)> = coins.iter().collect();
    sorted.sort();
    let serials: Vec<&[u8]> = sorted.iter().map(|(s, _)| &s.0[..]).collect();
    let keys: Vec<&[u8]> = sorted.iter().map(|(_, k)| &k.0[..]).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO spent_coins (serial, key_id, spent_at, spent_in)
             SELECT s, k, $3, $4 FROM unnest($1::bytea[], $2::bytea[]) AS c(s, k)
             ON CONFLICT DO NOTHING RETURNING serial",
        )
        .await?;
    let rows = tx
        .query(&stmt, &[&serials, &keys, &now, &&spent_in.0[..]])
        .await?;
    let mut inserted = std::collections::HashSet::new();
    for r in rows {
        inserted.insert(b32(r.get::<_, &[u8]>(0))?);
    }
    let mut seen = std::collections::HashSet::new();
    Ok(coins
        .iter()
        .filter(|(s, _)| !seen.insert(*s) || !inserted.contains(s))
        .map(|(s, _)| *s)
        .collect())
}

async fn insert_blind_sigs(
    tx: &Transaction<'_>,
    sigs: &[(B32, Vec<u8>)],
    request_id: &B32,
) -> R<()> {
    // Same blinded message, same key: the signature is the same (RSA
    // signing is deterministic), so the first row can stay.
    let hashes: Vec<&[u8]> = sigs.iter().map(|(h, _)| &h.0[..]).collect();
    let blobs: Vec<&[u8]> = sigs.iter().map(|(_, s)| s.as_slice()).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO blind_signatures (blinded_hash, blind_sig, request_id)
             SELECT h, s, $3 FROM unnest($1::bytea[], $2::bytea[]) AS b(h, s)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&hashes, &blobs, &&request_id.0[..]])
        .await?;
    Ok(())
}

/// Adds `delta` to a balance under the account's row lock, with a ledger
/// line; refuses overdraft and overflow.
async fn move_money(
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

async fn deposit_record(c: &impl GenericClient, payment_id: &B32) -> R<Option<DepositRecord>> {
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
async fn stored_answer(
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
async fn apply_deposit(tx: &mut Transaction<'_>, d: &NewDeposit) -> R<DepositRecord> {
    if let Some(r) = deposit_record(&*tx, &d.payment_id).await? {
        return Ok(r);
    }
    let sp = tx.transaction().await?;
    let now = to_i64(d.now)?;
    let refused = spend(&sp, &d.spent, &d.payment_id, now).await?;
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
async fn commit_group(
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

async fn commit_withdrawal(c: &mut Client, w: &NewWithdrawal) -> R<StoredAnswer> {
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

async fn commit_exchange(c: &mut Client, x: &NewExchange) -> R<StoredAnswer> {
    let tx = c.transaction().await?;
    if let Some(a) = StoredAnswer::replay(
        stored_answer(&tx, "exchanges", &x.request_id).await?,
        &x.request_hash,
    )? {
        return Ok(a);
    }
    let now = to_i64(x.now)?;
    let refused = spend(&tx, &x.spent, &x.request_id, now).await?;
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
    insert_blind_sigs(&tx, &x.signatures, &x.request_id).await?;
    tx.commit().await?;
    Ok(StoredAnswer {
        request_hash: x.request_hash,
        response_json: x.response_json.clone(),
    })
}

impl Storage for PostgresStorage {
    fn create_account(
        &self,
        id: &str,
        public_key: &[u8; 32],
        label: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let (id, key, label, now) = (id.to_owned(), *public_key, label.to_owned(), to_i64(now)?);
        self.tx(move |c| {
            let (id, label) = (id.clone(), label.clone());
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO accounts (id, public_key, label, balance, created_at)
                         VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                match c.execute(&stmt, &[&id, &&key[..], &label, &now]).await? {
                    0 => Err(StorageError::AccountExists.into()),
                    _ => Ok(()),
                }
            })
        })
    }

    fn account(&self, id: &str) -> Result<Option<AccountRecord>, StorageError> {
        let id = id.to_owned();
        self.tx(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT public_key, balance FROM accounts WHERE id = $1")
                    .await?;
                let Some(r) = c.query_opt(&stmt, &[&id]).await? else {
                    return Ok(None);
                };
                Ok(Some(AccountRecord {
                    public_key: b32(r.get::<_, &[u8]>(0))?.0,
                    balance: to_u64(r.get(1))?,
                    id,
                }))
            })
        })
    }

    fn ledger(&self, id: &str) -> Result<Vec<LedgerEntry>, StorageError> {
        let id = id.to_owned();
        self.tx(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT delta, reason, reference, at FROM ledger WHERE account_id = $1 ORDER BY seq",
                    )
                    .await?;
                let rows = c.query(&stmt, &[&id]).await?;
                rows.iter()
                    .map(|r| {
                        Ok(LedgerEntry {
                            delta: r.get(0),
                            reason: r.get(1),
                            reference: r.get(2),
                            at: to_u64(r.get(3))?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn faucet_credit(&self, id: &str, amount: u64, now: u64) -> Result<u64, StorageError> {
        let (id, amount, now) = (id.to_owned(), to_i64(amount)?, to_i64(now)?);
        self.tx(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let tx = c.transaction().await?;
                let balance = move_money(&tx, &id, amount, "faucet", "demo", now).await?;
                tx.commit().await?;
                Ok(balance)
            })
        })
    }

    fn withdrawal(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError> {
        let id = *request_id;
        self.tx(move |c| Box::pin(async move { stored_answer(&*c, "withdrawals", &id).await }))
    }

    fn commit_withdrawal(&self, w: &NewWithdrawal) -> Result<StoredAnswer, StorageError> {
        let w = w.clone();
        self.tx(move |c| {
            let w = w.clone();
            Box::pin(async move { commit_withdrawal(c, &w).await })
        })
    }

    fn exchange(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError> {
        let id = *request_id;
        self.tx(move |c| Box::pin(async move { stored_answer(&*c, "exchanges", &id).await }))
    }

    fn commit_exchange(&self, x: &NewExchange) -> Result<StoredAnswer, StorageError> {
        let x = x.clone();
        self.tx(move |c| {
            let x = x.clone();
            Box::pin(async move { commit_exchange(c, &x).await })
        })
    }

    fn deposit(&self, payment_id: &B32) -> Result<Option<DepositRecord>, StorageError> {
        let id = *payment_id;
        self.tx(move |c| Box::pin(async move { deposit_record(&*c, &id).await }))
    }

    /// Group commit, as on SQLite: the deposits waiting on this node go in
    /// one transaction, each in a savepoint of its own.
    fn commit_deposit(&self, d: &NewDeposit) -> Result<DepositRecord, StorageError> {
        self.deposits.submit(d.clone(), |batch| {
            let jobs = batch.to_vec();
            self.tx(move |c| {
                let jobs = jobs.clone();
                Box::pin(async move { commit_group(c, &jobs).await })
            })
            .unwrap_or_else(|e| batch.iter().map(|_| Err(e.clone())).collect())
        })
    }

    fn spent(&self, serials: &[B32]) -> Result<Vec<bool>, StorageError> {
        let serials = serials.to_vec();
        self.tx(move |c| {
            let serials = serials.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT serial FROM spent_coins WHERE serial = ANY($1)")
                    .await?;
                let list: Vec<&[u8]> = serials.iter().map(|s| &s.0[..]).collect();
                let mut found = std::collections::HashSet::new();
                for r in c.query(&stmt, &[&list]).await? {
                    found.insert(b32(r.get::<_, &[u8]>(0))?);
                }
                Ok(serials.iter().map(|s| found.contains(s)).collect())
            })
        })
    }

    fn spent_serials(&self, key_id: &B32) -> Result<Vec<B32>, StorageError> {
        let key = *key_id;
        self.tx(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT serial FROM spent_coins WHERE key_id = $1")
                    .await?;
                let rows = c.query(&stmt, &[&&key.0[..]]).await?;
                Ok(rows
                    .iter()
                    .map(|r| b32(r.get::<_, &[u8]>(0)))
                    .collect::<Result<_, _>>()?)
            })
        })
    }

    fn blind_signatures(&self, hashes: &[B32]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let hashes = hashes.to_vec();
        self.tx(move |c| {
            let hashes = hashes.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT blinded_hash, blind_sig FROM blind_signatures WHERE blinded_hash = ANY($1)",
                    )
                    .await?;
                let list: Vec<&[u8]> = hashes.iter().map(|h| &h.0[..]).collect();
                let mut found = std::collections::HashMap::new();
                for r in c.query(&stmt, &[&list]).await? {
                    found.insert(b32(r.get::<_, &[u8]>(0))?, r.get::<_, Vec<u8>>(1));
                }
                Ok(hashes.iter().map(|h| found.get(h).cloned()).collect())
            })
        })
    }

    fn record_proof(
        &self,
        payment_id: &B32,
        proof_json: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let (id, proof, now) = (*payment_id, proof_json.to_owned(), to_i64(now)?);
        self.tx(move |c| {
            let proof = proof.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO proofs (payment_id, proof, issued_at) VALUES ($1, $2, $3)",
                    )
                    .await?;
                c.execute(&stmt, &[&&id.0[..], &proof, &now]).await?;
                Ok(())
            })
        })
    }

    fn totals(&self) -> Result<Totals, StorageError> {
        self.tx(move |c| {
            Box::pin(async move {
                // One statement, one snapshot: the four sums agree.
                let r = c
                    .query_one(
                        "SELECT
                           (SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE reason = 'faucet')::BIGINT,
                           (SELECT COALESCE(SUM(balance), 0) FROM accounts)::BIGINT,
                           (SELECT COALESCE(SUM(amount), 0) FROM withdrawals)::BIGINT,
                           (SELECT COALESCE(SUM(amount), 0) FROM deposits)::BIGINT",
                        &[],
                    )
                    .await?;
                let (credited, balances) = (to_u64(r.get(0))?, to_u64(r.get(1))?);
                let (withdrawn, deposited) = (to_u64(r.get(2))?, to_u64(r.get(3))?);
                Ok(Totals {
                    credited,
                    balances,
                    outstanding: withdrawn
                        .checked_sub(deposited)
                        .ok_or(StorageError::Overflow)?,
                })
            })
        })
    }

    fn close(&self) -> Result<(), StorageError> {
        if let Some(pool) = self
            .pool
            .lock()
            .map_err(|_| StorageError::Db("storage lock poisoned".into()))?
            .take()
        {
            pool.close();
        }
        Ok(())
    }
}
