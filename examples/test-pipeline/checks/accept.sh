#!/usr/bin/env sh
# "Unit test accept": the workflow definitions in examples/ are valid JSON.
set -eu
for f in "$1"/examples/*.asl.json; do
  python3 -m json.tool "$f" > /dev/null || { echo "$f is not valid JSON" >&2; exit 1; }
done
echo '{"accept": "passed"}'
