#!/usr/bin/env bash
# `make run`: builds the web wallet (Trunk), the certifier, the mint and the
# demo shop, then starts NetCash's parties: the certifier (the FIC), mint A
# (SQLite, demo faucet, serving the wallet), mint B (which clears A's
# coins: it deposits them at A into its own account there and settles it),
# both certified by the certifier and serving its papers with /keys, and
# the shop, a party of its own that banks at mint B over HTTP and pins its
# master key. A wallet of mint A pays the shop: mint B clears the coins at
# A. Data: ./data (MINT_DATA_DIR, mint A), ./data/mint-b, ./data/certifier
# and ./data/shop (SHOP_DATA_DIR); ports 8070 (CERTIFIER_PORT), 8080
# (PORT, mint A), 8082 (MINT_B_PORT) and 8081 (SHOP_PORT). Ctrl-C stops
# them all.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "[run] building the web wallet with Trunk (offline)..."
trunk build --release
echo "[run] building the certifier, the mint and the demo shop..."
cargo build --release -p certifier -p mint-server -p merchant

PORT="${PORT:-8080}"
SHOP_PORT="${SHOP_PORT:-8081}"
MINT_B_PORT="${MINT_B_PORT:-8082}"
CERTIFIER_PORT="${CERTIFIER_PORT:-8070}"
export MINT_DATA_DIR="${MINT_DATA_DIR:-./data}"
CERTIFIER_DATA_DIR="${CERTIFIER_DATA_DIR:-$MINT_DATA_DIR/certifier}"
CERTIFIER_URL="http://127.0.0.1:${CERTIFIER_PORT}"
SHOP_DATA_DIR="${SHOP_DATA_DIR:-$MINT_DATA_DIR/shop}"
MINT_URL="http://127.0.0.1:${PORT}"
MINT_B_URL="http://127.0.0.1:${MINT_B_PORT}"
MINT_B_DATA_DIR="${MINT_B_DATA_DIR:-$MINT_DATA_DIR/mint-b}"
SHOP_URL="http://127.0.0.1:${SHOP_PORT}"
ready=$(mktemp -d)
TAG=run WORK="$ready"
source scripts/servers.sh

# The public key a ready file names.
key_of() { sed -n 's/.*"master_public_key": *"\([^"]*\)".*/\1/p' "$1"; }

echo "[run] starting the certifier on ${CERTIFIER_URL}"
./target/release/certifier --data-dir "$CERTIFIER_DATA_DIR" serve \
  --listen "127.0.0.1:${CERTIFIER_PORT}" --ready-file "$ready/certifier.json" &
pids+=($!)
wait_ready "$ready/certifier.json" "${pids[0]}" "the certifier"
fic=$(key_of "$ready/certifier.json")
[ -n "$fic" ] || { echo "[run] the certifier's ready file names no key" >&2; exit 1; }
# The web wallet pins this certifier (read from its own origin at first run).
printf '{"certifier_key": "%s", "certifier_url": "%s"}\n' "$fic" "$CERTIFIER_URL" \
  > dist/wallet-config.json

echo "[run] starting mint A on ${MINT_URL} (serving the wallet)"
./target/release/mint-server --listen "127.0.0.1:${PORT}" --demo-faucet --web-dir dist \
  --certifier-url "$CERTIFIER_URL" --certifier-key="$fic" \
  --merchant-certificate-secs 2592000 --offline-max-exp 4 --ready-file "$ready/mint.json" &
pids+=($!)
wait_ready "$ready/mint.json" "${pids[1]}" "the mint"
master=$(key_of "$ready/mint.json")
[ -n "$master" ] || { echo "[run] the mint's ready file names no master key" >&2; exit 1; }
# Certified once (a run again finds its certificate in force).
./target/release/certifier --data-dir "$CERTIFIER_DATA_DIR" issue --if-missing --replace \
  --cs-name "Demo mint A" --bank-id "${MINT_BANK_ID:-demo-bank}" --cs-addr "$MINT_URL" --master-key="$master" > /dev/null
