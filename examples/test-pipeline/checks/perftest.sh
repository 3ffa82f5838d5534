#!/usr/bin/env sh
# "Performance test": time a small workload and report it.
set -eu
start=$(date +%s%N)
i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done
end=$(date +%s%N)
echo "{\"perftest\": \"done\", \"elapsed_ms\": $(( (end - start) / 1000000 ))}"
