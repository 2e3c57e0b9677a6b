//! The shop's own books: orders and their answers, in the shop's own SQLite
//! file (the shop is a separate party from the bank).

use std::path::Path;
use std::sync::Mutex;

use ecash_core::B32;
use rusqlite::{Connection, OptionalExtension, params};

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
    /// Opens or creates the shop database.
    pub fn open(path: &Path) -> Result<Self, ShopDbError> {
        let conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS orders (
                payreq_id   TEXT PRIMARY KEY,
                item_id     TEXT NOT NULL,
                payreq      TEXT NOT NULL,
                created_at  INTEGER NOT NULL,
                payment_id  BLOB,
                response    TEXT,
                paid_at     INTEGER
            );",
        )
        .map_err(db)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, ShopDbError> {
        self.conn
            .lock()
            .map_err(|_| ShopDbError("lock poisoned".into()))
    }

    /// Stores a new order.
    pub fn insert(
        &self,
        payreq_id: &str,
        item_id: &str,
        payreq_json: &str,
        now: u64,
    ) -> Result<(), ShopDbError> {
        self.conn()?
            .execute(
                "INSERT INTO orders (payreq_id, item_id, payreq, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![payreq_id, item_id, payreq_json, now as i64],
            )
            .map_err(db)?;
        Ok(())
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

    /// Marks an order paid with the answer given, unless it is paid already.
    /// Returns the answer that stands.
    pub fn mark_paid(
        &self,
        payreq_id: &str,
        payment_id: &B32,
        response: &str,
        now: u64,
    ) -> Result<String, ShopDbError> {
        let conn = self.conn()?;
        conn.execute(
            "UPDATE orders SET payment_id = ?2, response = ?3, paid_at = ?4 WHERE payreq_id = ?1 AND payment_id IS NULL",
            params![payreq_id, &payment_id.0[..], response, now as i64],
        )
        .map_err(db)?;
        conn.query_row(
            "SELECT response FROM orders WHERE payreq_id = ?1",
            params![payreq_id],
            |r| r.get(0),
        )
        .map_err(db)
    }
}
