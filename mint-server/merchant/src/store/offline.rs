//! The shop's offline books: the requests it issued and the spends it took,
//! each request taken once and each coin received once, in one transaction.

use ecash_core::B32;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{ShopDbError, ShopStore, b32, db, to_i64};

/// Most requests open at once: each is a row, and anyone may ask for one.
pub const MAX_OPEN_REQUESTS: u64 = 100_000;

/// Why the shop's books refuse an offline spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineRefusal {
    /// The request is not one the shop issued, was taken, or expired.
    Request,
    /// The coin was received before.
    Received,
}

/// A spend taken and not yet settled with the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsettledSpend {
    /// The coin.
    pub coin_id: B32,
    /// The spend, as JSON.
    pub spend_json: String,
    /// The batch it was sent in (again: the same batch).
    pub batch_id: Option<B32>,
}

impl ShopStore {
    /// Records a request issued at `issued_at`, unless [`MAX_OPEN_REQUESTS`]
    /// are open (`Ok(false)`); forgets those older than `forget_before`.
    pub fn offline_request(
        &self,
        nonce: &[u8; 16],
        issued_at: u64,
        forget_before: u64,
    ) -> Result<bool, ShopDbError> {
        let c = self.conn()?;
        c.execute(
            "DELETE FROM offline_requests WHERE issued_at < ?1",
            params![to_i64(forget_before)],
        )
        .map_err(db)?;
        let open: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM offline_requests WHERE taken_at IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        if u64::try_from(open).unwrap_or(0) >= MAX_OPEN_REQUESTS {
            return Ok(false);
        }
        c.execute(
            "INSERT INTO offline_requests (nonce, issued_at) VALUES (?1, ?2)",
            params![&nonce[..], to_i64(issued_at)],
        )
        .map_err(db)?;
        Ok(true)
    }

    /// Whether request `nonce` issued at `issued_at` is open (a cheap check
    /// before a spend's arithmetic; [`Self::offline_take`] decides).
    pub fn offline_request_open(
        &self,
        nonce: &[u8; 16],
        issued_at: u64,
        open_since: u64,
    ) -> Result<bool, ShopDbError> {
        let c = self.conn()?;
        Ok(c.query_row(
            "SELECT 1 FROM offline_requests
             WHERE nonce = ?1 AND issued_at = ?2 AND issued_at >= ?3 AND taken_at IS NULL",
            params![&nonce[..], to_i64(issued_at), to_i64(open_since)],
            |_| Ok(()),
        )
        .optional()
        .map_err(db)?
        .is_some())
    }

