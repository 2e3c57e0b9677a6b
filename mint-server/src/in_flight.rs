//! What requests are working on right now: the accounts being debited and
//! the coins being spent. A second request for the same account or coins is
//! told to retry (`in_progress`) before it costs the bank a signature it
//! would throw away when the first commits. The commit's own check inside
//! its transaction stays the final word; this only saves the work.
//!
//! Per process: with several mint nodes the database check still holds,
//! and each node saves its own work.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

/// A set of keys held by requests in progress.
#[derive(Debug)]
pub struct InFlight<K: Hash + Eq> {
    held: Mutex<HashSet<K>>,
}

/// Keys held until dropped.
#[derive(Debug)]
pub struct Held<'a, K: Hash + Eq> {
    owner: &'a InFlight<K>,
    keys: Vec<K>,
}

impl<K: Hash + Eq + Clone> Default for InFlight<K> {
    fn default() -> Self {
        Self {
            held: Mutex::new(HashSet::new()),
        }
    }
}

impl<K: Hash + Eq + Clone> InFlight<K> {
    /// Takes every one of `keys`, or none if any is held already.
    pub fn take(&self, keys: &[K]) -> Option<Held<'_, K>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if keys.iter().any(|k| held.contains(k)) {
            return None;
        }
        held.extend(keys.iter().cloned());
        Some(Held {
            owner: self,
            keys: keys.to_vec(),
        })
    }
}

impl<K: Hash + Eq> Drop for Held<'_, K> {
    fn drop(&mut self) {
        let mut held = self.owner.held.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            held.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_held_all_or_nothing_until_dropped() {
        let f: InFlight<u8> = InFlight::default();
        let a = f.take(&[1, 2]).expect("free");
        assert!(f.take(&[2, 3]).is_none(), "2 is held");
        assert!(
            f.take(&[3]).is_some(),
            "3 was not taken by the failed attempt"
        );
        drop(a);
        assert!(f.take(&[1, 2, 3]).is_some());
    }
}
