#!/usr/bin/env bash
# Installs, with apt-get on Debian or Ubuntu, what the test suite needs beyond Rust and
# is missing here: git, Python 3 with venv, Node.js with npm, Chromium, and PostgreSQL
# (its server, for the suites that run on a throwaway cluster: scripts/postgres.sh). Says what it
# installs and how much before it starts, then shows the progress. Installs nothing when
# all is present (a Node.js or Python from elsewhere is kept, not replaced).
#
#   scripts/prerequisites.sh           install what is missing (as root, or through sudo)
#   scripts/prerequisites.sh --check   only report; exit 1 if anything is missing
set -euo pipefail
check_only=""
[ "${1:-}" = "--check" ] && check_only=1

packages=()
command -v git >/dev/null || packages+=(git)
command -v python3 >/dev/null || packages+=(python3)
# Debian's and Ubuntu's python3 leave venv's pip bootstrap to a package of its own.
python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  packages+=(postgresql)
fi
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  packages+=(chromium)
fi

if ! command -v cargo >/dev/null; then
  echo "Rust is missing: install it with rustup (https://rustup.rs):" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
if [ ${#packages[@]} -eq 0 ]; then
  echo "prerequisites: all present (git, python3 with venv, node, npm, chromium, postgresql)"
  exit 0
fi
if [ -n "$check_only" ]; then
  echo "prerequisites: missing ${packages[*]}; install with:" >&2
  echo "  sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "prerequisites: missing ${packages[*]}, and this is not a Debian or Ubuntu system:" >&2
  echo "install them with your package manager (Chromium's binary may be named by CHROMIUM=...)." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "prerequisites: missing ${packages[*]}; run as root: apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

echo "prerequisites: missing ${packages[*]}"
echo "prerequisites: refreshing the package lists (apt-get update)"
$sudo apt-get update -q | grep -v '^\(Hit\|Get\|Ign\):' || true
# Ubuntu ships Chromium as the chromium-browser package (a snap underneath).
for i in "${!packages[@]}"; do
  if [ "${packages[$i]}" = chromium ] && ! apt-cache show chromium >/dev/null 2>&1; then
    packages[$i]=chromium-browser
  fi
done
plan="$($sudo apt-get install --assume-no "${packages[@]}" 2>/dev/null || true)"
# "N upgraded, M newly installed": both are downloaded and set up.
count="$(printf '%s\n' "$plan" | sed -n 's/^\([0-9]\+\) upgraded, \([0-9]\+\) newly installed.*/\1 \2/p' | awk '{ print $1 + $2 }')"
size="$(printf '%s\n' "$plan" | sed -n 's/^Need to get \(.*\) of archives.*/\1/p')"
echo "prerequisites: installing ${packages[*]}: ${count:-?} packages, ${size:-an unknown amount} to download (a few minutes)"
# apt's own lines, thinned to one every tenth of the way, so the run shows progress
# without a screenful per package; errors and warnings pass through.
set +e
$sudo apt-get install -y -q -o Dpkg::Use-Pty=0 "${packages[@]}" 2>&1 | awk -v total="${count:-0}" '
  function every(n) { return total > 0 ? n <= total && (n % int((total + 9) / 10) == 0 || n == total) : (n % 10 == 0) }
  /^Get:/          { got++; if (every(got)) printf "  downloaded %d of %s\n", got, total; next }
  /^Unpacking /    { unpacked++; if (every(unpacked)) printf "  unpacked %d of %s\n", unpacked, total; next }
  /^Setting up /   { set++; if (every(set)) printf "  set up %d of %s (%s)\n", set, total, $3; next }
  /^(E|W):|^dpkg:|rror/ { print; next }
'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "prerequisites: apt-get install ${packages[*]} failed (exit $status)" >&2
  exit "$status"
fi
echo "prerequisites: installed ${packages[*]}"
