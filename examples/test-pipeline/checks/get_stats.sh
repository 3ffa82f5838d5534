#!/usr/bin/env sh
# "Get statistics": summarise what the performance test reported (its output is the input).
set -eu
input="$(cat)"
echo "{\"stats\": $input}"
