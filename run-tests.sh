#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing else):
#
#   1. prerequisites  what is missing of git, Python 3 with venv, Node.js, Chromium and
#                     PostgreSQL is installed with apt-get (scripts/prerequisites.sh);
#                     then a throwaway PostgreSQL cluster starts on a free loopback port
#                     (scripts/postgres.sh), stopped and deleted at the end whatever
#                     happened; its URL is in STEPWISE_TEST_DATABASE_URL
#   2. cargo tests    every crate's unit and integration tests (crash, fault, load and
#                     bad-input suites included; the PostgreSQL store's own tests on the
#                     cluster)
#   3. PostgreSQL     the suites that start servers, again with the server on the
#                     cluster (durable core, crash, faults, AWS API and SDK, Express,
#                     bad input, races, validation, console API, load, keys; each test's data
#                     directory gets a database of its own), leaving out the tests of
#                     the data directory itself
#   4. clone check    the unit tests again in a copy of the repository alone in an empty
#                     directory, so nothing can depend on files beside the checkout
#                     (built in $target/clone-check: a second build, minutes the first
#                     time)
#   5. boto3          the AWS-compatible API driven by boto3, from a virtual environment
#                     made here ($target/test-venv)
#   6. console        the web console in headless Chromium (server/tests/console/run.sh)
#   7. JSONata suite  the reference JSONata test suite against Stepwise's evaluator, only
#                     when STEPWISE_JSONATA_SUITE names its directory (.ci/run sets it
#                     when CI has one); it prints the pass count and fails below 99 %
#   8. fuzzing        only with STEPWISE_LONG=1, which also makes the crash and load
#                     suites bigger
#
# Builds go to the same directory as your own cargo commands: ./target, or
# $CARGO_TARGET_DIR when that is set. Ends with one line of totals.
set -euo pipefail
cd "$(dirname "$0")"
root="$PWD"
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target"
log="$(mktemp)"
postgres_dir="$(mktemp -d "${TMPDIR:-/tmp}/stepwise-postgres.XXXXXX")"
trap 'scripts/postgres.sh stop "$postgres_dir"; rm -f "$log"' EXIT

steps=6
[ -n "${STEPWISE_JSONATA_SUITE:-}" ] && steps=$((steps + 1))
[ -n "${STEPWISE_LONG:-}" ] && steps=$((steps + 1))
step=0
started=$SECONDS
step() {
  step=$((step + 1))
  printf '\n==> [%d/%d] %s (%s elapsed)\n' "$step" "$steps" "$1" "$(elapsed)"
}
elapsed() {
  local s=$((SECONDS - started))
  printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# The unit tests of the files a clone would have (tracked ones, and new ones not yet
# committed unless ignored), copied alone into an empty directory: a test that reads
# something beside the checkout (as the examples once were) fails here. It builds in a
# directory of its own: cargo does not rebuild when only CARGO_MANIFEST_DIR changes, so
# sharing ./target would run binaries that still read the checkout (and leave ./target's
# reading the copy). The copy's path is the same on every run and files keep their
# times, so after the first run only what changed is rebuilt.
clone_check() (
  set -e
  scratch="${TMPDIR:-/tmp}/stepwise-clone-check-$(printf %s "$root" | cksum | cut -d' ' -f1)"
  rm -rf "$scratch"
  mkdir -p "$scratch/stepwise"
  trap 'rm -rf "$scratch"' EXIT
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' file; do
      [ -e "$file" ] && printf '%s\0' "$file"
    done |
    xargs -0 cp -p --parents -t "$scratch/stepwise"
  echo "copied $(find "$scratch/stepwise" -type f | wc -l) files to $scratch/stepwise, alone in its directory"
  cd "$scratch/stepwise"
  # Without debug info: these binaries are only run (3m27s and 1.1 GB from scratch here,
  # against 4m02s and 2.2 GB with it).
  CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 CARGO_TARGET_DIR="$target/clone-check" \
    cargo test --workspace --lib --bins
)

# boto3 in a virtual environment of the suite's own, so a system Python that refuses
# `pip install` (Debian's and Ubuntu's, PEP 668) is never touched.
boto3_check() (
  set -e
  venv="$target/test-venv"
  requirements="$root/examples/aws/requirements.txt"
  if [ ! -x "$venv/bin/python" ]; then
    echo "making a Python virtual environment in $venv"
    python3 -m venv "$venv"
  fi
  if ! cmp -s "$requirements" "$venv/installed-requirements.txt"; then
    echo "installing $(tr '\n' ' ' <"$requirements")into it with pip"
    "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q -r "$requirements"
    cp "$requirements" "$venv/installed-requirements.txt"
  fi
  "$venv/bin/python" "$root/examples/aws/boto3_choice.py" "$target/debug/stepwise-server"
)

# A subshell with its own `set -e`, so the first failing step ends the run with its status.
run_all() (
  set -e
  step "prerequisites"
  scripts/prerequisites.sh
  STEPWISE_TEST_DATABASE_URL="$(scripts/postgres.sh start "$postgres_dir")"
  export STEPWISE_TEST_DATABASE_URL
  echo "a throwaway PostgreSQL for the suites: $STEPWISE_TEST_DATABASE_URL"
  step "cargo test --workspace (builds first: a few minutes from scratch)"
  cargo test --workspace
  step "the suites that start servers, again on PostgreSQL"
  # --workspace, not -p stepwise-server: the same features as step 2 (the other crates'
  # dev-dependencies turn on opentelemetry_sdk's "testing"), so its build is reused
  # instead of a second copy of every server test binary (4 minutes and 2.3 GB).
  STEPWISE_TEST_STORE=postgres cargo test --workspace \
    --test durable_core --test crash --test faults --test aws_api --test aws_sdk \
    --test express --test bad_input --test races --test grpc_validate \
    --test console_api --test load --test auth -- \
    --skip an_unusable_data_directory --skip a_second_server_on_the_same_directory \
    --skip a_disk_that_refuses --skip after_the_disk_fills
  step "unit tests in a copy of the repository alone"
  clone_check
  step "the AWS-compatible API through boto3"
  boto3_check
  step "the web console in headless Chromium"
  server/tests/console/run.sh "$target"
  if [ -n "${STEPWISE_JSONATA_SUITE:-}" ]; then
    step "the reference JSONata suite in $STEPWISE_JSONATA_SUITE"
    cargo run -q -p stepwise-server --example jsonata_suite -- "$STEPWISE_JSONATA_SUITE"
  else
    echo "(the reference JSONata suite is skipped: set STEPWISE_JSONATA_SUITE to its directory to run it)"
  fi
  if [ -n "${STEPWISE_LONG:-}" ]; then
    step "bounded fuzzing of the definition parser and expression evaluator"
    server/fuzz/run.sh "${STEPWISE_FUZZ_SECONDS:-60}"
  fi
)

set +e
run_all 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# cargo ends with the (empty) doc-test runs of the last crates; close with the totals.
awk -v took="$(elapsed)" -v status="$status" '
  /^test result:/ { passed += $4; failed += $6 }
  /^boto3 result:/ { passed += $3; failed += $5 }
  /^console result:/ { passed += $3; failed += $5 }
  END { printf "\ntests: %d passed, %d failed, in %s%s\n", passed, failed, took, status ? " (a step failed: see above)" : "" }' "$log"
exit "$status"
