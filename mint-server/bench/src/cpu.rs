//! CPU time per coin, from `/proc`: the mint's nodes, and the PostgreSQL
//! server processes on this machine.

use serde_json::json;

use crate::phase::Phase;

/// User + system CPU seconds the processes `pids` have used so far
/// (`/proc/<pid>/stat`, in clock ticks of 1/100 s, Linux's USER_HZ).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // After the command name in parentheses: state is field 3, utime 14, stime 15.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
            Some(ticks(14)? + ticks(15)?)
        })
        .sum::<f64>()
        / 100.0
}

/// Every PostgreSQL server process on this machine (by command name).
fn postgres_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "postgres").then_some(pid)
    })
    .collect()
}

/// CPU milliseconds per coin that the mint's nodes (and, on PostgreSQL, the
/// database server) spent on one phase.
pub struct Cpu {
    /// Process ids of the nodes (none: not measured).
    pub mint: Vec<u32>,
}

impl Cpu {
    fn sample(&self) -> (f64, f64) {
        (cpu_seconds(&self.mint), cpu_seconds(&postgres_pids()))
    }

    /// Runs `phase`, and adds its CPU cost per coin to its report.
    pub fn measured(&self, name: &str, phase: impl FnOnce() -> Phase) -> serde_json::Value {
        let before = self.sample();
        let p = phase();
        let after = self.sample();
        let coins = p.coins.max(1) as f64;
        let mut report = p.report(name);
        if !self.mint.is_empty() {
            report["mint_cpu_ms_per_coin"] =
                json!(((after.0 - before.0) * 1000.0 / coins * 1000.0).round() / 1000.0);
            report["postgres_cpu_ms_per_coin"] =
                json!(((after.1 - before.1) * 1000.0 / coins * 1000.0).round() / 1000.0);
        }
        report
    }
}
