//! The shop's own books: orders and their answers, in the shop's own SQLite
//! file (the shop is a separate party from the bank).

use std::path::Path;
use std::sync::Mutex;

use ecash_core::B32;
use rusqlite::{Connection, OptionalExtension, params};

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
    // A claim belongs to the request that made it (its token), since it.
    "ALTER TABLE orders ADD COLUMN claim_token BLOB;
     ALTER TABLE orders ADD COLUMN claimed_at INTEGER;",
];

/// Most unpaid orders kept at once.
pub const MAX_UNPAID: u64 = 50_000;

/// How claiming an order for a payment went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The order is now reserved for this request of this payment.
    Won,
    /// A request is depositing a payment for the order right now (this
    /// payment's or another's): retry shortly.
    Busy,
    /// Another payment paid the order.
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
        crate::storage::sqlite::migrate(&mut conn, MIGRATIONS).map_err(db)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, ShopDbError> {
        self.conn
            .lock()
            .map_err(|_| ShopDbError("lock poisoned".into()))
    }

    /// Stores a new order, unless `max_unpaid` unpaid orders are open
    /// already (`Ok(false)`). Forgets unclaimed unpaid orders created before
    /// `forget_before`, and when full, those created before `expired_before`
    /// (expired ones); a live order is never pushed out by new ones.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &self,
        payreq_id: &str,
        item_id: &str,
        payreq_json: &str,
        now: u64,
        expired_before: u64,
        forget_before: u64,
        max_unpaid: u64,
    ) -> Result<bool, ShopDbError> {
        let conn = self.conn()?;
        let forget = |before: u64| {
            conn.execute(
                "DELETE FROM orders WHERE payment_id IS NULL AND claimed_by IS NULL AND created_at < ?1",
                params![to_i64(before)],
            )
            .map_err(db)
        };
        let unpaid = || -> Result<u64, ShopDbError> {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM orders WHERE payment_id IS NULL",
                    [],
                    |r| r.get(0),
                )
                .map_err(db)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        forget(forget_before)?;
        if unpaid()? >= max_unpaid {
            forget(expired_before)?;
            if unpaid()? >= max_unpaid {
                return Ok(false);
            }
        }
        conn.execute(
            "INSERT INTO orders (payreq_id, item_id, payreq, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![payreq_id, item_id, payreq_json, to_i64(now)],
        )
        .map_err(db)?;
        Ok(true)
    }

    /// Reserves an unpaid order for one request (`token`) of `payment_id`,
    /// atomically: of two requests racing for one order, exactly one wins,
    /// before either is deposited. A claim of the same payment made before
    /// `stale_before` (the start of this process: its request died with the
    /// last one) may be taken over; another payment's claim never is, since
    /// that payment may be at the bank.
    pub fn claim(
        &self,
        payreq_id: &str,
        payment_id: &B32,
        token: &[u8; 16],
        now: u64,
        stale_before: u64,
    ) -> Result<Claim, ShopDbError> {
        let conn = self.conn()?;
        let n = conn
            .execute(
                "UPDATE orders SET claimed_by = ?2, claim_token = ?3, claimed_at = ?4
                 WHERE payreq_id = ?1 AND payment_id IS NULL
                 AND (claimed_by IS NULL OR (claimed_by = ?2 AND claimed_at < ?5))",
                params![
                    payreq_id,
                    &payment_id.0[..],
                    &token[..],
                    to_i64(now),
                    to_i64(stale_before)
                ],
            )
            .map_err(db)?;
        if n == 1 {
            return Ok(Claim::Won);
        }
        let paid: Option<Option<Vec<u8>>> = conn
            .query_row(
                "SELECT payment_id FROM orders WHERE payreq_id = ?1",
                params![payreq_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        Ok(match paid {
            None => Claim::Missing,
            Some(Some(_)) => Claim::Taken,
            Some(None) => Claim::Busy,
        })
    }

    /// Gives up the claim made with `token` (its deposit was refused), so
    /// another payment may pay. Another request's claim is left alone.
    pub fn release(&self, payreq_id: &str, token: &[u8; 16]) -> Result<(), ShopDbError> {
        self.conn()?
            .execute(
                "UPDATE orders SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL
                 WHERE payreq_id = ?1 AND claim_token = ?2 AND payment_id IS NULL",
                params![payreq_id, &token[..]],
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
    ) -> Result<Option<String>, ShopDbError> {
        let conn = self.conn()?;
        // Unclaimed is fine too: the bank holding this payment, signed with
        // the shop's key, is the proof the order is paid by it.
        conn.execute(
            "UPDATE orders SET payment_id = ?2, response = ?3, paid_at = ?4
             WHERE payreq_id = ?1 AND payment_id IS NULL
             AND (claimed_by = ?2 OR claimed_by IS NULL)",
            params![payreq_id, &payment_id.0[..], response, to_i64(now)],
        )
        .map_err(db)?;
        conn.query_row(
            "SELECT response FROM orders WHERE payreq_id = ?1 AND payment_id = ?2",
            params![payreq_id, &payment_id.0[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaid_orders_are_capped_and_claims_belong_to_their_request() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = ShopStore::open(&dir.path().join("shop.db")).expect("open");
        // Five open orders at most; new ones are refused while all are live ...
        for i in 0..5u64 {
            assert!(
                s.insert(&format!("o{i}"), "haiku", "{}", i, 0, 0, 5)
                    .expect("insert")
            );
        }
        assert!(
            !s.insert("o5", "haiku", "{}", 5, 0, 0, 5).expect("insert"),
            "full"
        );
        assert_eq!(s.count().expect("count"), 5);
        // ... and push out only expired ones (older than 3 here), when full.
        for i in 5..12u64 {
            assert!(
                s.insert(&format!("o{i}"), "haiku", "{}", i, i - 3, 0, 5)
                    .expect("insert")
            );
        }
        assert_eq!(s.count().expect("count"), 4);
        assert!(s.get("o8").expect("get").is_some() && s.get("o7").expect("get").is_none());
        let (p1, p2) = (ecash_core::Fixed([1; 32]), ecash_core::Fixed([2; 32]));
        let (t1, t2) = ([1u8; 16], [2u8; 16]);
        assert_eq!(s.claim("o11", &p1, &t1, 100, 0).expect("claim"), Claim::Won);
        // Another payment, or the same one from another request: busy.
        assert_eq!(
            s.claim("o11", &p2, &t2, 101, 0).expect("claim"),
            Claim::Busy
        );
        assert_eq!(
            s.claim("o11", &p1, &t2, 101, 50).expect("claim"),
            Claim::Busy
        );
        // A release with another request's token changes nothing.
        s.release("o11", &t2).expect("release");
        assert_eq!(
            s.claim("o11", &p2, &t2, 102, 0).expect("claim"),
            Claim::Busy
        );
        // The same payment may take over a stale claim (its request died) ...
        assert_eq!(
            s.claim("o11", &p1, &t2, 300, 200).expect("claim"),
            Claim::Won
        );
        // ... and the first request's token no longer releases it.
        s.release("o11", &t1).expect("release");
        assert_eq!(
            s.claim("o11", &p2, &t1, 301, 0).expect("claim"),
            Claim::Busy
        );
        // Another payment cannot mark an order claimed by the first ...
        assert_eq!(s.mark_paid("o11", &p2, "other", 302).expect("mark"), None);
        assert_eq!(
            s.mark_paid("o11", &p1, "answer", 302).expect("mark"),
            Some("answer".to_owned())
        );
        // ... and marking again returns the answer that stands.
        assert_eq!(
            s.mark_paid("o11", &p1, "again", 303).expect("mark"),
            Some("answer".to_owned())
        );
        assert_eq!(
            s.claim("o11", &p2, &t1, 303, 400).expect("claim"),
            Claim::Taken
        );
        assert_eq!(
            s.claim("nope", &p2, &t1, 303, 0).expect("claim"),
            Claim::Missing
        );
        // Claimed and paid orders survive the cap.
        for i in 20..40u64 {
            s.insert(&format!("o{i}"), "haiku", "{}", i, 1000, 1000, 5)
                .expect("insert");
        }
        assert!(s.get("o11").expect("get").is_some());
    }
}
