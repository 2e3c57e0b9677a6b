#!/usr/bin/env bash
# Starts what exists of the system. The bank issue replaces this with the
# mint + demo shop on SQLite; until then it builds and says what is coming.
set -euo pipefail
cd "$(dirname "$0")/.."
./target/release/mint-server
echo "The protocol core (shared/) is built and tested: run 'make test'."
echo "Coming next: the mint on SQLite with the demo shop (make run will print its URL)."
