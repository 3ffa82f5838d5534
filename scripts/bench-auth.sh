#!/usr/bin/env bash
# The cost of keys and TLS (docs/PERFORMANCE.md): one `stepwise bench` run against a
# fresh embedded-store server, with keys required or not, over TLS or not.
#
#   scripts/bench-auth.sh on|off|tls BENCH-ARGS...
#
# `on` starts the server with --admin-credentials (an admin key made here) and the bench
# and its workers present it on every call; `tls` does the same over TLS (a P-256
# certificate made here with openssl, trusted by the bench with --ca-cert). The server's
# log, audit records included, goes to /tmp/stepwise-bench-auth.log as a deployment's
# would go to a file. STEPWISE_BIN
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
scheme=http
case "$mode" in
  on | tls)
    secret="$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    printf '[default]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = %s\n' "$secret" >"$dir/admin.ini"
    server_args+=(--admin-credentials "$dir/admin.ini")
    key_args=(--key "AKIDBENCH:$secret")
    ;;
  off) ;;
  *) echo "bench-auth: the mode is on, off or tls, not '$mode'" >&2; exit 2 ;;
esac
if [ "$mode" = tls ]; then
  # A CA and a certificate it signs (a self-signed certificate is a CA's, which TLS
  # clients refuse as a server's own).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=stepwise-bench-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=stepwise-bench -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/cert.ext"
  openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 1 -extfile "$dir/cert.ext" -out "$dir/cert.pem" 2>/dev/null
  server_args+=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")
  key_args+=(--ca-cert "$dir/ca.pem")
  scheme=https
fi
"$bin/stepwise-server" "${server_args[@]}" >/tmp/stepwise-bench-auth.log 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -sfk "$scheme://127.0.0.1:17941/health" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/stepwise" --endpoint "$scheme://127.0.0.1:17940" "${key_args[@]}" bench --server-pid "$pid" "$@"
