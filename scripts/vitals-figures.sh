#!/usr/bin/env bash
# Figures of `vpnmon vitals` (issue 14), in network namespaces made here (198.18.0.0/15 only):
#  1. route traces of 100 hosts at once through a router (wall time; routes complete);
#  2. 1,000 hosts, pings only (4 echoes each, 100 of them dead), against `fping -C 4` on the
#     same hosts in the same run (wall time; hosts seen dead).
# Needs root (namespaces), fping. Usage: sudo scripts/vitals-figures.sh [BINARY]
# (default: target/release/vpnmon, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "vitals-figures: needs root for network namespaces" >&2; exit 2; }
command -v fping >/dev/null || { echo "vitals-figures: needs fping (apt-get install fping)" >&2; exit 2; }
bin=${1:-$PWD/target/release/vpnmon}
[ -x "$bin" ] || { cargo build --release --quiet --bin vpnmon; bin=$PWD/target/release/vpnmon; }
id=vf$$
c=vfc-$id r=vfr-$id f=vff-$id
work=$(mktemp -d)
cleanup() { for n in "$c" "$r" "$f"; do ip netns del "$n" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
for n in "$c" "$r" "$f"; do ip netns add "$n"; ip -n "$n" link set lo up; done
# client 198.18.0.1 ─ 198.18.0.2 router 198.18.5.1 ─ 198.18.5.2 facility (answers 198.18.16.0/20
# on its loopback, except 198.18.31.0/24 whose echoes and probes it drops).
ip -n "$c" link add "a$$" type veth peer name "b$$" netns "$r"
ip -n "$r" link add "c$$" type veth peer name "d$$" netns "$f"
ip -n "$c" addr add 198.18.0.1/24 dev "a$$"; ip -n "$r" addr add 198.18.0.2/24 dev "b$$"
ip -n "$r" addr add 198.18.5.1/24 dev "c$$"; ip -n "$f" addr add 198.18.5.2/24 dev "d$$"
ip -n "$c" link set "a$$" up; ip -n "$r" link set "b$$" up
ip -n "$r" link set "c$$" up; ip -n "$f" link set "d$$" up
ip -n "$c" route add 198.18.16.0/20 via 198.18.0.2
ip -n "$r" route add 198.18.16.0/20 via 198.18.5.2
ip -n "$f" route add default via 198.18.5.1
ip -n "$f" route add local 198.18.16.0/20 dev lo
ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
printf 'table inet figs {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip daddr 198.18.31.0/24 drop\n }\n}\n' > "$work/rules.nft"
ip netns exec "$f" nft -f "$work/rules.nft"

now() { date +%s.%N; }
hosts() { # $1 = live, $2 = dead
  local i
  for ((i = 0; i < $2; i++)); do echo "198.18.31.$((i + 1))"; done
  for ((i = 0; i < $1; i++)); do echo "198.18.$((16 + i / 250)).$((1 + i % 250))"; done
}

# 1. Traces of 100 hosts at once: first with the router's default ICMP rate limit (Linux sends
# a burst of about 6 "time exceeded" to one peer, then one per net.ipv4.icmp_ratelimit ms), then
# with it off inside the router's namespace.
mapfile -t h100 < <(hosts 100 0)
trace100() {
  local t0 t1
  t0=$(now)
  ip netns exec "$c" "$bin" vitals -P -t -H 8 "${h100[@]}" > "$work/trace.txt"
  t1=$(now)
  # Per host: did the router's hop answer (hop 1), was the host reached (its last line).
  read -r router reached < <(awk '
    /^198\.18\.(1[6-9]|2[0-9]|3[01])\.[0-9]+$/ { host = $0; hop = 0; next }
    { hop++; split($0, a, "\t"); if (hop == 1 && a[1] == "198.18.0.2") r++; if (a[1] == host) h++ }
    END { print r + 0, h + 0 }' "$work/trace.txt")
  printf 'traces of 100 hosts at once (vpnmon vitals -P -t -H 8), %s: wall %.2f s; router hop answered: %s/100; host reached: %s/100\n' \
    "$1" "$(echo "$t1 - $t0" | bc)" "$router" "$reached"
}
trace100 "router with the default ICMP rate limit"
ip netns exec "$r" sysctl -qw net.ipv4.icmp_ratelimit=0
trace100 "router without ICMP rate limit"

# 2. 1,000 hosts, pings only, 100 dead: vpnmon vitals -p 4 and fping -C 4, same hosts, same run.
mapfile -t h1000 < <(hosts 900 100)
t0=$(now)
ip netns exec "$c" "$bin" vitals -p 4 "${h1000[@]}" > "$work/ping.txt"
t1=$(now)
vdead=$(grep -c $'^-1\t-1\t-1\t-1\t-1$' "$work/ping.txt" || true)
vlossy=$(awk -F'\t' 'NF == 5 && $5 != "0.0" && $5 != "-1"' "$work/ping.txt" | wc -l)
printf 'vpnmon vitals -p 4, 1,000 hosts (100 dead): wall %.2f s; all echoes lost: %s; some lost on live hosts: %s\n' \
  "$(echo "$t1 - $t0" | bc)" "$vdead" "$vlossy"
for opts in "" "-i 1"; do
  t0=$(now)
  # shellcheck disable=SC2086 # $opts is words on purpose
  ip netns exec "$c" fping -C 4 -q $opts "${h1000[@]}" 2> "$work/fping.txt" || true
  t1=$(now)
  fdead=$(grep -c -E ': - - - -$' "$work/fping.txt" || true)
  flossy=$(grep -v -E ': - - - -$' "$work/fping.txt" | grep -c ' - ' || true)
  printf 'fping -C 4 -q %s, same hosts: wall %.2f s; all echoes lost: %s; some lost on live hosts: %s\n' \
    "${opts:-(defaults: -i 10 ms between packets, -p 1000 ms per host)}" "$(echo "$t1 - $t0" | bc)" "$fdead" "$flossy"
done
