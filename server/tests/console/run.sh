#!/usr/bin/env bash
# Runs the console's browser tests: installs Chromium if it is missing
# (scripts/prerequisites.sh) and playwright-core (pinned in package-lock.json), builds the
# server and worker binaries if needed, then drives them in headless Chromium.
# Usage: server/tests/console/run.sh [CARGO_TARGET_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${1:-${CARGO_TARGET_DIR:-$root/target}}"
"$root/scripts/prerequisites.sh"
if [ -z "${CHROMIUM:-}" ]; then
  CHROMIUM="$(command -v chromium || command -v chromium-browser)"
  export CHROMIUM
fi
echo "console: installing playwright-core (npm ci, pinned)"
npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
# The binaries as `cargo test --workspace` builds them (same features: nothing is rebuilt
# after the test run; from scratch this builds the workspace first).
echo "console: building the server and worker binaries (nothing to do after cargo test)"
(cd "$root" && CARGO_TARGET_DIR="$target" cargo test --workspace --no-run)
echo "console: driving $CHROMIUM against them"
node "$here/e2e.mjs" "$target/debug/stepwise-server" "$target/debug/stepwise-worker" "$target/console-e2e"
