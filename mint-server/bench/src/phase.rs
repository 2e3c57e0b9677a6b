//! One timed phase of the load: its clients, latencies and coins, per node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

/// Latencies (ms) and units done by one phase, in total and per node.
#[derive(Default)]
pub struct Phase {
    /// Each request's latency, ms.
    pub latencies: Vec<f64>,
    /// Coins done.
    pub coins: usize,
    /// Seconds the phase ran.
    pub elapsed: f64,
    per_node: Vec<usize>,
}

impl Phase {
    /// One client's work, on node `node`.
    pub fn on(node: usize) -> Self {
        let mut p = Self::default();
        p.per_node.resize(node + 1, 0);
        p
    }

    /// Counts `coins` done by this client (on the node of [`Phase::on`]).
    pub fn done(&mut self, coins: usize) {
        self.coins += coins;
        if let Some(n) = self.per_node.last_mut() {
            *n += coins;
        }
    }

    fn merge(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        self.coins += other.coins;
        if self.per_node.len() < other.per_node.len() {
            self.per_node.resize(other.per_node.len(), 0);
        }
        for (mine, theirs) in self.per_node.iter_mut().zip(other.per_node) {
            *mine += theirs;
        }
    }

    pub fn report(mut self, name: &str) -> serde_json::Value {
        self.latencies.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            if self.latencies.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            (self.latencies[i] * 100.0).round() / 100.0
        };
        let requests = self.latencies.len();
        json!({
            "phase": name,
            "seconds": (self.elapsed * 100.0).round() / 100.0,
            "requests": requests,
            "coins": self.coins,
            "requests_per_s": (requests as f64 / self.elapsed).round(),
            "coins_per_s": (self.coins as f64 / self.elapsed).round(),
            "per_node_coins_per_s": self
                .per_node
                .iter()
                .map(|c| (*c as f64 / self.elapsed).round())
                .collect::<Vec<_>>(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
        })
    }
}

/// Runs `clients` threads of `work` until `seconds` pass or work runs out.
pub fn run_phase<W>(clients: usize, seconds: f64, work: W) -> Phase
where
    W: Fn(usize, &dyn Fn() -> bool) -> Phase + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let work = work.clone();
            std::thread::spawn(move || work(i, &|| Instant::now() < deadline))
        })
        .collect();
    let mut total = Phase::default();
    for t in threads {
        match t.join() {
            Ok(p) => total.merge(p),
            Err(_) => eprintln!("a client thread failed"),
        }
    }
    total.elapsed = t0.elapsed().as_secs_f64();
    total
}
