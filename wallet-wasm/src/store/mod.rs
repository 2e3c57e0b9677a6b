//! Where the wallet keeps its state: a small key-value store with atomic batches.
//!
//! The contract every implementation keeps:
//! - [`Store::apply`] writes a whole batch or nothing, and the batch is durable
//!   when it returns (what the wallet's crash safety rests on);
//! - [`Store::apply_unless`] is a batch that only one of several writers
//!   can land (the offline observer's one authorization per coin);
//! - [`Store::reserve`] increments a counter atomically, even between two
//!   wallet instances on the same store (two browser tabs), so no coin secret
//!   is ever derived twice.
//!
//! [`contract`] checks all of it; every backend runs it.

pub mod contract;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod indexeddb;
pub mod memory;
#[cfg(not(target_arch = "wasm32"))]
pub mod sqlite;

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Set `key` to `value`.
    Put(String, String),
    /// Remove `key`.
    Delete(String),
}

/// An atomic key-value store (see the module docs for the contract).
// Single-threaded executors (the browser, the CLI) run the wallet, so the
// futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Every record, in key order.
    async fn load_all(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Applies `writes` atomically and durably.
    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// Atomically adds `n` to the counter `key` (absent = 0); returns the value before.
    async fn reserve(&self, key: &str, n: u64) -> Result<u64, StoreError>;
    /// Applies `writes` atomically and durably unless one of the records
    /// `guards` exists; returns whether they were applied. Handles racing
    /// with a guard in common (that their writes create): exactly one wins.
    async fn apply_unless(&self, guards: &[String], writes: Vec<Write>)
    -> Result<bool, StoreError>;
}

/// The next counter value after `old + n`, refusing overflow.
pub(crate) fn bumped(key: &str, old: u64, n: u64) -> Result<u64, StoreError> {
    old.checked_add(n)
        .ok_or_else(|| StoreError(format!("counter {key} overflows")))
}

/// Parses a stored counter.
pub(crate) fn parse_counter(key: &str, v: &str) -> Result<u64, StoreError> {
    v.parse()
        .map_err(|_| StoreError(format!("counter {key} is corrupt: {v:?}")))
}
