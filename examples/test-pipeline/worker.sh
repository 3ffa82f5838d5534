#!/usr/bin/env sh
# Serves the five functions of examples/test-pipeline.asl.json with real commands, so the
# workflow runs a project's checks as three parallel branches. Each command gets the task
# input as JSON on stdin; a non-zero exit fails the task (Exec.ExitCode) and, with it,
# the Parallel state and the whole execution.
#
# Usage: examples/test-pipeline/worker.sh   (from the repository root, server running)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
# Built in the open: the first release build takes minutes, and tasks sit "Scheduled"
# until the worker polls, so say what is happening meanwhile.
echo "worker.sh: building stepwise-worker (release; the first build takes a few minutes)" >&2
cargo build --release -p stepwise-worker --manifest-path "$root/Cargo.toml"
echo "worker.sh: serving the pipeline's five functions; stop with Ctrl-C" >&2
exec "$target/release/stepwise-worker" \
  --concurrency 4 \
  --exec AMIS_unittest_test_accept="$here/checks/accept.sh $root" \
  --exec AMIS_unittest_test_decrypt="$here/checks/decrypt.sh $root" \
  --exec AMIS_unittest_test_update_db="$here/checks/update_db.sh $root" \
  --exec AMIS_perftest_test="$here/checks/perftest.sh $root" \
  --exec AMIS_perftest_get_stats="$here/checks/get_stats.sh $root"
