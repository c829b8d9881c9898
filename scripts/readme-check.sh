#!/usr/bin/env bash
# Copy-pastes the README's set-up commands (the block after `<!-- readme-check:commands -->`) on a
# clean clone of this repository's HEAD, as root and then as an unprivileged user without ping
# permission (through scripts/test-as-user.sh), and checks that each succeeds: the first writes
# only ./vpnmon_datalog.csv (whole rows), `cargo test` reports no failure and every ignored test
# with its reason (scripts/check-test-summary.py).
#
# Run as root from the repository. With --apt, first runs the README's Debian/Ubuntu
# `apt-get install` line (the block after `<!-- readme-check:packages -->`, `sudo` dropped).
# The clone's target/debug starts as hard links to this repository's (cp -al: no second build of
# the dependencies; the clone's own crate is built anew at its path).
#
# Usage: scripts/readme-check.sh [--apt] [USER]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
apt=
[ "${1:-}" = "--apt" ] && { apt=1; shift; }
user=${1:-vpnmon-ci}
block() { # the indented lines after the marker $1, comments left out
  awk -v m="<!-- readme-check:$1 -->" '
    $0 == m { f = 1; next }
    f && /^    / { l = substr($0, 5); if (l !~ /^#/) print l; s = 1; next }
    f && s && NF { exit }' README.md
}
commands=$(block commands)
[ -n "$commands" ] || { echo "readme-check: no commands block in README.md" >&2; exit 1; }
echo "README commands:"; printf '  %s\n' "$commands"

if [ -n "$apt" ]; then
  packages=$(block packages | grep -m1 'apt-get install' | sed 's/^sudo //')
  echo "\$ $packages"
  DEBIAN_FRONTEND=noninteractive sh -c "$packages -qq" >/dev/null
fi

tmp=$(mktemp -d /var/tmp/vpnmon-readme.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
git clone -q "$repo" "$tmp/vpnmon"
cd "$tmp/vpnmon"
if [ -d "$repo/target/debug" ]; then
  mkdir target
  cp -al "$repo/target/debug" target/debug
fi
# tests/windows_wine.rs uses the repository's Windows release build of this same HEAD (.ci/run
# builds vpnmon.exe and the simulator first) instead of building it again in the clone (4-5
# minutes of release build for the clone's path).
if [ -f "$repo/target/x86_64-pc-windows-gnu/release/vpnmon.exe" ]; then
  export VPNMON_WINDOWS_BUILD="$repo/target/x86_64-pc-windows-gnu/release"
fi

check_first_run() { # what the first command leaves: ./vpnmon_datalog.csv and nothing else
  local left
  # After the user phase the clone is the user's: root's git would refuse it as "dubious".
  left=$(git -c safe.directory="$PWD" status --porcelain --ignored | grep -v '^!! target/$' || true)
  if [ "$left" != "!! vpnmon_datalog.csv" ]; then
    echo "readme-check: the first command left: $left" >&2
    return 1
  fi
  if ! [ -s vpnmon_datalog.csv ] || grep -qv '^[0-9]*,[0-9/]*,[0-9:]*,[^,]*,\(Good\|Warn\|Fail\),' vpnmon_datalog.csv; then
    echo "readme-check: vpnmon_datalog.csv is empty or has a line that is not a row:" >&2
    cat vpnmon_datalog.csv >&2
    return 1
  fi
  echo "readme-check: the first command wrote $(wc -l <vpnmon_datalog.csv) rows to ./vpnmon_datalog.csv, nothing else"
}

echo "== as root"
n=0
while IFS= read -r c; do
  n=$((n + 1))
  echo "\$ $c"
  t0=$(date +%s)
  log="$tmp/root-$n.log"
  set +e
  bash -c "$c" </dev/null 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  echo "readme-check: exit $status in $(($(date +%s) - t0)) s"
  case "$c" in
    "cargo test"*) python3 scripts/check-test-summary.py "$log" "$status" ;;
    *) [ "$status" = 0 ] || exit 1 ;;
  esac
  [ "$n" = 1 ] && check_first_run
done <<<"$commands"

echo "== as $user (no ping socket, not root)"
rm -f vpnmon_datalog.csv
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
# The clean clone's files become the user's (target/ is copied for it by test-as-user.sh).
find . -path ./target -prune -o -exec chown "$user:" {} +
first=$(head -n1 <<<"$commands")
VPNMON_USER_COMMANDS=$commands scripts/test-as-user.sh "$user"
check_first_run
echo "readme-check: the README's commands work as root and as $user (first: $first)"
