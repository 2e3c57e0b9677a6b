//! `GET /keys/{key_id}/spent`: the public spent list of a key, built at
//! most once per `spent_list_max_age` and served the same to every client.

use std::collections::HashMap;
use std::sync::Arc;

use ecash_core::B32;
use ecash_core::spent::SpentList;

use super::metrics::Metrics;
use super::{Bank, BankError, BankResult, to_json};

/// A built spent list, kept until it is older than the configured age.
pub(crate) struct CachedList {
    built: std::time::Instant,
    json: Arc<String>,
}

impl Bank {
    /// The signed list of every serial spent under a key, as JSON. Asking
    /// for it is cheap and reveals nothing: every client gets the same bytes.
    pub fn spent_list(&self, key_id: &B32) -> BankResult<Arc<String>> {
        let state = self.keys.current();
        let now = self.clock.now();
        // Past its window the books may have dropped its coins already.
        let in_force = state
            .active
            .get(key_id)
            .is_some_and(|k| k.info.can_deposit(now));
        if !in_force {
            return Err(
                if state.expired.contains_key(key_id) || state.active.contains_key(key_id) {
                    BankError::KeyExpired {
                        key: *key_id,
                        why: "has expired; its coins are worth nothing",
                    }
                } else {
                    BankError::UnknownKey(*key_id)
                },
            );
        }
        let fresh = |lists: &HashMap<B32, CachedList>| {
            lists
                .get(key_id)
                .filter(|c| c.built.elapsed() < self.settings.spent_list_max_age)
                .map(|c| c.json.clone())
        };
        let mut lists = self
            .spent_lists
            .lock()
            .map_err(|_| BankError::Internal("spent list cache poisoned"))?;
        if let Some(json) = fresh(&lists) {
            return Ok(json);
        }
        // Built under the lock: many clients asking at once cause one build.
        let serials = self.storage.spent_serials(key_id)?;
        let list = SpentList::build(*key_id, &serials, self.clock.now(), &self.keys.master);
        Metrics::count(&self.metrics.spent_lists_built);
        let json = Arc::new(to_json(&list)?);
        lists.retain(|k, _| state.active.contains_key(k));
        lists.insert(
            *key_id,
            CachedList {
                built: std::time::Instant::now(),
                json: json.clone(),
            },
        );
        Ok(json)
    }
}
