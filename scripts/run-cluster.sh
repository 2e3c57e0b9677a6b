#!/usr/bin/env bash
# `make run-cluster`: one mint as three nodes on one PostgreSQL database,
# behind nginx (deploy/nginx-cluster.conf), each node serving the web
# wallet; the demo shop banks through nginx. The books live in a throwaway
# PostgreSQL cluster (scripts/with-postgres.sh) and vanish at exit, unless
# MINT_DATABASE_URL names a database of your own (then give
# MINT_KEY_ENCRYPTION_KEY_FILE too). Port 8090 (CLUSTER_PORT) for nginx,
# 8091 (SHOP_PORT) for the shop. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MINT_DATABASE_URL:-}" ] && [ -z "${ECASH_TEST_POSTGRES:-}" ]; then
  exec bash scripts/with-postgres.sh bash "$0" "$@"
fi

echo "[cluster] building the web wallet, the mint and the demo shop..."
trunk build --release
cargo build --release -p mint-server -p merchant

PORT="${CLUSTER_PORT:-8090}"
SHOP_PORT="${SHOP_PORT:-8091}"
LB_URL="http://127.0.0.1:${PORT}"
SHOP_URL="http://127.0.0.1:${SHOP_PORT}"
work=$(mktemp -d)
TAG=cluster WORK="$work"
source scripts/servers.sh

if [ -z "${MINT_DATABASE_URL:-}" ]; then
  db="cluster_$(date +%s)"
  "$ECASH_TEST_POSTGRES_BIN/psql" "$ECASH_TEST_POSTGRES dbname=postgres" -q -c "CREATE DATABASE $db"
  export MINT_DATABASE_URL="$ECASH_TEST_POSTGRES dbname=$db"
  (umask 077; head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n' > "$work/kek")
  export MINT_KEY_ENCRYPTION_KEY_FILE="$work/kek"
fi
: "${MINT_KEY_ENCRYPTION_KEY_FILE:?give the key-encryption key file that sealed the keys in that database}"

upstreams=""
for n in 1 2 3; do
  node_port=$((PORT + 10 + n))
  echo "[cluster] starting node $n on 127.0.0.1:${node_port}"
  ./target/release/mint-server --listen "127.0.0.1:${node_port}" --demo-faucet --web-dir dist \
    --data-dir "$work/node$n" --public-url "$LB_URL" --trusted-proxy 127.0.0.1 \
    --ready-file "$work/node$n.json" 2>>"$work/node$n.log" &
  pids+=($!)
  wait_ready "$work/node$n.json" "${pids[-1]}" "node $n"
  upstreams+="        server 127.0.0.1:${node_port} max_fails=1 fail_timeout=2s;"$'\n'
done
master=$(sed -n 's/.*"master_public_key": *"\([^"]*\)".*/\1/p' "$work/node1.json")

user=""; [ "$(id -u)" = 0 ] && user="user root;"$'\n'
conf="$work/nginx.conf"
python3 - "$work" "$PORT" "$upstreams" "$user" > "$conf" <<'PY'
import sys
work, port, upstreams, user = sys.argv[1:5]
t = open("deploy/nginx-cluster.conf").read()
print(t.replace("@USER@", user).replace("@PREFIX@", work)
       .replace("@UPSTREAMS@", upstreams.rstrip("\n")).replace("@LISTEN@", "127.0.0.1:" + port))
PY
echo "[cluster] starting nginx on ${LB_URL}"
/usr/sbin/nginx -p "$work" -c "$conf" &
pids+=($!)
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break
  sleep 0.1
done

echo "[cluster] starting the demo shop on ${SHOP_URL} (bank ${LB_URL})"
./target/release/merchant --listen "127.0.0.1:${SHOP_PORT}" --data-dir "$work/shop" \
  --bank-url "$LB_URL" --bank-master-key="$master" --wallet-url "$LB_URL" \
  --order-origin "$LB_URL" --ready-file "$work/shop.json" &
pids+=($!)
wait_ready "$work/shop.json" "${pids[-1]}" "the shop"

cat <<MSG
[cluster] one mint, three nodes, one database, behind nginx:
[cluster]   wallet:        ${LB_URL}/
[cluster]   shop:          ${SHOP_URL}/
[cluster]   key set:       ${LB_URL}/keys   (the same from every node)
[cluster]   load:          ./target/release/mint-bench --url ${LB_URL} --master-key=${master}
[cluster]   node logs:     ${work}/node{1,2,3}.log
[cluster] Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
