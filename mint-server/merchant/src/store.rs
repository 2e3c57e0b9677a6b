//! The shop's own books: orders, their claims and their answers, in the
//! shop's own SQLite file (WAL, `synchronous=FULL`).
//!
//! An order takes one payment. The payment claims it before it goes to the
//! bank, with the request's token; the claim ends one of three ways: paid
//! ([`ShopStore::mark_paid`]), released because the bank refused the payment
//! ([`ShopStore::release`]), or abandoned because nobody knows whether the
//! bank took it ([`ShopStore::abandon`]). An abandoned claim keeps the
//! payment, so the same payment (sent again, or by the shop's settler) can
//! finish it, and no other payment can take an order the bank may hold.

use std::path::Path;
use std::sync::Mutex;

use ecash_core::B32;
use ecash_core::shop::{OrderState, OrderSummary};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

/// Schema migrations, applied in order; `PRAGMA user_version` counts them
/// (the first three are those of the shop that lived inside the mint).
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE IF NOT EXISTS orders (
                payreq_id   TEXT PRIMARY KEY,
                item_id     TEXT NOT NULL,
                payreq      TEXT NOT NULL,
                created_at  INTEGER NOT NULL,
                payment_id  BLOB,
                response    TEXT,
                paid_at     INTEGER
            );",
        ),
        // An order takes one payment: the first to claim it, before any deposit.
        M::up(
            "ALTER TABLE orders ADD COLUMN claimed_by BLOB;
             CREATE INDEX orders_unpaid ON orders(created_at) WHERE payment_id IS NULL;",
        ),
        // A claim belongs to the request that made it (its token), since it.
        M::up(
            "ALTER TABLE orders ADD COLUMN claim_token BLOB;
             ALTER TABLE orders ADD COLUMN claimed_at INTEGER;",
        ),
        // The claiming payment, to finish an abandoned claim; price and expiry
        // for the shop keeper's list.
        M::up(
            "ALTER TABLE orders ADD COLUMN claim_payment TEXT;
             ALTER TABLE orders ADD COLUMN amount INTEGER;
             ALTER TABLE orders ADD COLUMN expires_at INTEGER;
             CREATE INDEX orders_abandoned ON orders(claimed_at)
                 WHERE payment_id IS NULL AND claimed_by IS NOT NULL AND claim_token IS NULL;",
        ),
        // A claim names the process that made it (a random epoch per start):
        // one made by another process belongs to a request that died with
        // it, even if the new process started within the same second.
        // And the goods of a paid order go to the holder of the key whose
        // hash its payment carries.
        M::up(
            "ALTER TABLE orders ADD COLUMN claim_epoch BLOB;
             ALTER TABLE orders ADD COLUMN goods_key_hash BLOB;
             DROP INDEX orders_abandoned;
             CREATE INDEX orders_claimed ON orders(claimed_at)
                 WHERE payment_id IS NULL AND claimed_by IS NOT NULL;",
        ),
        // Offline (CAFE) payments: the requests it issued (each taken once)
        // and the spends it accepted, until its bank's receipt says what
        // each came to. A batch id is written before its batch is sent, so a
        // retry sends the very same batch.
        M::up(
            "CREATE TABLE offline_requests (
                nonce      BLOB PRIMARY KEY,
                issued_at  INTEGER NOT NULL,
                taken_at   INTEGER
             );
             CREATE TABLE offline_spends (
                coin_id     BLOB PRIMARY KEY,
                value       INTEGER NOT NULL,
                spend       TEXT NOT NULL,
                received_at INTEGER NOT NULL,
                batch_id    BLOB,
                position    INTEGER,
                outcome     TEXT,
                paid        INTEGER
             );
             CREATE INDEX offline_unsettled ON offline_spends(received_at) WHERE outcome IS NULL;
             CREATE INDEX offline_requests_by_age ON offline_requests(issued_at);
             ALTER TABLE offline_spends ADD COLUMN solo INTEGER NOT NULL DEFAULT 0;",
        ),
    ])
}

/// Most unpaid orders kept at once.
pub const MAX_UNPAID: u64 = 50_000;

/// Which claims belong to live requests: those made by this process (its
/// `epoch`, random per start) since `stale_before` (no deposit takes
/// longer). Any other claim's request is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// This process.
    pub epoch: [u8; 16],
    /// Claims made before this are stale, whoever made them.
    pub stale_before: u64,
}

