#!/usr/bin/env bash
# `make run`: builds the web wallet (Trunk) and the mint, then starts the
# mint with its SQLite database, the demo faucet and the demo shop.
# Data lives in ./data (MINT_DATA_DIR to change); port 8080 (PORT to change).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "[run] building the web wallet with Trunk (offline)..."
trunk build --release
echo "[run] building the mint..."
cargo build --release -p mint-server

PORT="${PORT:-8080}"
export MINT_DATA_DIR="${MINT_DATA_DIR:-./data}"
echo "[run] starting the mint on http://127.0.0.1:${PORT} (Ctrl-C stops it cleanly)"
echo "[run]   wallet: http://127.0.0.1:${PORT}/   shop: http://127.0.0.1:${PORT}/shop   keys: http://127.0.0.1:${PORT}/keys"
exec ./target/release/mint-server --listen "127.0.0.1:${PORT}" --demo-faucet --web-dir dist
