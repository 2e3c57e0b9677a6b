//! The browser store: one IndexedDB database per wallet, one object store of string records.
//!
//! Each batch is one `readwrite` transaction, so it commits whole or not at
//! all; [`Store::reserve`] reads and writes its counter inside one transaction,
//! which IndexedDB serializes against every other tab's transactions.

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, Query, TransactionMode};
use wasm_bindgen::JsValue;

use super::{Store, StoreError, Write, bumped, parse_counter};

const OBJECT_STORE: &str = "records";
const VERSION: u32 = 1;

fn idb_err(what: &str) -> impl Fn(idb::Error) -> StoreError + '_ {
    move |e| StoreError(format!("IndexedDB {what}: {e}"))
}

/// A wallet in IndexedDB.
#[derive(Debug)]
pub struct IndexedDbStore {
    db: Database,
    name: String,
}

impl IndexedDbStore {
    /// Opens (or creates) the IndexedDB database `name`.
    pub async fn open(name: &str) -> Result<Self, StoreError> {
        let factory = Factory::new().map_err(idb_err("is not available"))?;
        let mut req = factory.open(name, Some(VERSION)).map_err(idb_err("open"))?;
        req.on_upgrade_needed(|event| {
            if let Ok(db) = event.database()
                && !db.store_names().iter().any(|n| n == OBJECT_STORE)
            {
                let _ = db.create_object_store(OBJECT_STORE, ObjectStoreParams::new());
            }
        });
        let db = req.await.map_err(idb_err("open"))?;
        Ok(Self {
            db,
            name: name.to_owned(),
        })
    }

    /// Closes the connection (the data stays).
    pub fn close(&self) {
        self.db.close();
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the database `name` and everything in it.
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        let factory = Factory::new().map_err(idb_err("is not available"))?;
        factory
            .delete(name)
            .map_err(idb_err("delete"))?
            .await
            .map_err(idb_err("delete"))
    }
}

/// A dropped store lets go of its connection at once, so deleting or
/// upgrading the database is not blocked until garbage collection.
impl Drop for IndexedDbStore {
    fn drop(&mut self) {
        self.db.close();
    }
}

fn as_string(v: &JsValue, what: &str) -> Result<String, StoreError> {
    v.as_string()
        .ok_or_else(|| StoreError(format!("IndexedDB holds a non-string {what}")))
}

/// Commits `tx` and fails unless it committed.
async fn commit(tx: idb::Transaction, what: &str) -> Result<(), StoreError> {
    let result = tx
        .commit()
        .map_err(idb_err("commit"))?
        .await
        .map_err(idb_err("commit"))?;
    if result.is_committed() {
        Ok(())
    } else {
        Err(StoreError(format!("IndexedDB aborted {what}")))
    }
}

impl Store for IndexedDbStore {
    async fn load_all(&self) -> Result<Vec<(String, String)>, StoreError> {
        let tx = self
            .db
            .transaction(&[OBJECT_STORE], TransactionMode::ReadOnly)
            .map_err(idb_err("transaction"))?;
        let store = tx.object_store(OBJECT_STORE).map_err(idb_err("store"))?;
        let keys = store
            .get_all_keys(None, None)
            .map_err(idb_err("read keys"))?
            .await
            .map_err(idb_err("read keys"))?;
        let values = store
            .get_all(None, None)
            .map_err(idb_err("read values"))?
            .await
            .map_err(idb_err("read values"))?;
        tx.await.map_err(idb_err("read"))?;
        if keys.len() != values.len() {
            return Err(StoreError("IndexedDB changed during a read".into()));
        }
        keys.iter()
            .zip(values.iter())
            .map(|(k, v)| Ok((as_string(k, "key")?, as_string(v, "value")?)))
            .collect()
    }

    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_in_tx(&[], &writes).await.map(|_| ())
    }

    async fn apply_unless(
        &self,
        guards: &[String],
        writes: Vec<Write>,
    ) -> Result<bool, StoreError> {
        self.apply_in_tx(guards, &writes).await
    }

    async fn reserve(&self, key: &str, n: u64) -> Result<u64, StoreError> {
        let tx = self
            .db
            .transaction(&[OBJECT_STORE], TransactionMode::ReadWrite)
            .map_err(idb_err("transaction"))?;
        let store = tx.object_store(OBJECT_STORE).map_err(idb_err("store"))?;
        let old = store
            .get(Query::Key(JsValue::from_str(key)))
            .map_err(idb_err("get"))?
            .await
            .map_err(idb_err("get"))?;
        let old = match old {
            Some(v) => parse_counter(key, &as_string(&v, "counter")?)?,
            None => 0,
        };
        store
            .put(
                &JsValue::from_str(&bumped(key, old, n)?.to_string()),
                Some(&JsValue::from_str(key)),
            )
            .map_err(idb_err("put"))?;
        commit(tx, "the counter update").await?;
        Ok(old)
    }
}

impl IndexedDbStore {
    /// One `readwrite` transaction: IndexedDB serializes it against every
    /// other tab's, so the guard's read and the writes are one step.
    async fn apply_in_tx(&self, guards: &[String], writes: &[Write]) -> Result<bool, StoreError> {
        let tx = self
            .db
            .transaction(&[OBJECT_STORE], TransactionMode::ReadWrite)
            .map_err(idb_err("transaction"))?;
        let store = tx.object_store(OBJECT_STORE).map_err(idb_err("store"))?;
        for g in guards {
            let held = store
                .get(Query::Key(JsValue::from_str(g)))
                .map_err(idb_err("get"))?
                .await
                .map_err(idb_err("get"))?;
            if held.is_some() {
                // Nothing written: let the transaction end empty.
                tx.await.map_err(idb_err("read"))?;
                return Ok(false);
            }
        }
        for w in writes {
            match w {
                Write::Put(k, v) => {
                    store
                        .put(&JsValue::from_str(v), Some(&JsValue::from_str(k)))
                        .map_err(idb_err("put"))?;
                }
                Write::Delete(k) => {
                    store
                        .delete(Query::Key(JsValue::from_str(k)))
                        .map_err(idb_err("delete"))?;
                }
            }
        }
        commit(tx, "the batch").await?;
        Ok(true)
    }
}
