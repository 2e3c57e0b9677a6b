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

use deadpool_postgres::{Client, Pool};
use ecash_core::{B32, Fixed};
use tokio_postgres::error::SqlState;

use super::group_commit::GroupCommit;
use super::*;

mod books;
mod coin_keys;
mod schema;
mod vault;
mod writes;

pub use vault::PgVault;
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

/// The driver's error as a storage error, saying what was being done.
fn pg(what: &str) -> impl Fn(tokio_postgres::Error) -> StorageError + '_ {
    move |e| StorageError::Db(format!("{what}: {}", pg_error(&e)))
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

/// A pooled connection, or why there is none.
async fn connect(pool: &Pool) -> Result<Client, StorageError> {
    pool.get()
        .await
        .map_err(|e| StorageError::Db(format!("connecting: {e}")))
}

/// A future a transaction body returns, borrowing its client.
type Body<'c, T> = Pin<Box<dyn Future<Output = R<T>> + Send + 'c>>;

/// Runs `body` on a pooled connection, again when PostgreSQL aborted it
/// for a deadlock or a serialization failure.
async fn retried<T>(
    pool: Pool,
    mut body: impl for<'c> FnMut(&'c mut Client) -> Body<'c, T>,
) -> Result<T, StorageError> {
    let mut client = connect(&pool).await?;
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
            let mut client = connect(&pool).await?;
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
