#!/usr/bin/env bash
# `make run`: builds the web wallet (Trunk), the mint and the demo shop, then
# starts the mint (SQLite, demo faucet, serving the wallet) and the shop, a
# party of its own that banks at the mint over HTTP and pins its master key.
# Data: ./data (MINT_DATA_DIR) and ./data/shop (SHOP_DATA_DIR); ports 8080
# (PORT) and 8081 (SHOP_PORT). Ctrl-C stops both cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "[run] building the web wallet with Trunk (offline)..."
trunk build --release
echo "[run] building the mint and the demo shop..."
cargo build --release -p mint-server -p merchant

PORT="${PORT:-8080}"
SHOP_PORT="${SHOP_PORT:-8081}"
export MINT_DATA_DIR="${MINT_DATA_DIR:-./data}"
SHOP_DATA_DIR="${SHOP_DATA_DIR:-$MINT_DATA_DIR/shop}"
MINT_URL="http://127.0.0.1:${PORT}"
SHOP_URL="http://127.0.0.1:${SHOP_PORT}"
ready=$(mktemp -d)
TAG=run WORK="$ready"
source scripts/servers.sh

echo "[run] starting the mint on ${MINT_URL}"
./target/release/mint-server --listen "127.0.0.1:${PORT}" --demo-faucet --web-dir dist \
  --ready-file "$ready/mint.json" &
pids+=($!)
wait_ready "$ready/mint.json" "${pids[0]}" "the mint"
master=$(sed -n 's/.*"master_public_key": *"\([^"]*\)".*/\1/p' "$ready/mint.json")
[ -n "$master" ] || { echo "[run] the mint's ready file names no master key" >&2; exit 1; }

echo "[run] starting the demo shop on ${SHOP_URL} (bank ${MINT_URL}, master key pinned)"
./target/release/merchant --listen "127.0.0.1:${SHOP_PORT}" --data-dir "$SHOP_DATA_DIR" \
  --bank-url "$MINT_URL" --bank-master-key="$master" --wallet-url "$MINT_URL" \
  --order-origin "$MINT_URL" --ready-file "$ready/shop.json" &
pids+=($!)
wait_ready "$ready/shop.json" "${pids[1]}" "the shop"
token=$(cat "$SHOP_DATA_DIR/admin.token")

cat <<MSG
[run] everything is up:
[run]   wallet:           ${MINT_URL}/
[run]   shop:             ${SHOP_URL}/
[run]   shop keeper:      ${SHOP_URL}/orders#key=${token}
[run]   embedding demo:   ${MINT_URL}/embed/example.html#shop=${SHOP_URL}
[run]   bank key set:     ${MINT_URL}/keys
[run]   APIs (OpenAPI):   ${MINT_URL}/openapi.json  ${SHOP_URL}/openapi.json
[run] Ctrl-C stops both.
MSG
# Until either stops (then the other is stopped too).
wait -n "${pids[@]}"
