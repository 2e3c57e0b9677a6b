//! The native store: one SQLite file, WAL with `synchronous=FULL`, a batch per transaction.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError, Write, bumped, parse_counter};

/// A wallet in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError(format!("sqlite: {e}"))
}

impl SqliteStore {
    /// Opens (or creates) the wallet database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(db_err)?;
        // FULL: a committed batch survives power loss, which the journal relies on.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(db_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError("wallet database lock poisoned".into()))
    }
}

impl Store for SqliteStore {
    async fn load_all(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT key, value FROM kv ORDER BY key")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_in_tx(&[], &writes).map(|_| ())
    }

    async fn apply_unless(
        &self,
        guards: &[String],
        writes: Vec<Write>,
    ) -> Result<bool, StoreError> {
        self.apply_in_tx(guards, &writes)
    }

    async fn reserve(&self, key: &str, n: u64) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        // IMMEDIATE takes the write lock first, so two processes cannot read the same value.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let old: Option<String> = tx
            .query_row("SELECT value FROM kv WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        let old = match old {
            Some(v) => parse_counter(key, &v)?,
            None => 0,
        };
        tx.execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, bumped(key, old, n)?.to_string()],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(old)
    }
}

impl SqliteStore {
    /// One IMMEDIATE transaction (the write lock first, so the guard's read
    /// and the writes are one step against other processes).
    fn apply_in_tx(&self, guards: &[String], writes: &[Write]) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        for g in guards {
            let held: Option<i64> = tx
                .query_row("SELECT 1 FROM kv WHERE key = ?1", params![g], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            if held.is_some() {
                return Ok(false);
            }
        }
        for w in writes {
            match w {
                Write::Put(k, v) => tx
                    .execute(
                        "INSERT INTO kv (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        params![k, v],
                    )
                    .map_err(db_err)?,
                Write::Delete(k) => tx
                    .execute("DELETE FROM kv WHERE key = ?1", params![k])
                    .map_err(db_err)?,
            };
        }
        tx.commit().map_err(db_err)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn batches_persist_and_counters_never_repeat_across_handles() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w.db");
        let a = SqliteStore::open(&path).expect("open");
        let b = SqliteStore::open(&path).expect("open twice");
        block_on(a.apply(vec![
            Write::Put("x".into(), "1".into()),
            Write::Put("y".into(), "2".into()),
        ]))
        .expect("apply");
        block_on(a.apply(vec![Write::Delete("x".into())])).expect("delete");
        assert_eq!(
            block_on(b.load_all()).expect("load"),
            vec![("y".to_owned(), "2".to_owned())]
        );
        // Two handles on one file interleave reservations: every value handed out once.
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..50 {
            let s = if i % 2 == 0 { &a } else { &b };
            let start = block_on(s.reserve("ctr/k", 3)).expect("reserve");
            for v in start..start + 3 {
                assert!(seen.insert(v), "counter value {v} handed out twice");
            }
        }
        assert_eq!(seen.len(), 150);
        block_on(a.apply(vec![Write::Put("ctr/bad".into(), "nope".into())])).expect("put");
        assert!(block_on(a.reserve("ctr/bad", 1)).is_err());
    }
}

#[cfg(test)]
mod contract_tests {
    use super::*;

    #[test]
    fn sqlite_keeps_the_store_contract() {
        let dir = tempfile::tempdir().expect("tmp");
        let n = std::cell::Cell::new(0);
        futures::executor::block_on(async {
            super::super::contract::run(|| {
                n.set(n.get() + 1);
                let path = dir.path().join(format!("w{}.db", n.get()));
                async move { SqliteStore::open(&path).expect("open") }
            })
            .await;
            // Two connections to one file: two processes on one wallet.
            let path = dir.path().join("shared.db");
            let a = SqliteStore::open(&path).expect("open");
            let b = SqliteStore::open(&path).expect("open again");
            super::super::contract::run_shared(&a, &b).await;
        });
    }
}
