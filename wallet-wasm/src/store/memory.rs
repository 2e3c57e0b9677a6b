//! A store in memory: for ephemeral wallets (a one-off receive) and unit tests.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{Store, StoreError, Write, bumped, parse_counter};

/// Records in a map; lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: RefCell<BTreeMap<String, String>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    async fn load_all(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .map
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut map = self.map.borrow_mut();
        for w in writes {
            match w {
                Write::Put(k, v) => {
                    map.insert(k, v);
                }
                Write::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }

    async fn apply_unless(
        &self,
        guards: &[String],
        writes: Vec<Write>,
    ) -> Result<bool, StoreError> {
        if guards.iter().any(|g| self.map.borrow().contains_key(g)) {
            return Ok(false);
        }
        self.apply(writes).await?;
        Ok(true)
    }

    async fn reserve(&self, key: &str, n: u64) -> Result<u64, StoreError> {
        let mut map = self.map.borrow_mut();
        let old = match map.get(key) {
            Some(v) => parse_counter(key, v)?,
            None => 0,
        };
        map.insert(key.to_owned(), bumped(key, old, n)?.to_string());
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_keeps_the_store_contract() {
        futures::executor::block_on(async {
            super::super::contract::run(|| async { MemoryStore::new() }).await;
            let m = MemoryStore::new();
            super::super::contract::run_shared(&m, &m).await;
        });
    }
}
