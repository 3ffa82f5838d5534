#!/usr/bin/env bash
# The cost of keys (docs/PERFORMANCE.md): one `stepwise bench` run against a fresh
# embedded-store server, with keys required or not.
#
#   scripts/bench-auth.sh on|off BENCH-ARGS...
#
# `on` starts the server with --admin-credentials (an admin key made here) and the bench
# and its workers present it on every call; the server's log, audit records included,
# goes to /tmp/stepwise-bench-auth.log as a deployment's would go to a file. STEPWISE_BIN
# is the directory holding stepwise-server and stepwise (default: target/release). The
# server listens on 127.0.0.1:17940-17941.
set -euo pipefail
bin="${STEPWISE_BIN:-target/release}"
mode="${1:?on|off BENCH-ARGS...}"
shift
dir="$(mktemp -d "${TMPDIR:-/tmp}/stepwise-bench-auth.XXXXXX")"
pid=""
finish() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap finish EXIT

server_args=(--data-dir "$dir/data" --grpc-addr 127.0.0.1:17940 --http-addr 127.0.0.1:17941)
key_args=()
case "$mode" in
  on)
    secret="$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    printf '[default]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = %s\n' "$secret" >"$dir/admin.ini"
    server_args+=(--admin-credentials "$dir/admin.ini")
    key_args=(--key "AKIDBENCH:$secret")
    ;;
  off) ;;
  *) echo "bench-auth: the mode is on or off, not '$mode'" >&2; exit 2 ;;
esac
"$bin/stepwise-server" "${server_args[@]}" >/tmp/stepwise-bench-auth.log 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -sf http://127.0.0.1:17941/health >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/stepwise" --endpoint http://127.0.0.1:17940 "${key_args[@]}" bench --server-pid "$pid" "$@"
