#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster, and removes the
# cluster however the command ends:
#   scripts/with-postgres.sh cargo test ...
# The command finds the server in ECASH_TEST_POSTGRES (key=value form, no
# dbname). Installs PostgreSQL from Debian when it is missing.
set -euo pipefail

log() { echo "[postgres] $*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

PG=$(pg_bin)
if [ -z "$PG" ] || [ ! -x "$PG/initdb" ]; then
  log "installing PostgreSQL (apt-get install postgresql)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  PG=$(pg_bin)
fi

# initdb refuses to run as root: the cluster belongs to the postgres user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

DIR=$(mktemp -d)
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  as_owner "$PG/pg_ctl" -D "$DIR/data" stop -m fast >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT

as_owner "$PG/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
# fsync stays on, as in production (tests/postgres_restart.rs restarts the
# server with -m immediate: a crash of the server, not of the machine).
as_owner "$PG/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
log "cluster on 127.0.0.1:$PORT ($("$PG/postgres" --version))"

export ECASH_TEST_POSTGRES="host=127.0.0.1 port=$PORT user=postgres"
export ECASH_TEST_POSTGRES_DIR="$DIR/data"
export ECASH_TEST_POSTGRES_BIN="$PG"
# Who owns the cluster (tests that restart it run pg_ctl as them).
if [ "$(id -u)" = 0 ]; then export ECASH_TEST_POSTGRES_OWNER=postgres; else export ECASH_TEST_POSTGRES_OWNER=""; fi
"$@"
