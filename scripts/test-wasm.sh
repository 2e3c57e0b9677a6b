#!/usr/bin/env bash
# wasm tests in headless Chromium. The wallet's browser tests need a real
# mint: start one (fresh data dir, random port, demo faucet and shop), pass
# its URL to the test build as ECASH_TEST_MINT, stop it whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p mint-server
# The test pages make shop orders from their own origin: pin the runner's
# address so the mint can allow exactly that origin to make orders.
runner_port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  # Nothing answers there: free (a connect that fails).
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then runner_port=$p; break; fi
done
[ -n "$runner_port" ] || { echo "no free port for the wasm test runner" >&2; exit 1; }
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$runner_port"
data=$(mktemp -d)
log="$data/mint.log"
./target/debug/mint-server --listen 127.0.0.1:0 --data-dir "$data" --demo-faucet \
  --max-denomination-exp 10 --web-dir /nonexistent \
  --rate-limit 100000 --rate-burst 100000 \
  --shop-order-origin "http://$WASM_BINDGEN_TEST_ADDRESS" >"$log" 2>"$data/mint.err" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/^mint-server listening on //p' "$log" | head -n1)
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "mint-server exited before listening:" >&2
    cat "$data/mint.err" >&2
    exit 1
  fi
  sleep 0.2
done
[ -n "$url" ] || { echo "mint-server did not start" >&2; exit 1; }
echo "test mint at $url"
export ECASH_TEST_MINT="$url"

[ -n "${SKIP_CORE_WASM:-}" ] || wasm-pack test --headless --chrome --mode no-install --release shared -- --nocapture
wasm-pack test --headless --chrome --mode no-install --release wallet-wasm -- --nocapture
