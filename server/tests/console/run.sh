#!/usr/bin/env bash
# Runs the console's browser tests: installs Debian's chromium (if missing) and
# playwright-core (pinned in package-lock.json), builds the server and worker binaries
# if needed, then drives them. Usage: server/tests/console/run.sh [CARGO_TARGET_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-${CARGO_TARGET_DIR:-$here/../../../target}}"
if ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
# The binaries as `cargo test --workspace` builds them (same features: nothing rebuilt
# after the test run).
cargo test --workspace --no-run --quiet
node "$here/e2e.mjs" "$target/debug/stepwise-server" "$target/debug/stepwise-worker" "$target/console-e2e"
