#!/usr/bin/env sh
# "Unit test decrypt": a round trip through base64 gives back the input.
set -eu
input="$(cat)"
decoded="$(printf '%s' "$input" | base64 | base64 -d)"
[ "$decoded" = "$input" ] || { echo "base64 round trip changed the input" >&2; exit 1; }
echo '{"decrypt": "passed"}'
