//! Coverage-guided fuzzing of everything that decodes outside bytes.
//!
//! - [`harness`]: a real bank with keys on disk, and the keys that sign fuzzed bodies;
//! - [`targets`]: the targets and the properties they check;
//! - [`corpus`]: valid, correctly signed seeds for every target.
//!
//! `scripts/fuzz.sh` builds `fuzz-target` with `cargo afl`, writes the seeds
//! with `fuzz-corpus`, and runs AFL++ on each target. The `replay` test runs
//! every seed and every saved crash (`fuzz/regressions/<target>/`) through
//! the targets on each `cargo test`.

// A target fails by panicking (AFL records the input as a crash), so the
// properties it checks are `expect`s.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod corpus;
pub mod harness;
pub mod targets;