/// How claiming an order for a payment went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The order is now reserved for this request of this payment.
    Won,
    /// Won, taking over this payment's own earlier claim (abandoned, or
    /// left by a process that died): an earlier request of it may still be
    /// at the bank.
    Resumed,
    /// A request is depositing a payment for the order right now (this
    /// payment's or another's), or another payment's outcome is unknown.
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The payment that claimed it, while claimed.
    pub claimed_by: Option<B32>,
    /// The hash of the key its goods go to, once paid.
    pub goods_key_hash: Option<B32>,
}

/// A new order to store.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// Its payreq id.
    pub payreq_id: &'a str,
    /// The item.
    pub item_id: &'a str,
    /// The payreq as JSON.
    pub payreq_json: &'a str,
    /// Its price, minor units.
    pub amount: u64,
    /// When made.
    pub now: u64,
    /// When its payreq expires.
    pub expires_at: u64,
}

/// An abandoned claim: the payment whose outcome at the bank is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    /// The order.
    pub payreq_id: String,
    /// The payment, as JSON.
    pub payment_json: String,
}

/// Orders in SQLite.
pub struct ShopStore {
    conn: Mutex<Connection>,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn b32(v: Option<Vec<u8>>) -> Result<Option<B32>, ShopDbError> {
    v.map(|v| {
        <[u8; 32]>::try_from(v.as_slice())
            .map(ecash_core::Fixed)
            .map_err(|_| db("bad payment id"))
    })
    .transpose()
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
        migrations().to_latest(&mut conn).map_err(db)?;
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
    pub fn insert(
        &self,
        o: &NewOrder<'_>,
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
            "INSERT INTO orders (payreq_id, item_id, payreq, created_at, amount, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                o.payreq_id,
                o.item_id,
                o.payreq_json,
                to_i64(o.now),
                to_i64(o.amount),
                to_i64(o.expires_at)
            ],
        )
        .map_err(db)?;
        Ok(true)
    }

    /// Reserves an unpaid order for one request (`token`) of a payment,
    /// atomically: of two requests racing for one order, exactly one wins,
    /// before either is deposited. The same payment may take over a claim
    /// that was abandoned or is not [`Live`] (its request died with its
    /// process, or took longer than any deposit can); another payment's
    /// claim never, since that payment may be at the bank.
    pub fn claim(
        &self,
        payreq_id: &str,
        payment_id: &B32,
        payment_json: &str,
        token: &[u8; 16],
        now: u64,
        live: Live,
    ) -> Result<Claim, ShopDbError> {
        let conn = self.conn()?;
        // Read and update under one lock: the shop is this store's only writer.
        let before: Option<Option<Vec<u8>>> = conn
            .query_row(
                "SELECT claimed_by FROM orders WHERE payreq_id = ?1",
                params![payreq_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let n = conn
            .execute(
                "UPDATE orders SET claimed_by = ?2, claim_token = ?3, claimed_at = ?4,
                        claim_epoch = ?5, claim_payment = ?6
                 WHERE payreq_id = ?1 AND payment_id IS NULL
                 AND (claimed_by IS NULL
                      OR (claimed_by = ?2 AND (claim_token IS NULL OR claim_epoch IS NOT ?5
                                               OR claimed_at < ?7)))",
                params![
                    payreq_id,
                    &payment_id.0[..],
                    &token[..],
                    to_i64(now),
                    &live.epoch[..],
                    payment_json,
                    to_i64(live.stale_before)
                ],
            )
            .map_err(db)?;
        if n == 1 {
            let own = before.flatten().as_deref() == Some(&payment_id.0[..]);
            return Ok(if own { Claim::Resumed } else { Claim::Won });
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

    /// Gives up the claim made with `token`: the bank refused its payment,
    /// so another payment may pay. Another request's claim is left alone.
    pub fn release(&self, payreq_id: &str, token: &[u8; 16]) -> Result<(), ShopDbError> {
        self.conn()?
            .execute(
                "UPDATE orders SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL,
                        claim_payment = NULL
                 WHERE payreq_id = ?1 AND claim_token = ?2 AND payment_id IS NULL",
                params![payreq_id, &token[..]],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Ends the request's hold on its claim, keeping the claim for its
    /// payment: whether the bank took it is unknown (the bank did not
    /// answer). The same payment, sent again or by the settler, finishes it.
    pub fn abandon(&self, payreq_id: &str, token: &[u8; 16]) -> Result<(), ShopDbError> {
        self.conn()?
            .execute(
                "UPDATE orders SET claim_token = NULL
                 WHERE payreq_id = ?1 AND claim_token = ?2 AND payment_id IS NULL",
                params![payreq_id, &token[..]],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Claims whose outcome is unknown: abandoned ones and those not
    /// [`Live`], oldest first.
    pub fn abandoned(&self, live: Live, limit: usize) -> Result<Vec<Abandoned>, ShopDbError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT payreq_id, claim_payment FROM orders
                 WHERE payment_id IS NULL AND claimed_by IS NOT NULL AND claim_payment IS NOT NULL
                 AND (claim_token IS NULL OR claim_epoch IS NOT ?1 OR claimed_at < ?3)
                 ORDER BY claimed_at LIMIT ?2",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(
                params![
                    &live.epoch[..],
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    to_i64(live.stale_before)
                ],
                |r| {
                    Ok(Abandoned {
                        payreq_id: r.get(0)?,
                        payment_json: r.get(1)?,
                    })
                },
            )
            .map_err(db)?;
        rows.map(|r| r.map_err(db)).collect()
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
        let row = self
            .conn()?
            .query_row(
                "SELECT item_id, payreq, payment_id, response, claimed_by, goods_key_hash
                 FROM orders WHERE payreq_id = ?1",
                params![payreq_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                        r.get::<_, Option<Vec<u8>>>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(db)?;
        row.map(|(item_id, payreq_json, pid, response_json, claimed, key)| {
            Ok(Order {
                payreq_id: payreq_id.to_owned(),
                item_id,
                payreq_json,
                payment_id: b32(pid)?,
                response_json,
                claimed_by: b32(claimed)?,
                goods_key_hash: b32(key)?,
            })
        })
        .transpose()
    }

    /// Marks an order paid by the payment that claimed it, with the answer
    /// given, unless it is paid already. Returns the answer that stands
    /// (`None`: another payment holds the order).
    pub fn mark_paid(
        &self,
        payreq_id: &str,
        payment_id: &B32,
        goods_key_hash: Option<&B32>,
        response: &str,
        now: u64,
    ) -> Result<Option<String>, ShopDbError> {
        let conn = self.conn()?;
        conn.execute(
            "UPDATE orders SET payment_id = ?2, response = ?3, paid_at = ?4, goods_key_hash = ?5,
                    claim_token = NULL, claim_payment = NULL
             WHERE payreq_id = ?1 AND payment_id IS NULL AND claimed_by = ?2",
            params![
                payreq_id,
                &payment_id.0[..],
                response,
                to_i64(now),
                goods_key_hash.map(|h| h.0.to_vec())
            ],
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

    /// The newest `limit` orders, as the shop keeper sees them at `now`,
    /// with the titles `title` gives, and the number and value of paid orders.
    pub fn list(
        &self,
        now: u64,
        limit: usize,
        title: impl Fn(&str) -> String,
        currency: &ecash_core::Currency,
    ) -> Result<(Vec<OrderSummary>, u64, u64), ShopDbError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT payreq_id, item_id, created_at, COALESCE(amount, 0), COALESCE(expires_at, 0),
                        payment_id IS NOT NULL, claimed_by IS NOT NULL, paid_at
                 FROM orders ORDER BY created_at DESC, payreq_id LIMIT ?1",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            })
            .map_err(db)?;
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut orders = Vec::new();
        for row in rows {
            let (payreq_id, item_id, created, amount, expires, paid, claimed, paid_at) =
                row.map_err(db)?;
            let state = if paid {
                OrderState::Paid
            } else if claimed {
                OrderState::Paying
            } else if u(expires) < now {
                OrderState::Expired
            } else {
                OrderState::Open
            };
            orders.push(OrderSummary {
                title: title(&item_id),
                payreq_id,
                item_id,
                amount: ecash_core::Amount::new(currency.clone(), u(amount)),
                created_at: u(created),
                expires_at: u(expires),
                state,
                paid_at: paid_at.map(u),
            });
        }
        let (n, value): (i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM orders WHERE payment_id IS NOT NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db)?;
        Ok((orders, u(n), u(value)))
    }
}

mod offline;

pub use offline::{OfflineRefusal, UnsettledSpend};

#[cfg(test)]
mod tests;
