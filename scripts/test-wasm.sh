#!/usr/bin/env bash
# wasm tests in headless Chromium. The wallet's browser tests need a real
# bank and shop: start both (fresh data dirs, random ports, demo faucet),
# pass their URLs to the test build as ECASH_TEST_MINT and ECASH_TEST_SHOP,
# stop them whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p mint-server -p merchant
# The test pages make shop orders from their own origin: pin the runner's
# address so the shop can allow exactly that origin to make orders.
runner_port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  # Nothing answers there: free (a connect that fails).
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then runner_port=$p; break; fi
done
[ -n "$runner_port" ] || { echo "no free port for the wasm test runner" >&2; exit 1; }
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$runner_port"
data=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT

# Waits for a server's ready file and prints its URL.
ready_url() { # ready_url <file> <pid> <name>
  for _ in $(seq 1 600); do
    if [ -s "$1" ]; then sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$1"; return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$3 exited before it was ready:" >&2
      cat "$data/$3.err" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "$3 did not get ready" >&2
  exit 1
}

./target/debug/mint-server --listen 127.0.0.1:0 --data-dir "$data/mint" --demo-faucet \
  --max-denomination-exp 10 --web-dir /nonexistent \
  --rate-limit 100000 --rate-burst 100000 \
  --ready-file "$data/mint.json" >/dev/null 2>"$data/mint.err" &
pids+=($!)
mint=$(ready_url "$data/mint.json" "${pids[0]}" mint)
master=$(sed -n 's/.*"master_public_key": *"\([^"]*\)".*/\1/p' "$data/mint.json")
./target/debug/merchant --listen 127.0.0.1:0 --data-dir "$data/shop" \
  --bank-url "$mint" --bank-master-key="$master" \
  --rate-limit 100000 --rate-burst 100000 \
  --order-origin "http://$WASM_BINDGEN_TEST_ADDRESS" \
  --ready-file "$data/shop.json" >/dev/null 2>"$data/shop.err" &
pids+=($!)
shop=$(ready_url "$data/shop.json" "${pids[1]}" shop)
echo "test mint at $mint, test shop at $shop"
export ECASH_TEST_MINT="$mint" ECASH_TEST_SHOP="$shop"

[ -n "${SKIP_CORE_WASM:-}" ] || wasm-pack test --headless --chrome --mode no-install --release shared -- --nocapture
wasm-pack test --headless --chrome --mode no-install --release wallet-wasm -- --nocapture
