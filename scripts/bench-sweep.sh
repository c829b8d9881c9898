#!/usr/bin/env bash
# Benchmark of one sweep (issue 2): 55 targets with 5 dead, and 1,000 targets with 100 dead, in
# network namespaces made here (198.18.0.0/15 only). Prints wall time per sweep and false Fails.
# Needs root (namespaces). Usage: sudo scripts/bench-sweep.sh [CYCLES]   (default 5 sweeps each)
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-5}
[ "$(id -u)" = 0 ] || { echo "bench-sweep: needs root for network namespaces" >&2; exit 2; }
cargo build --release --quiet --bin vpnmon
bin=$PWD/target/release/vpnmon
id=bench$$
c=vmc-$id f=vmf-$id
work=$(mktemp -d)
cleanup() { ip netns del "$c" 2>/dev/null || true; ip netns del "$f" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$f"
ip -n "$c" link set lo up; ip -n "$f" link set lo up
ip -n "$c" link add "vc$$" type veth peer name "vf$$" netns "$f"
ip -n "$c" addr add 198.18.0.1/24 dev "vc$$"; ip -n "$f" addr add 198.18.0.2/24 dev "vf$$"
ip -n "$c" link set "vc$$" up; ip -n "$f" link set "vf$$" up
# The facility answers for all of 198.18.16.0/20 except 198.18.31.0/24, which drops every echo.
ip -n "$f" route add local 198.18.16.0/20 dev lo
ip -n "$c" route add 198.18.16.0/20 via 198.18.0.2
printf 'table inet bench {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip daddr 198.18.31.0/24 icmp type echo-request drop\n }\n}\n' > "$work/rules.nft"
ip netns exec "$f" nft -f "$work/rules.nft"

run() { # $1 = targets, $2 = dead, $3 = "raw" (root) or "dgram" (unprivileged ping socket)
  local n=$1 dead=$2 mode=$3 t=$work/t$1.csv d=$work/d$1-$3.csv i
  local -a as=()
  [ "$mode" = dgram ] && as=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  : > "$t"
  for ((i = 0; i < dead; i++)); do echo "198.18.31.$((i + 1)),dead $i" >> "$t"; done
  for ((i = 0; i < n - dead; i++)); do echo "198.18.$((16 + i / 250)).$((1 + i % 250)),live $i" >> "$t"; done
  ip netns exec "$c" "${as[@]}" "$bin" --vpnclient none --targets "$t" --datalog "$d" --cycles "$cycles" --delay 0 --quiet > "$work/out$1$3.txt"
  local times false
  times=$(grep -o 'took [0-9.]* s' "$work/out$1$3.txt" | awk '{print $2}' | paste -sd' ')
  false=$(awk -F, '$5 != "Good" && $6 !~ /^198\.18\.31\./' "$d" | wc -l)
  local missed
  missed=$(awk -F, '$5 != "Fail" && $6 ~ /^198\.18\.31\./' "$d" | wc -l)
  echo "[$mode socket] sweep of $n targets ($dead dead, 2 echoes each, 1 s timeout): wall time per sweep [s]: $times; false Fails: $false; dead hosts not Fail: $missed"
}
# As root vpnmon uses a raw ICMP socket; an unprivileged user gets an ICMP datagram socket with the
# default receive buffer limit (rmem_max), which is where replies used to be dropped.
ip netns exec "$c" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
chmod 755 "$bin" && chmod 777 "$work"
run 55 5 raw
run 1000 100 raw
run 55 5 dgram
run 1000 100 dgram
