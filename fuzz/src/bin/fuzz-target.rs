//! One AFL++ target: `fuzz-target <name>` (see `ecash_fuzz::targets::TARGETS`).
//! Built only by `cargo afl build --features afl` (scripts/fuzz.sh).

use std::sync::OnceLock;

use ecash_fuzz::harness::Harness;

// Statics, not captures: AFL's closure must be unwind-safe, and a harness
// holding a bank is not; a panic aborts the process anyway.
static HARNESS: OnceLock<Harness> = OnceLock::new();
static TARGET: OnceLock<String> = OnceLock::new();

fn main() {
    let Some(target) = std::env::args().nth(1) else {
        eprintln!(
            "usage: fuzz-target <target>; targets: {}",
            ecash_fuzz::targets::TARGETS.join(" ")
        );
        std::process::exit(2);
    };
    if !ecash_fuzz::targets::TARGETS.contains(&target.as_str()) {
        eprintln!("no fuzz target {target:?}");
        std::process::exit(2);
    }
    TARGET.get_or_init(|| target);
    afl::fuzz!(|data: &[u8]| {
        // Made in the forked child, on its first input: the bank's signing
        // threads would not survive AFL's fork.
        let h = HARNESS.get_or_init(Harness::new);
        if let Some(t) = TARGET.get() {
            ecash_fuzz::targets::run(h, t, data);
        }
    });
}
