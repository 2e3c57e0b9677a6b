//! Time as the parties see it, passed in rather than read from the system,
//! so expiry and key rotation can be tested on a clock the test moves.

use std::sync::atomic::{AtomicU64, Ordering};

/// Unix seconds, from wherever the host takes them.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in unix seconds.
    fn now(&self) -> u64;
}

/// The system's clock (not on `wasm32-unknown-unknown`, which has none:
/// the wallet brings the browser's there).
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that stands still until a test moves it; one can be shared by
/// every party of a test (bank, merchant, wallet) through an `Arc`.
#[derive(Debug, Default)]
pub struct TestClock(AtomicU64);

impl TestClock {
    /// A clock showing `now`.
    pub fn at(now: u64) -> Self {
        Self(AtomicU64::new(now))
    }

    /// Moves the clock forward by `secs`; returns the new time.
    pub fn advance(&self, secs: u64) -> u64 {
        self.0
            .fetch_add(secs, Ordering::SeqCst)
            .saturating_add(secs)
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_only_when_told() {
        let c = TestClock::at(100);
        assert_eq!(c.now(), 100);
        assert_eq!(c.advance(5), 105);
        assert_eq!(c.now(), 105);
        c.set(7);
        assert_eq!(c.now(), 7);
    }
}
