# Sourced by run.sh and run-cluster.sh: the servers they start (pids),
# stopped cleanly however the script ends, and the wait for each to get
# ready. Set TAG (the log prefix) and WORK (a directory removed at exit).
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for a server's ready file; fails if the server exits first.
wait_ready() { # wait_ready <file> <pid> <name>
  for _ in $(seq 1 600); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "[$TAG] $3 exited before it was ready" >&2; exit 1; }
    sleep 0.2
  done
  echo "[$TAG] $3 did not get ready" >&2
  exit 1
}
