#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite: a new data directory, a free
# loopback port, trust authentication for the `stepwise` role on loopback only, fsync
# and synchronous_commit on (PostgreSQL's defaults: what Stepwise is measured with).
#
#   scripts/postgres.sh start DIR   initdb in DIR, start it, print its URL
#                                   (postgres://stepwise@127.0.0.1:PORT/postgres)
#   scripts/postgres.sh stop DIR    stop it and delete DIR
#
# PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the
# unprivileged `postgres` user that Debian's package creates. The server binaries are
# looked for on PATH, then in /usr/lib/postgresql/*/bin (Debian's place).
set -euo pipefail
command="${1:-}"
dir="${2:-}"
if [ -z "$command" ] || [ -z "$dir" ]; then
  echo "usage: scripts/postgres.sh start|stop DIR" >&2
  exit 2
fi

# Nothing was started (or it is gone): nothing to stop, whatever is installed.
if [ "$command" = stop ] && [ ! -d "$dir/data" ]; then
  rm -rf "$dir"
  exit 0
fi

bin=""
if command -v initdb >/dev/null; then
  bin="$(dirname "$(command -v initdb)")"
else
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "postgres: no PostgreSQL server here (initdb, pg_ctl); scripts/prerequisites.sh installs Debian's postgresql" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    # From /: the owner need not be able to read the caller's directory.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

case "$command" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$dir/data" -U stepwise --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on -c synchronous_commit=on" >/dev/null ||
      { cat "$dir/data/server.log" >&2; exit 1; }
    echo "postgres://stepwise@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
