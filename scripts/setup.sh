#!/usr/bin/env bash
# Idempotent installer for everything the build and tests need.
# Skips each tool that is already present at the right version, so a warm
# machine pays nothing. Versions follow ../shared/TOOLCHAIN.md.
set -euo pipefail

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
WASM_PACK_VERSION=0.15.1
CARGO_AFL_VERSION=0.18.2

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

have_version() { # have_version <cmd> <version>
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"
}

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() { # apt_install <pkg>...
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    sudo_if_needed apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install chromium chromium-driver
fi

# The reverse proxy in front of several mint nodes (tests/cluster.rs, make
# run-cluster) runs with its own config as a child process: the package's
# own service is kept from starting while it installs (policy-rc.d 101).
if [ ! -x /usr/sbin/nginx ]; then
  no_start=/usr/sbin/policy-rc.d
  if [ ! -e "$no_start" ]; then
    printf '#!/bin/sh\nexit 101\n' | sudo_if_needed tee "$no_start" >/dev/null
    sudo_if_needed chmod +x "$no_start"
    apt_install nginx-light || apt_install nginx
    sudo_if_needed rm -f "$no_start"
  else
    apt_install nginx-light || apt_install nginx
  fi
fi

# The mint's fast signer links OpenSSL.
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl; then
  apt_install libssl-dev pkg-config
fi

if ! have_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # Not --locked: a locked dependency of this release is missing from the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! have_version wasm-pack "$WASM_PACK_VERSION"; then
  log "installing wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi

if [ "${SETUP_SKIP_TRUNK:-0}" != 1 ] && ! have_version trunk "$TRUNK_VERSION"; then
  log "installing trunk $TRUNK_VERSION (7-9 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --force
fi

# Coverage-guided fuzzing (scripts/fuzz.sh); its install builds the AFL++ runtime.
if ! command -v cargo-afl >/dev/null 2>&1 || ! cargo afl --version 2>/dev/null | grep -q "$CARGO_AFL_VERSION"; then
  log "installing cargo-afl $CARGO_AFL_VERSION (about a minute)"
  cargo install cargo-afl --version "$CARGO_AFL_VERSION" --force
fi

log "toolchain ready"
