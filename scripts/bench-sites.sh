#!/usr/bin/env bash
# Figures for several sites (issue 12): a 20-site run and vpnmon's own time per site.
# 20 sites: 14 `none` sites of 5 targets each (1 dead) in a network namespace made here
# (198.18.0.0/15 only), 3 Cisco simulator sites and 3 SonicWall simulator sites; prints the cycle
# times, the peak RSS, and per site vpnmon's own time: the cycle's wall time minus what the
# clients and the pings themselves took (the rows' durations), divided by the sites.
# Needs root (namespaces). Usage: sudo scripts/bench-sites.sh [CYCLES] [PROFILE]
#   (default 3 cycles, the debug build; PROFILE=release builds and uses the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-3}
profile=${2:-debug}
[ "$(id -u)" = 0 ] || { echo "bench-sites: needs root for network namespaces" >&2; exit 2; }
flag=(); [ "$profile" = release ] && flag=(--release)
cargo build "${flag[@]}" --quiet --bin vpnmon --example vpncli-sim --example startct-sim
bin=$PWD/target/$profile/vpnmon
ex=$PWD/target/$profile/examples
id=bs$$
c=vmc-$id f=vmf-$id
work=$(mktemp -d)
cleanup() { ip netns del "$c" 2>/dev/null || true; ip netns del "$f" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$f"
ip -n "$c" link set lo up; ip -n "$f" link set lo up
ip -n "$c" link add "vc$$" type veth peer name "vf$$" netns "$f"
ip -n "$c" addr add 198.18.0.1/24 dev "vc$$"; ip -n "$f" addr add 198.18.0.2/24 dev "vf$$"
ip -n "$c" link set "vc$$" up; ip -n "$f" link set "vf$$" up
# The facility answers for 198.18.16.0/20 except 198.18.31.0/24, which drops every echo.
ip -n "$f" route add local 198.18.16.0/20 dev lo
ip -n "$c" route add 198.18.16.0/20 via 198.18.0.2
printf 'table inet bench {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip daddr 198.18.31.0/24 icmp type echo-request drop\n }\n}\n' > "$work/rules.nft"
ip netns exec "$f" nft -f "$work/rules.nft"

cfg=$work/sites.toml
{
  echo "cycles = $cycles"
  echo "delay = 0"
  echo "quiet = true"
  echo "datalog = \"$work/d.csv\""
  echo "datalog_format = \"extended\""
} > "$cfg"
for s in $(seq 1 14); do
  {
    echo "[[site]]"; echo "name = \"none$s\""; echo "client = \"none\""
    echo "gateway = \"198.18.16.$s\""
    echo "targets = ["
    for t in 1 2 3 4; do echo "  { address = \"198.18.$((16 + s)).$t\", name = \"n$s-$t\" },"; done
    echo "  { address = \"198.18.31.$s\", name = \"n$s-dead\" },"
    echo "]"
  } >> "$cfg"
done
for s in 1 2 3; do
  mkdir "$work/cisco$s"; cp "$ex/vpncli-sim" "$work/cisco$s/vpncli-sim"
  printf 'VPNCLI_SIM_PASSWORD=bench-pw\nVPNCLI_SIM_STATE=%s/state\n' "$work/cisco$s" > "$work/cisco$s/vpncli-sim.env"
  printf '[[site]]\nname = "cisco%s"\nclient = "anyconnect"\ngateway = "127.0.0.%s"\nusername = "u"\npassword_env = "BENCH_PW"\nvpncli_delay = 0\nclient_path = "%s"\ntargets = [{ address = "127.0.1.%s", name = "c%s" }]\n' \
    "$s" "$((s + 1))" "$work/cisco$s/vpncli-sim" "$s" "$s" >> "$cfg"
done
mkdir "$work/sw"; cp "$ex/startct-sim" "$work/sw/startct"
for s in 1 2 3; do
  printf '[[site]]\nname = "sonicwall%s"\nclient = "sonicwall"\ngateway = "127.0.2.%s"\nusername = "u"\npassword_env = "BENCH_PW"\nclient_path = "%s"\ntargets = [{ address = "127.0.3.%s", name = "s%s" }]\n' \
    "$s" "$s" "$work/sw/startct" "$s" "$s" >> "$cfg"
done

cd "$work"
BENCH_PW=bench-pw STARTCT_SIM_PASSWORD=bench-pw ip netns exec "$c" /usr/bin/time -f '%M' -o "$work/rss" \
  "$bin" --config "$cfg" > "$work/out.txt"
times=$(grep -o 'took [0-9.]* s' "$work/out.txt" | awk '{print $2}' | paste -sd' ')
rows=$(($(wc -l < "$work/d.csv") - 1))
fails=$(awk -F, 'NR > 1 && $5 != "Good" && $6 !~ /^198\.18\.31\./' "$work/d.csv" | wc -l)
echo "20 sites (14 none x 5 targets, 3 Cisco sim, 3 SonicWall sim), $profile build, $cycles cycles"
echo "cycle wall time [s]: $times; rows: $rows; unexpected non-Good rows: $fails; peak RSS: $(cat "$work/rss") KiB"
# vpnmon's own time per site: the cycle's wall time minus the sum of its rows' durations (the
# clients' opens and closes and the pings; a site's targets are pinged together, so its slowest
# target counts, not their sum), divided by the 20 sites.
awk -F, 'NR > 1 {
    key = $1 SUBSEP $15
    if ($4 == "Target ping") { if ($8 > slow[key]) slow[key] = $8 } else busy[$1] += $8
    cyc[$1] = 1
  }
  END { for (k in slow) { split(k, p, SUBSEP); busy[p[1]] += slow[k] } for (c in cyc) printf "%s %.1f\n", c, busy[c] }' \
  "$work/d.csv" | sort -n > "$work/busy"
grep -o 'End vpnmon test cycle [0-9]* of [0-9]*  (took [0-9.]* s' "$work/out.txt" \
  | awk '{print $5, $9}' | sort -n > "$work/wall"
join "$work/wall" "$work/busy" | awk '{ printf "cycle %s: wall %.0f ms, rows %.0f ms, vpnmon per site %.1f ms\n", $1, $2 * 1000, $3, ($2 * 1000 - $3) / 20 }'
