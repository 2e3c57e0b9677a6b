//! The shop's own books: orders and their answers, in the shop's own SQLite
//! file (the shop is a separate party from the bank).

use std::path::Path;
use std::sync::Mutex;

use ecash_core::B32;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS orders (
        payreq_id   TEXT PRIMARY KEY,
        item_id     TEXT NOT NULL,
        payreq      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        payment_id  BLOB,
        response    TEXT,
        paid_at     INTEGER
    );",
    // An order takes one payment: the first to claim it, before any deposit.
    "ALTER TABLE orders ADD COLUMN claimed_by BLOB;
     CREATE INDEX orders_unpaid ON orders(created_at) WHERE payment_id IS NULL;",
];

/// How claiming an order for a payment went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The order is now reserved for this payment (or already was).
    Won,
    /// Another payment holds or paid the order.
    Taken,
    /// No such order.
    Missing,
}

/// Shop storage failed.
#[derive(Debug, thiserror::Error)]
#[error("shop database: {0}")]
pub struct ShopDbError(String);

fn db<E: std::fmt::Display>(e: E) -> ShopDbError {
    ShopDbError(e.to_string())
}

/// One order.
#[derive(Debug, Clone)]
pub struct Order {
    /// The payreq id.
    pub payreq_id: String,
    /// Item sold.
    pub item_id: String,
    /// The payreq as JSON.
    pub payreq_json: String,
    /// Payment id once paid.
    pub payment_id: Option<B32>,
    /// The answer given to the payer, once paid.
    pub response_json: Option<String>,
}

/// Orders in SQLite.
pub struct ShopStore {
    conn: Mutex<Connection>,
}

impl ShopStore {
    /// Opens or creates the shop database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, ShopDbError> {
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(db)?;
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(usize::MAX))
        {
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, ShopDbError> {
        self.conn
            .lock()
            .map_err(|_| ShopDbError("lock poisoned".into()))
    }

    /// Stores a new order, and forgets unpaid orders created before `forget_before`.
    pub fn insert(
        &self,
        payreq_id: &str,
        item_id: &str,
        payreq_json: &str,
        now: u64,
        forget_before: u64,
    ) -> Result<(), ShopDbError> {
        let conn = self.conn()?;
        conn.execute(
            "DELETE FROM orders WHERE payment_id IS NULL AND claimed_by IS NULL AND created_at < ?1",
            params![to_i64(forget_before)],
        )
        .map_err(db)?;
        conn.execute(
            "INSERT INTO orders (payreq_id, item_id, payreq, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![payreq_id, item_id, payreq_json, to_i64(now)],
        )
        .map_err(db)?;
        Ok(())
    }

    /// Reserves an unpaid order for `payment_id`, atomically: of two payments
    /// racing for one order, exactly one wins, before either is deposited.
    pub fn claim(&self, payreq_id: &str, payment_id: &B32) -> Result<Claim, ShopDbError> {
        let conn = self.conn()?;
        let n = conn
            .execute(
                "UPDATE orders SET claimed_by = ?2 WHERE payreq_id = ?1 AND payment_id IS NULL
                 AND (claimed_by IS NULL OR claimed_by = ?2)",
                params![payreq_id, &payment_id.0[..]],
            )
            .map_err(db)?;
        if n == 1 {
            return Ok(Claim::Won);
        }
        let exists: bool = conn
            .query_row(
                "SELECT 1 FROM orders WHERE payreq_id = ?1",
                params![payreq_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(db)?
            .is_some();
        Ok(if exists { Claim::Taken } else { Claim::Missing })
    }

    /// Gives up the claim of `payment_id` (its deposit was refused), so another payment may pay.
    pub fn release(&self, payreq_id: &str, payment_id: &B32) -> Result<(), ShopDbError> {
        self.conn()?
            .execute(
                "UPDATE orders SET claimed_by = NULL WHERE payreq_id = ?1 AND claimed_by = ?2 AND payment_id IS NULL",
                params![payreq_id, &payment_id.0[..]],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Number of orders stored (for tests and operators).
    pub fn count(&self) -> Result<u64, ShopDbError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The order, if any.
    pub fn get(&self, payreq_id: &str) -> Result<Option<Order>, ShopDbError> {
        self.conn()?
            .query_row(
                "SELECT item_id, payreq, payment_id, response FROM orders WHERE payreq_id = ?1",
                params![payreq_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db)?
            .map(|(item_id, payreq_json, pid, response_json)| {
                let payment_id = pid
                    .map(|v| {
                        <[u8; 32]>::try_from(v.as_slice())
                            .map(ecash_core::Fixed)
                            .map_err(|_| db("bad payment id"))
                    })
                    .transpose()?;
                Ok(Order {
                    payreq_id: payreq_id.to_owned(),
                    item_id,
                    payreq_json,
                    payment_id,
                    response_json,
                })
            })
            .transpose()
    }

    /// Marks an order paid by the payment that claimed it, with the answer
    /// given, unless it is paid already. Returns the answer that stands.
    pub fn mark_paid(
        &self,
        payreq_id: &str,
        payment_id: &B32,
        response: &str,
        now: u64,
    ) -> Result<String, ShopDbError> {
        let conn = self.conn()?;
        conn.execute(
            "UPDATE orders SET payment_id = ?2, response = ?3, paid_at = ?4
             WHERE payreq_id = ?1 AND payment_id IS NULL AND claimed_by = ?2",
            params![payreq_id, &payment_id.0[..], response, to_i64(now)],
        )
        .map_err(db)?;
        conn.query_row(
            "SELECT response FROM orders WHERE payreq_id = ?1 AND payment_id = ?2",
            params![payreq_id, &payment_id.0[..]],
            |r| r.get(0),
        )
        .map_err(db)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