# A mint hands its key set in within seconds; wallets refuse it until then.
certified() { curl -fsS "$1/keys" 2>/dev/null | grep -q '"certification"'; }
wait_certified() { # wait_certified <url> <name>
  if command -v curl > /dev/null; then
    for _ in $(seq 1 100); do certified "$1" && break; sleep 0.2; done
    certified "$1" || { echo "[run] $2 did not get its key set attested" >&2; exit 1; }
  else
    sleep 3
  fi
  echo "[run] $2 is certified (its papers are served with $1/keys)"
}
wait_certified "$MINT_URL" "mint A"

echo "[run] starting mint B on ${MINT_B_URL} (clears mint A's coins)"
./target/release/mint-server --listen "127.0.0.1:${MINT_B_PORT}" --data-dir "$MINT_B_DATA_DIR" \
  --bank-id demo-bank-b --certifier-url "$CERTIFIER_URL" --certifier-key="$fic" \
  --peer "$MINT_URL" --merchant-certificate-secs 2592000 --ready-file "$ready/mint-b.json" &
pids+=($!)
wait_ready "$ready/mint-b.json" "${pids[2]}" "mint B"
master_b=$(key_of "$ready/mint-b.json")
[ -n "$master_b" ] || { echo "[run] mint B's ready file names no master key" >&2; exit 1; }
./target/release/certifier --data-dir "$CERTIFIER_DATA_DIR" issue --if-missing --replace \
  --cs-name "Demo mint B" --bank-id demo-bank-b --cs-addr "$MINT_B_URL" --master-key="$master_b" > /dev/null
wait_certified "$MINT_B_URL" "mint B"
# B clears with A once it has checked A's papers and opened its account there.
clears() { curl -fsS "${MINT_B_URL}/peers" 2>/dev/null | grep -q '"bank_id"'; }
if command -v curl > /dev/null; then
  for _ in $(seq 1 100); do clears && break; sleep 0.2; done
  clears || { echo "[run] mint B does not clear with mint A" >&2; exit 1; }
fi
echo "[run] mint B clears mint A's coins (${MINT_B_URL}/peers)"

echo "[run] starting the demo shop on ${SHOP_URL} (bank: mint B, master key pinned)"
./target/release/merchant --listen "127.0.0.1:${SHOP_PORT}" --data-dir "$SHOP_DATA_DIR" \
  --bank-url "$MINT_B_URL" --bank-master-key="$master_b" --wallet-url "$MINT_URL" \
  --order-origin "$MINT_URL" --label "Demo sticker shop" --ready-file "$ready/shop.json" &
pids+=($!)
wait_ready "$ready/shop.json" "${pids[3]}" "the shop"
token=$(cat "$SHOP_DATA_DIR/admin.token")

cat <<MSG
[run] everything is up:
[run]   wallet (mint A):  ${MINT_URL}/
[run]   mint B:           ${MINT_B_URL}/keys  (the shop's bank; clears A's coins: ${MINT_B_URL}/peers)
[run]   shop:             ${SHOP_URL}/
[run]   A→B exchange:     in the wallet, Banks: add ${MINT_B_URL}, exchange coins of A into B's
[run]   shop keeper:      ${SHOP_URL}/orders#key=${token}
[run]   embedding demo:   ${MINT_URL}/embed/example.html#shop=${SHOP_URL}
[run]   mint A key set:   ${MINT_URL}/keys (with the certifier's papers)
[run]   certifier:        ${CERTIFIER_URL}/mints  key ${fic} (pinned by the web wallet)
[run]   APIs (OpenAPI):   ${MINT_URL}/openapi.json  ${SHOP_URL}/openapi.json
[run] Ctrl-C stops them all.
MSG
# Until one stops (then the others are stopped too).
wait -n "${pids[@]}"
