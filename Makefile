# Browser e-cash: two commands do everything on a fresh machine.
#   make run   - build the wallet, start the mint (SQLite) and the demo shop, print the URLs
#   make test  - install what the tests need, then run every test
SHELL := /bin/bash
.DEFAULT_GOAL := help

CHROMEDRIVER ?= $(shell command -v chromedriver 2>/dev/null)
export CHROMEDRIVER

TEST_LINTS := -A clippy::unwrap_used -A clippy::expect_used

.PHONY: help setup test test-native test-wasm test-e2e bench-smoke fuzz-smoke lint run run-cluster build bench bench-scaling pgbench fuzz crash faults

help:
	@echo "make run     build and start the mint + demo shop, print the URLs"
	@echo "make test    install test tools (idempotent), then run every test"
	@echo "make setup   only install the toolchain (wasm target, wasm-bindgen, trunk, wasm-pack, chromium, cargo-afl)"
	@echo "make lint    cargo fmt --check and clippy -D warnings"
	@echo "make fuzz    every fuzz target for 10^6 inputs (FUZZ_EXECS to change)"
	@echo "make crash   the crash-under-load test with 200 kills (CRASH_KILLS to change)"
	@echo "make faults  the faulty-network test for 300 s (FAULT_SECS to change)"
	@echo "make bench   the mint load generator (release build; one mint, then two clearing)"
	@echo "make run-cluster  one mint as 3 nodes on PostgreSQL behind nginx"
	@echo "make bench-scaling  mint-bench on SQLite, PostgreSQL, and 3 nodes"

setup:
	@bash scripts/setup.sh

# Outside tests nothing may unwrap or expect (workspace lints); test code
# may: a panic is how a test fails.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --lib --bins --examples -- -D warnings
	cargo clippy --workspace --tests --features mint-server/pg-tests,browser-e2e/pg-tests -- -D warnings $(TEST_LINTS)
	cargo clippy -p ecash-core -p ecash-http -p wallet-wasm -p web-ui --target wasm32-unknown-unknown --lib --bins -- -D warnings
	cargo clippy -p ecash-core -p ecash-http -p wallet-wasm -p web-ui --target wasm32-unknown-unknown --tests -- -D warnings $(TEST_LINTS)

# Everything native: unit tests and contract suites, the mint binary's
# suites (flows, refusals, the audit's findings, crash under load with 20
# kills, 64 concurrent clients), the merchant's, the wallet core against a
# real bank and shop (every operation, a death at every step), fuzz seeds and
# saved crash inputs replayed. The cross-crate tests (browser, fault proxy,
# logs) run in test-e2e. A throwaway PostgreSQL cluster runs beside them
# (scripts/with-postgres.sh installs PostgreSQL when missing): the storage
# contract, the flows, the crash test and a database restart run on it too.
test-native:
	# Each server crate has tests of its own binary, so cargo builds every
	# binary the test kit starts for other crates' tests.
	bash scripts/with-postgres.sh cargo test --workspace --exclude browser-e2e --features mint-server/pg-tests

# Across crates, against the real mint-server binary: the web wallet in
# headless Chromium (tests/browser.rs; a hostile shop, tests/hostile_shop.rs), two wallets
# through a fault proxy (tests/faults.rs, 20 s), and the mint's log after
# every operation (tests/privacy.rs), and three mint nodes on PostgreSQL
# behind nginx (tests/cluster.rs, beside a throwaway cluster), and the wallet
# pinning a certifier (tests/netcash.rs).
test-e2e:
	trunk build --release
	cargo build -p mint-server -p merchant -p mint-bench -p certifier
	bash scripts/with-postgres.sh cargo test -p browser-e2e --features pg-tests -- --nocapture --test-threads=1

# wasm tests in headless Chromium (webdriver.json in each crate sets the flags
# Chromium needs as root and offline); the script starts and stops the mint
# the wallet's browser tests talk to.
test-wasm:
	@bash scripts/test-wasm.sh

# Benchmarks are not tests: this only proves mint-bench still runs end to end.
bench-smoke:
	cargo build -p mint-server -p mint-bench -p certifier
	RUST_LOG=warn ./target/debug/mint-bench --seconds 1 --payments 48 --clients 2 --raw-seconds 0.3 > /dev/null
	RUST_LOG=warn ./target/debug/mint-bench --setup clearing --seconds 1 --payments 40 --clients 2 --raw-seconds 0.3 > /dev/null
	RUST_LOG=warn ./target/debug/mint-bench --setup offline --offline-coins 2 --raw-seconds 0.1 > /dev/null

# Each fuzz target for a few seconds under AFL++ (the long run is make fuzz).
fuzz-smoke:
	@bash scripts/fuzz.sh smoke $${FUZZ_SMOKE_SECS:-3}

# The long runs.
fuzz:
	@bash scripts/fuzz.sh execs $${FUZZ_EXECS:-1000000}

crash:
	CRASH_KILLS=$${CRASH_KILLS:-200} cargo test -p mint-server --test crash -- --nocapture

faults:
	cargo build -p mint-server -p merchant
	FAULT_SECS=$${FAULT_SECS:-300} cargo test -p browser-e2e --test faults -- --nocapture

# The load generator on a release build (figures in README.md, "Performance").
bench:
	cargo build --release -p mint-server -p mint-bench -p certifier
	RUST_LOG=warn ./target/release/mint-bench --setup sqlite,clearing,offline

test: setup lint test-native test-wasm test-e2e bench-smoke fuzz-smoke
	@echo "all tests passed"

build:
	cargo build --release -p mint-server -p merchant

run: setup build
	@bash scripts/run.sh

# One mint as three nodes on PostgreSQL behind nginx (a throwaway database
# unless MINT_DATABASE_URL is set), the demo shop banking through nginx.
run-cluster: setup build
	@bash scripts/run-cluster.sh

# The database's own write rate for a deposit's inserts (pgbench).
pgbench:
	bash scripts/with-postgres.sh bash scripts/pgbench-spent.sh

# mint-bench on a mint on SQLite, one on PostgreSQL and three nodes of one
# mint on PostgreSQL, in one run (figures in SCALING.md).
bench-scaling: pgbench
	cargo build --release -p mint-server -p mint-bench
	RUST_LOG=warn bash scripts/with-postgres.sh ./target/release/mint-bench --setup sqlite,postgres,postgres-3
