#!/usr/bin/env sh
# "Unit test update_db": write a record to a scratch file and read it back.
set -eu
db="$(mktemp)"
trap 'rm -f "$db"' EXIT
echo "order-1 paid" >> "$db"
grep -q "order-1 paid" "$db" || { echo "the record was not stored" >&2; exit 1; }
echo '{"update_db": "passed"}'
