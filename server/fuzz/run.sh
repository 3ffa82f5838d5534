#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time: `server/fuzz/run.sh [SECONDS]` (60 by
# default). Installs cargo-fuzz through cargo if it is missing. The toolchain here is
# stable; RUSTC_BOOTSTRAP lets it take the sanitizer flags cargo-fuzz passes. A crash
# leaves its input in server/fuzz/artifacts/ and fails the run: copy it into
# server/fuzz/regressions/<target>/ so `cargo test` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# Inside the build directory (its own subfolder: the sanitizer flags differ), so one
# `cargo clean` removes everything the suite built.
export CARGO_TARGET_DIR="${STEPWISE_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/../target}/fuzz}"
mkdir -p fuzz/artifacts
for target in definition expression deep; do
  corpus="$(mktemp -d)"
  log="$corpus.log"
  status=0
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/artifacts/$target-" >"$log" 2>&1 || status=$?
  # libFuzzer's closing lines: executions run, and any crash with its input.
  grep -E "^(#[0-9]+ +DONE|Done [0-9]+ runs|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)" "$log" || tail -n 20 "$log"
  rm -f "$log"
  rm -rf "$corpus"
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target failed (status $status); see fuzz/artifacts/" >&2
    exit "$status"
  fi
  echo "fuzz target $target: ran ${seconds}s without a crash"
done