    /// The value and time the shop took `coin_id` at, if it took it with
    /// exactly this spend (the payer sending it again after a lost answer).
    pub fn offline_taken(
        &self,
        coin_id: &B32,
        spend_json: &str,
    ) -> Result<Option<(u64, u64)>, ShopDbError> {
        let c = self.conn()?;
        c.query_row(
            "SELECT value, received_at FROM offline_spends WHERE coin_id = ?1 AND spend = ?2",
            params![&coin_id.0[..], spend_json],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .optional()
        .map_err(db)
        .map(|o| o.map(|(v, t)| (v.max(0) as u64, t.max(0) as u64)))
    }

    /// Takes request `nonce` (issued at `issued_at`, not before
    /// `open_since`) for the spend of `coin_id`, and records the spend:
    /// both or neither.
    #[allow(clippy::too_many_arguments)]
    pub fn offline_take(
        &self,
        nonce: &[u8; 16],
        issued_at: u64,
        open_since: u64,
        coin_id: &B32,
        value: u64,
        spend_json: &str,
        now: u64,
    ) -> Result<Result<(), OfflineRefusal>, ShopDbError> {
        let mut c = self.conn()?;
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let open = tx
            .query_row(
                "SELECT 1 FROM offline_requests
                 WHERE nonce = ?1 AND issued_at = ?2 AND issued_at >= ?3 AND taken_at IS NULL",
                params![&nonce[..], to_i64(issued_at), to_i64(open_since)],
                |_| Ok(()),
            )
            .optional()
            .map_err(db)?;
        if open.is_none() {
            return Ok(Err(OfflineRefusal::Request));
        }
        let seen = tx
            .query_row(
                "SELECT 1 FROM offline_spends WHERE coin_id = ?1",
                params![&coin_id.0[..]],
                |_| Ok(()),
            )
            .optional()
            .map_err(db)?;
        if seen.is_some() {
            return Ok(Err(OfflineRefusal::Received));
        }
        tx.execute(
            "UPDATE offline_requests SET taken_at = ?1 WHERE nonce = ?2",
            params![to_i64(now), &nonce[..]],
        )
        .map_err(db)?;
        tx.execute(
            "INSERT INTO offline_spends (coin_id, value, spend, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![&coin_id.0[..], to_i64(value), spend_json, to_i64(now)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Ok(()))
    }

    /// The next batch to send: a batch sent before and not settled (the
    /// same spends, in its order), else up to `max` spends not yet in one.
    pub fn offline_unsettled(&self, max: usize) -> Result<Vec<UnsettledSpend>, ShopDbError> {
        let c = self.conn()?;
        let sent: Option<Vec<u8>> = c
            .query_row(
                "SELECT batch_id FROM offline_spends
                 WHERE outcome IS NULL AND batch_id IS NOT NULL LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let rows =
            |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<Vec<UnsettledSpend>, ShopDbError> {
                let mut stmt = c.prepare(sql).map_err(db)?;
                let found = stmt
                    .query_map(p, |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    })
                    .map_err(db)?;
                let mut out = Vec::new();
                for row in found {
                    let (coin, spend_json, batch) = row.map_err(db)?;
                    out.push(UnsettledSpend {
                        coin_id: b32(Some(coin))?.ok_or_else(|| db("no coin id"))?,
                        spend_json,
                        batch_id: b32(batch)?,
                    });
                }
                Ok(out)
            };
        if let Some(batch) = sent {
            return rows(
                "SELECT coin_id, spend, batch_id FROM offline_spends
                 WHERE batch_id = ?1 ORDER BY position",
                &[&batch],
            );
        }
        // Spends of a batch the bank refused go alone, to find the one it refuses.
        let solo = rows(
            "SELECT coin_id, spend, batch_id FROM offline_spends
             WHERE outcome IS NULL AND solo = 1 ORDER BY received_at, coin_id LIMIT 1",
            &[],
        )?;
        if !solo.is_empty() {
            return Ok(solo);
        }
        rows(
            "SELECT coin_id, spend, batch_id FROM offline_spends
             WHERE outcome IS NULL ORDER BY received_at, coin_id LIMIT ?1",
            &[&to_i64(max as u64)],
        )
    }

    /// Puts `coins` in batch `batch_id`, in this order, before it is sent.
    pub fn offline_batch(&self, batch_id: &B32, coins: &[B32]) -> Result<(), ShopDbError> {
        let mut c = self.conn()?;
        let tx = c.transaction().map_err(db)?;
        for (i, coin) in coins.iter().enumerate() {
            tx.execute(
                "UPDATE offline_spends SET batch_id = ?1, position = ?2
                 WHERE coin_id = ?3 AND batch_id IS NULL AND outcome IS NULL",
                params![&batch_id.0[..], to_i64(i as u64), &coin.0[..]],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Records what the bank's receipt says each coin came to.
    pub fn offline_settled(&self, results: &[(B32, &str, u64)]) -> Result<(), ShopDbError> {
        let mut c = self.conn()?;
        let tx = c.transaction().map_err(db)?;
        for (coin, outcome, paid) in results {
            tx.execute(
                "UPDATE offline_spends SET outcome = ?1, paid = ?2 WHERE coin_id = ?3",
                params![outcome, to_i64(*paid), &coin.0[..]],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// A batch the bank refused as a whole: its spends go again one by one,
    /// so only the one it refuses is written off.
    pub fn offline_split(&self, batch_id: &B32) -> Result<(), ShopDbError> {
        let c = self.conn()?;
        c.execute(
            "UPDATE offline_spends SET batch_id = NULL, position = NULL, solo = 1
             WHERE batch_id = ?1 AND outcome IS NULL",
            params![&batch_id.0[..]],
        )
        .map_err(db)?;
        Ok(())
    }

    /// Offline spends taken and not yet settled with the bank.
    pub fn offline_pending_count(&self) -> Result<u64, ShopDbError> {
        let c = self.conn()?;
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM offline_spends WHERE outcome IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use ecash_core::Fixed;

    use super::*;

    fn store() -> (tempfile::TempDir, ShopStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ShopStore::open(&dir.path().join("shop.db")).expect("open");
        (dir, s)
    }

    #[test]
    fn a_request_is_taken_once_a_coin_received_once_and_a_batch_sent_again_whole() {
        let (_d, s) = store();
        for n in 0..3u8 {
            assert!(s.offline_request(&[n; 16], 100, 0).expect("request"));
        }
        let take = |n: u8, coin: u8| {
            s.offline_take(&[n; 16], 100, 50, &Fixed([coin; 32]), 1, "{}", 110)
                .expect("db")
        };
        assert_eq!(take(0, 1), Ok(()));
        assert_eq!(take(0, 2), Err(OfflineRefusal::Request), "taken");
        assert_eq!(take(1, 1), Err(OfflineRefusal::Received), "the same coin");
        assert_eq!(
            s.offline_take(&[1; 16], 99, 50, &Fixed([3; 32]), 1, "{}", 110)
                .expect("db"),
            Err(OfflineRefusal::Request),
            "another issue time"
        );
        assert_eq!(
            s.offline_take(&[1; 16], 100, 101, &Fixed([3; 32]), 1, "{}", 200)
                .expect("db"),
            Err(OfflineRefusal::Request),
            "expired"
        );
        assert_eq!(take(1, 2), Ok(()));
        assert_eq!(take(2, 3), Ok(()));
        assert_eq!(s.offline_pending_count().expect("count"), 3);
        // A batch of two is journaled, then its answer lost: the same two again.
        let first = s.offline_unsettled(2).expect("unsettled");
        let coins: Vec<B32> = first.iter().map(|u| u.coin_id).collect();
        s.offline_batch(&Fixed([9; 32]), &coins).expect("batch");
        let again = s.offline_unsettled(64).expect("unsettled");
        assert_eq!(again.iter().map(|u| u.coin_id).collect::<Vec<_>>(), coins);
        assert!(again.iter().all(|u| u.batch_id == Some(Fixed([9; 32]))));
        // Settled: the third is next, in no batch yet.
        let done: Vec<(B32, &str, u64)> = coins.iter().map(|c| (*c, "credited", 1)).collect();
        s.offline_settled(&done).expect("settled");
        let next = s.offline_unsettled(64).expect("unsettled");
        assert_eq!(next.len(), 1);
        assert_eq!((next[0].coin_id, next[0].batch_id), (Fixed([3; 32]), None));
        assert_eq!(s.offline_pending_count().expect("count"), 1);
        // A batch refused whole goes again one spend at a time.
        s.offline_batch(&Fixed([8; 32]), &[Fixed([3; 32])])
            .expect("batch");
        s.offline_split(&Fixed([8; 32])).expect("split");
        let alone = s.offline_unsettled(64).expect("unsettled");
        assert_eq!((alone.len(), alone[0].batch_id), (1, None));
        assert!(!s.offline_request_open(&[5; 16], 100, 0).expect("q"));
    }
}
