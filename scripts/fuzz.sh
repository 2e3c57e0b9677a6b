#!/usr/bin/env bash
# Coverage-guided fuzzing (AFL++ through cargo-afl) of every target in fuzz/:
#   scripts/fuzz.sh smoke [SECONDS]   each target for SECONDS (default 4): make test
#   scripts/fuzz.sh execs [N]         each target for N inputs (default 10^6): make fuzz
# Seeds are valid, correctly signed messages (fuzz-corpus). Prints, per
# target, the inputs run and the crashes found; a crash input is copied to
# fuzz/regressions/<target>/ (replayed by `cargo test -p ecash-fuzz`) and the
# script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-smoke}
case "$mode" in
  smoke) limit=(-V "${2:-4}") ;;
  execs) limit=(-E "${2:-1000000}") ;;
  *) echo "usage: $0 smoke [SECONDS] | execs [N]" >&2; exit 2 ;;
esac

if ! command -v cargo-afl >/dev/null 2>&1; then
  echo "cargo-afl is missing: run make setup" >&2
  exit 2
fi

root=$PWD/target/fuzz
export ECASH_FUZZ_STATE="$root/state"
echo "[fuzz] building the targets with AFL++ instrumentation (target/afl)..."
CARGO_TARGET_DIR=target/afl cargo afl build --profile fuzz -p ecash-fuzz --features afl --bin fuzz-target
bin=target/afl/fuzz/fuzz-target
echo "[fuzz] writing the seed corpus..."
cargo build --quiet --profile fuzz -p ecash-fuzz --bin fuzz-corpus
rm -rf "$root/corpus"
./target/fuzz/fuzz-corpus "$root/corpus" >/dev/null
mapfile -t targets < <(./target/fuzz/fuzz-corpus --list)

export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_QUIET=1 AFL_SKIP_CRASHES=1
total_execs=0
total_crashes=0
report=()
for t in "${targets[@]}"; do
  out="$root/out/$t"
  rm -rf "$out"; mkdir -p "$root/out"
  printf '[fuzz] %-18s ' "$t"
  start=$(date +%s)
  cargo afl fuzz -i "$root/corpus/$t" -o "$out" -m none -t 2000 "${limit[@]}" -- "$bin" "$t" \
    >"$root/$t.log" 2>&1 || { echo "AFL++ failed; see $root/$t.log"; tail -20 "$root/$t.log" >&2; exit 1; }
  stats="$out/default/fuzzer_stats"
  execs=$(sed -n 's/^execs_done *: *//p' "$stats")
  crashes=0
  if [ -d "$out/default/crashes" ]; then
    for f in "$out/default/crashes"/id:*; do
      [ -e "$f" ] || continue
      crashes=$((crashes + 1))
      mkdir -p "fuzz/regressions/$t"
      cp "$f" "fuzz/regressions/$t/crash-$(sha256sum "$f" | cut -c1-16)"
    done
  fi
  secs=$(( $(date +%s) - start ))
  echo "$execs inputs, $crashes crashes, ${secs}s"
  report+=("$t $execs $crashes")
  total_execs=$((total_execs + execs))
  total_crashes=$((total_crashes + crashes))
done
echo "[fuzz] ${#targets[@]} targets, $total_execs inputs, $total_crashes crashes"
if [ "$total_crashes" -gt 0 ]; then
  echo "[fuzz] crash inputs copied to fuzz/regressions/: fix them; cargo test -p ecash-fuzz replays them" >&2
  exit 1
fi
