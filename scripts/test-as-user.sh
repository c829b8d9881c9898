#!/usr/bin/env bash
# Runs `cargo test` as an unprivileged user on a machine where that user may not ping: the CI
# step of issue 18. Run it as root from the repository, after a root `cargo test` (whose built
# target/debug it reuses) and with crates already fetched (`cargo fetch`).
#
# - A user (default vpnmon-ci) is created with useradd if missing.
# - Its tests run in a network namespace of their own (unshare --net): only `lo`, which is brought
#   up, no route out, and net.ipv4.ping_group_range at the kernel default "1 0" there, so no ping
#   socket for anyone but root (the machine's own sysctl is not touched).
# - In a private mount namespace (unshare --mount), root's home, which other users cannot enter,
#   is covered by a tmpfs and the Rust toolchain (RUSTUP_HOME, CARGO_HOME) and, when it lives
#   there, the repository are bound back at the same paths, read-only; the user's own copy of
#   target/debug (cp -a keeps the mtimes: cargo rebuilds nothing) is bound at target/.
#   Nothing outside the namespaces changes.
# - The output is checked: every test binary's summary has no failure, and every ignored test
#   says why (`ignored (reason)`). Prints the totals.
#
# Usage: scripts/test-as-user.sh [USER] [-- extra cargo test arguments]
# VPNMON_USER_COMMANDS="line\nline" runs those shell lines as the user instead of `cargo test`
# (scripts/readme-check.sh: the README's commands), each of which must succeed.
# VPNMON_PING_GROUP_RANGE="0 2147483647" opens ping sockets in the test namespace (trials only).
# VPNMON_HIDE_PROGRAMS="/usr/bin/ping" hides programs from the tests (e.g. to see what is ignored
# without the ping fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
user=${1:-vpnmon-ci}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ "$(id -u)" != 0 ]; then
  echo "test-as-user.sh: run me as root (I create the user and the namespaces)" >&2
  exit 2
fi
rustup_home=$(readlink -f "${RUSTUP_HOME:-$HOME/.rustup}")
cargo_home=$(readlink -f "${CARGO_HOME:-$HOME/.cargo}")
cargo_bin=$(readlink -f "$(command -v cargo)")
cargo_bin_dir=$(dirname "$cargo_bin")
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$(getent passwd "$user" | cut -d: -f6)

if [ ! -d target/debug ]; then
  echo "test-as-user.sh: no target/debug; run cargo test as root first" >&2
  exit 2
fi
work=$(mktemp -d /var/tmp/vpnmon-user-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
t0=$(date +%s)
mkdir "$work/target"
cp -a target/debug "$work/target/debug"
mkdir "$work/target/tmp" # CARGO_TARGET_TMPDIR
chown -R "$uid:$gid" "$work/target"
echo "copied target/debug for $user in $(($(date +%s) - t0)) s"
log="$work/test.log"
: >"$log"
chown "$uid:$gid" "$log"

# Inside the namespaces (as root until setpriv): lo up, toolchain and repository shown, tests run.
inner=$(cat <<'EOF'
set -eu
ip link set lo up
# VPNMON_PING_GROUP_RANGE opens ping sockets in this namespace only (its own sysctl), for trials.
if [ -n "${VPNMON_PING_GROUP_RANGE:-}" ]; then
  echo "$VPNMON_PING_GROUP_RANGE" >/proc/sys/net/ipv4/ping_group_range
fi
echo "ping_group_range in the test namespace: $(cat /proc/sys/net/ipv4/ping_group_range)"
# Paths under a directory the user cannot enter (root's home) are bound back below a tmpfs.
stash=$(mktemp -d /run/vpnmon-stash.XXXXXX)
n=0
for p in "$RUSTUP_HOME_" "$CARGO_HOME_" "$CARGO_BIN_DIR_" "$REPO_"; do
  n=$((n + 1))
  mkdir "$stash/$n"
  mount --bind "$p" "$stash/$n"
done
mount -t tmpfs -o mode=755 vpnmon-ci "$HOME_ROOT_"
n=0
for p in "$RUSTUP_HOME_" "$CARGO_HOME_" "$CARGO_BIN_DIR_" "$REPO_"; do
  n=$((n + 1))
  mkdir -p "$p"
  mount --bind "$stash/$n" "$p"
  # The toolchain read-only; the repository as it is (the user writes where it owns files).
  [ "$p" = "$REPO_" ] || mount -o remount,bind,ro "$p"
done
# Programs to hide (VPNMON_HIDE_PROGRAMS="/usr/bin/ping ..."): covered by /dev/null, which is not
# an executable, so the tests that need them must say so.
for p in ${VPNMON_HIDE_PROGRAMS:-}; do
  mount --bind /dev/null "$p"
done
# The user's own copy of the target dir, where cargo looks for it.
mount --bind "$WORK_/target" "$REPO_/target"
cd "$REPO_"
exec setpriv --reuid="$UID_" --regid="$GID_" --clear-groups \
  env -i PATH="$CARGO_BIN_DIR_:/usr/local/bin:/usr/bin:/bin" HOME="$HOME_USER_" \
  RUSTUP_HOME="$RUSTUP_HOME_" CARGO_HOME="$CARGO_HOME_" CARGO_TERM_COLOR=never \
  RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN_:-}" CARGO_NET_OFFLINE=true \
  VPNMON_USER_COMMANDS="${VPNMON_USER_COMMANDS:-}" \
  sh -c 'id
    if [ -n "$VPNMON_USER_COMMANDS" ]; then
      printf "%s\n" "$VPNMON_USER_COMMANDS" | while IFS= read -r c; do
        echo "\$ $c"; sh -c "set -e; $c" </dev/null 2>&1 || exit $?
      done
    else
      cargo test --offline --locked --no-fail-fast "$@" 2>&1
    fi' sh "$@"
EOF
)
t0=$(date +%s)
set +e
RUSTUP_HOME_=$rustup_home CARGO_HOME_=$cargo_home CARGO_BIN_DIR_=$cargo_bin_dir REPO_=$repo \
  VPNMON_HIDE_PROGRAMS=${VPNMON_HIDE_PROGRAMS:-} VPNMON_PING_GROUP_RANGE=${VPNMON_PING_GROUP_RANGE:-} \
  VPNMON_USER_COMMANDS=${VPNMON_USER_COMMANDS:-} HOME_ROOT_=$(readlink -f ~root) HOME_USER_=$home UID_=$uid GID_=$gid WORK_=$work \
  RUSTUP_TOOLCHAIN_=$(rustup show active-toolchain 2>/dev/null | cut -d' ' -f1) \
  unshare --mount --propagation private --net sh -c "$inner" sh "$@" | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "cargo test as $user: exit $status in $(($(date +%s) - t0)) s"

# The check of the summary.
if [ -z "${VPNMON_USER_COMMANDS:-}" ] || grep -q '^test result:' "$log"; then
  python3 "$repo/scripts/check-test-summary.py" "$log" "$status"
else
  exit "$status"
fi
