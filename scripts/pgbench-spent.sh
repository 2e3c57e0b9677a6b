#!/usr/bin/env bash
# The database's write rate for what a deposit writes, measured with
# pgbench on the throwaway cluster (run under scripts/with-postgres.sh; make
# pgbench does): transactions that insert 8 coins each into a spent set
# partitioned by key (17 partitions, as 17 denominations), fsync on, for
# PGBENCH_SECS (10) with 8 clients; and pgbench's own TPC-B-like run as the
# reference. Prints coins per second.
set -euo pipefail
: "${ECASH_TEST_POSTGRES:?run under scripts/with-postgres.sh}"
BIN="$ECASH_TEST_POSTGRES_BIN"
SECS="${PGBENCH_SECS:-10}"
CONN="$ECASH_TEST_POSTGRES dbname=bench"
"$BIN/psql" "$ECASH_TEST_POSTGRES dbname=postgres" -q -c "CREATE DATABASE bench"
"$BIN/psql" "$CONN" -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE spent_coins (
    key_id BYTEA NOT NULL, serial BYTEA NOT NULL,
    spent_at BIGINT NOT NULL, spent_in BYTEA NOT NULL,
    PRIMARY KEY (key_id, serial)
) PARTITION BY LIST (key_id);
DO $$ BEGIN
  FOR k IN 1..17 LOOP
    EXECUTE format('CREATE TABLE spent_coins_%s PARTITION OF spent_coins FOR VALUES IN (%L::bytea)',
                   k, sha256(k::text::bytea));
  END LOOP;
END $$;
SQL
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat > "$script" <<'SQL'
\set k random(1, 17)
INSERT INTO spent_coins (key_id, serial, spent_at, spent_in)
  SELECT sha256(:k::text::bytea), sha256((random()::text || clock_timestamp()::text || g)::bytea), 0, '\x00'
  FROM generate_series(1, 8) AS g ON CONFLICT DO NOTHING;
SQL
tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }
q() { "$BIN/psql" "$CONN" -Atq -c "$1"; }
lsn0=$(q "SELECT pg_current_wal_lsn()")
spent=$("$BIN/pgbench" "$CONN" -n -c 8 -j 2 -T "$SECS" -f "$script" 2>/dev/null | tps)
wal=$(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
coins=$(q "SELECT count(*) FROM spent_coins")
bytes=$(q "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'spent_coins'::regclass")
"$BIN/pgbench" "$CONN" -q -i -s 8 >/dev/null 2>&1
tpcb=$("$BIN/pgbench" "$CONN" -n -c 8 -j 2 -T "$SECS" 2>/dev/null | tps)
python3 - "$spent" "$tpcb" "$SECS" "$wal" "$coins" "$bytes" <<'PY'
import json, sys
spent, tpcb, secs, wal, coins, size = map(float, sys.argv[1:7])
print(json.dumps({
    "seconds": int(secs), "clients": 8,
    "spent_set_8_coin_transactions_per_s": round(spent),
    "spent_set_coins_per_s": round(spent * 8),
    "wal_bytes_per_coin": round(wal / max(coins, 1)),
    "table_and_index_bytes_per_coin": round(size / max(coins, 1)),
    "coins_stored": int(coins),
    "tpcb_transactions_per_s": round(tpcb),
}, indent=2))
PY
