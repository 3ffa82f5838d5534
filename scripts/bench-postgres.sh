#!/usr/bin/env bash
# The PostgreSQL figures of docs/PERFORMANCE.md: `stepwise bench` against one node or
# three, each run on a fresh database, and the failover time of three nodes.
#
#   scripts/bench-postgres.sh run NODES BENCH-ARGS...   NODES (1 or 3) on a new database,
#                                                       the bench against the first one
#   scripts/bench-postgres.sh failover [LEASE_SECONDS]  three idle nodes, kill -9 of the
#                                                       second: seconds until the other
#                                                       two serve every partition
#
# STEPWISE_BENCH_DATABASE_URL names a PostgreSQL the script may create and drop
# databases on (`scripts/postgres.sh start DIR` prints one); STEPWISE_BIN the directory
# holding stepwise-server and stepwise (default: target/release). Nodes listen on
# 127.0.0.1:17910-17931; their logs are left in /tmp/stepwise-bench-nN.log.
set -euo pipefail
base="${STEPWISE_BENCH_DATABASE_URL:?set STEPWISE_BENCH_DATABASE_URL to a PostgreSQL URL (scripts/postgres.sh start DIR prints one)}"
bin="${STEPWISE_BIN:-target/release}"
mode="${1:-}"
shift || true

db="bench_$$_$RANDOM"
psql "$base" -q -c "CREATE DATABASE $db" >/dev/null
url="${base%/*}/$db"
pids=()
finish() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$base" -q -c "DROP DATABASE IF EXISTS $db" >/dev/null
}
trap finish EXIT

# start_node N [SERVER-ARGS...]: node nN on ports 179N0 (gRPC) and 179N1 (HTTP).
start_node() {
  local n=$1
  shift
  "$bin/stepwise-server" --database-url "$url" --node-id "n$n" \
    --grpc-addr "127.0.0.1:179${n}0" --http-addr "127.0.0.1:179${n}1" "$@" \
    >"/tmp/stepwise-bench-n$n.log" 2>&1 &
  pids+=($!)
}

# served N...: the partitions each named node serves, from its /health.
served() {
  for n in "$@"; do
    curl -sf "http://127.0.0.1:179${n}1/health" 2>/dev/null | grep -oE "serving [0-9]+ of" | grep -oE "[0-9]+" || echo 0
  done
}

# settle N...: waits (up to 60 s) until the named nodes serve all 64 partitions between
# them, none fewer than a fair share less two.
settle() {
  local floor=$((64 / $# - 2))
  for _ in $(seq 300); do
    if served "$@" | awk -v floor="$floor" -v nodes="$#" \
      '{ sum += $1; if ($1 < floor) low = 1 } END { exit !(NR == nodes && sum == 64 && !low) }'; then
      return 0
    fi
    sleep 0.2
  done
  echo "bench-postgres: the nodes did not settle: $(served "$@" | tr '\n' ' ')" >&2
  return 1
}

case "$mode" in
  run)
    nodes="${1:?run NODES BENCH-ARGS...}"
    shift
    for n in $(seq "$nodes"); do start_node "$n"; done
    settle $(seq "$nodes")
    "$bin/stepwise" --endpoint http://127.0.0.1:17910 bench --server-pid "${pids[0]}" "$@"
    ;;
  failover)
    lease="${1:-10}"
    for n in 1 2 3; do start_node "$n" --lease-seconds "$lease"; done
    settle 1 2 3
    kill -9 "${pids[1]}"
    killed=$(date +%s.%N)
    for _ in $(seq 600); do
      if served 1 3 | awk '{ sum += $1 } END { exit !(sum == 64) }'; then
        awk -v from="$killed" -v to="$(date +%s.%N)" -v lease="$lease" \
          'BEGIN { printf "failover with %s s leases: %.1f s\n", lease, to - from }'
        exit 0
      fi
      sleep 0.1
    done
    echo "bench-postgres: n1 and n3 did not take every partition within 60 s" >&2
    exit 1
    ;;
  *)
    echo "usage: scripts/bench-postgres.sh run NODES BENCH-ARGS... | failover [LEASE_SECONDS]" >&2
    exit 2
    ;;
esac
