//! Counters of the bank's costly work, for operators (`/metrics` when
//! enabled) and for tests that prove a refused request did none of it.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// RSA private-key operations of blind signing.
    pub blind_signatures: AtomicU64,
    /// RSA private-key operations unwrapping payment envelopes.
    pub envelope_unwraps: AtomicU64,
    /// Coin signatures checked (public-key operations).
    pub coin_checks: AtomicU64,
    /// Spent lists built.
    pub spent_lists_built: AtomicU64,
}

impl Metrics {
    /// Adds one to `counter`.
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, v) in [
            (
                "mint_blind_signatures_total",
                "RSA private-key operations of blind signing",
                &self.blind_signatures,
            ),
            (
                "mint_envelope_unwraps_total",
                "RSA private-key operations unwrapping payment envelopes",
                &self.envelope_unwraps,
            ),
            (
                "mint_coin_checks_total",
                "coin signatures checked",
                &self.coin_checks,
            ),
            (
                "mint_spent_lists_built_total",
                "spent lists built",
                &self.spent_lists_built,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}
