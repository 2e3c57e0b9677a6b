# Browser e-cash: two commands do everything on a fresh machine.
#   make run   - build the wallet, start the mint (SQLite) and the demo shop, print the URL
#   make test  - install what the tests need, then run every test
SHELL := /bin/bash
.DEFAULT_GOAL := help

CHROMEDRIVER ?= $(shell command -v chromedriver 2>/dev/null)
export CHROMEDRIVER

.PHONY: help setup test test-native test-wasm test-e2e bench-smoke lint run build bench

help:
	@echo "make run    build and start the mint + demo shop, print the URL"
	@echo "make test   install test tools (idempotent), then run every test"
	@echo "make setup  only install the toolchain (wasm target, wasm-bindgen, trunk, wasm-pack, chromium)"
	@echo "make lint   cargo fmt --check and clippy -D warnings"

setup:
	@bash scripts/setup.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p ecash-core -p wallet-wasm -p web-ui --target wasm32-unknown-unknown --all-targets -- -D warnings

test-native:
	cargo test --workspace --exclude browser-e2e

# The web wallet end to end: build it with Trunk, then drive real headless
# Chromium through chromedriver against the real mint-server (tests/browser.rs).
test-e2e:
	trunk build --release
	cargo build -p mint-server
	cargo test -p browser-e2e -- --nocapture

# wasm tests in headless Chromium (webdriver.json in each crate sets the flags
# Chromium needs as root and offline); the script starts and stops the mint
# the wallet's browser tests talk to.
test-wasm:
	@bash scripts/test-wasm.sh

# Benchmarks are not tests: this only proves mint-bench still runs end to end.
bench-smoke:
	cargo build -p mint-server --bins
	./target/debug/mint-bench --seconds 1 --payments 48 --clients 2 --raw-seconds 0.3 > /dev/null

# The load generator on a release build (figures in README.md, "Performance").
bench:
	cargo build --release -p mint-server --bins
	./target/release/mint-bench

test: setup lint test-native test-wasm test-e2e bench-smoke
	@echo "all tests passed"

build:
	cargo build --release -p mint-server

run: setup build
	@bash scripts/run.sh
