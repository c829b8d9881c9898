#!/usr/bin/env bash
# Benchmark of large sweeps (issue 17): one cycle of 1,000 and 100,000 loopback targets and of
# 10,000 targets with 1,000 dead behind a network namespace (198.18.0.0/15 only), each RUNS times
# (default 5), printing min/median/max of the wall time, peak RSS and CPU (user+sys) of the
# whole vpnmon process and of the cycle's own time (`took`), and the false Fails (a live host
# not Good, a dead host not Fail). The same address lists then go through `fping -c2 -q` in the
# same run, for the ratio: with fping's own pacing (10 ms between packets) for lists of at most
# FPING_PACED_MAX (default 1000) addresses, and unpaced (`-i 0`, root) for every list.
# Everything runs inside a client namespace made here, so no other traffic of the machine (nor
# another program's raw socket) is measured. Needs root (namespaces) and fping.
# Usage: sudo scripts/bench-scale.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
paced_max=${FPING_PACED_MAX:-1000}
[ "$(id -u)" = 0 ] || { echo "bench-scale: needs root for network namespaces" >&2; exit 2; }
command -v fping > /dev/null || { echo "bench-scale: needs fping (apt-get install fping)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-scale: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
cargo build --release --quiet --bin vpnmon
bin=$PWD/target/release/vpnmon
id=scale$$
c=vmc-$id f=vmf-$id
work=$(mktemp -d)
cleanup() { ip netns del "$c" 2>/dev/null || true; ip netns del "$f" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$f"
ip -n "$c" link set lo up; ip -n "$f" link set lo up
ip -n "$c" link add "vc$$" type veth peer name "vf$$" netns "$f"
ip -n "$c" addr add 198.18.0.1/24 dev "vc$$"; ip -n "$f" addr add 198.18.0.2/24 dev "vf$$"
ip -n "$c" link set "vc$$" up; ip -n "$f" link set "vf$$" up
# The facility answers for 198.18.64.0/18; 198.19.0.0/22 is routed there too but drops every echo.
ip -n "$f" route add local 198.18.64.0/18 dev lo
ip -n "$f" route add local 198.19.0.0/22 dev lo
ip -n "$c" route add 198.18.64.0/18 via 198.18.0.2
ip -n "$c" route add 198.19.0.0/22 via 198.18.0.2
printf 'table inet bench {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip daddr 198.19.0.0/22 icmp type echo-request drop\n }\n}\n' > "$work/rules.nft"
ip netns exec "$f" nft -f "$work/rules.nft"

# The lists: loopback (127.1.0.1 up), or live hosts of the facility then the dead ones.
loopback() { # $1 = count, $2 = file
  awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "127.%d.%d.%d,host %d\n", 1 + int(i / 62500), int(i / 250) % 250, 1 + i % 250, i }' > "$2"
}
facility() { # $1 = count, $2 = dead, $3 = file
  awk -v n="$1" -v d="$2" 'BEGIN {
    for (i = 0; i < d; i++) printf "198.19.%d.%d,dead %d\n", int(i / 250), 1 + i % 250, i
    for (i = 0; i < n - d; i++) printf "198.18.%d.%d,live %d\n", 64 + int(i / 250), 1 + i % 250, i
  }' > "$3"
}
loopback 1000 "$work/t1k.csv"
facility 10000 1000 "$work/t10k.csv"
loopback 100000 "$work/t100k.csv"

# min/median/max of the numbers on stdin.
stats() { sort -g | awk '{ v[NR] = $1 } END { printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

echo "vpnmon: one cycle, 2 echoes per target, 1 s timeout, datalog on, console to a file; $runs runs each: min / median / max"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-22s %-24s %-24s %-26s %-24s %s\n' "targets" "wall [s]" "cycle took [s]" "peak RSS [MB]" "CPU user+sys [s]" "false Fails"
for set in 1k 10k 100k; do
  t=$work/t$set.csv
  n=$(wc -l < "$t")
  dead=$(grep -c '^198\.19\.' "$t" || true)
  : > "$work/wall" ; : > "$work/took" ; : > "$work/rss" ; : > "$work/cpu"
  falses=""
  for ((r = 0; r < runs; r++)); do
    d=$work/d$set-$r.csv
    ip netns exec "$c" /usr/bin/time -f '%e %M %U %S' -o "$work/time" \
      "$bin" --vpnclient none --targets "$t" --datalog "$d" --cycles 1 --delay 0 --quiet > "$work/out" 2> "$work/err"
    read -r wall rss user sys < <(tail -n 1 "$work/time")
    echo "$wall" >> "$work/wall"
    awk -v k="$rss" 'BEGIN { printf "%.1f\n", k / 1024 }' >> "$work/rss"
    awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f\n", u + s }' >> "$work/cpu"
    grep -o 'took [0-9.]* s' "$work/out" | awk '{ print $2 }' >> "$work/took"
    # A live host not Good, or a dead host not Fail.
    bad=$(awk -F, '($5 != "Good" && $6 !~ /^198\.19\./) || ($5 != "Fail" && $6 ~ /^198\.19\./)' "$d" | wc -l)
    rows=$(wc -l < "$d")
    [ "$rows" = "$n" ] || bad="$bad (only $rows rows)"
    falses="$falses$bad "
  done
  printf '%-22s %-24s %-24s %-26s %-24s %s\n' "$n ($dead dead)" "$(stats < "$work/wall")" \
    "$(stats < "$work/took")" "$(stats < "$work/rss")" "$(stats < "$work/cpu")" "$falses"
  grep -h 'in waves' "$work/out" | head -1 | sed 's/^/    notice: /' || true
  # The RTTs the last run reported (a reply stamped late, behind a burst of sends, reads slow).
  grep -o 'rtt [0-9.]* ms' "$work/out" | awk '{ print $2 }' | sort -g |
    awk 'NF { v[++n] = $1 } END { if (n) printf "    rtt of the answered (last run): median %s ms, max %s ms\n", v[int((n + 1) / 2)], v[n] }'
done

# A cycle's CPU for 1,000 targets without the start-up: 41 cycles minus 1 cycle, over 40 (time's
# CPU figures are in hundredths of a second: over 40 cycles that is 0.25 ms a cycle).
echo
: > "$work/percycle"; : > "$work/peruser"; : > "$work/persys"
for ((r = 0; r < runs; r++)); do
  for k in 1 41; do
    ip netns exec "$c" /usr/bin/time -f '%U %S' -o "$work/time$k" \
      "$bin" --vpnclient none --targets "$work/t1k.csv" --datalog "$work/dc.csv" --cycles "$k" --delay 0 --quiet > /dev/null 2>&1
  done
  read -r u1 s1 < <(tail -n 1 "$work/time1")
  read -r u41 s41 < <(tail -n 1 "$work/time41")
  awk -v a="$u1" -v b="$s1" -v c="$u41" -v d="$s41" 'BEGIN { printf "%.1f\n", ((c + d) - (a + b)) / 40 * 1000 }' >> "$work/percycle"
  awk -v a="$u1" -v c="$u41" 'BEGIN { printf "%.1f\n", (c - a) / 40 * 1000 }' >> "$work/peruser"
  awk -v b="$s1" -v d="$s41" 'BEGIN { printf "%.1f\n", (d - b) / 40 * 1000 }' >> "$work/persys"
done
echo "CPU of one cycle of 1000 loopback targets (41 cycles minus 1, over 40) [ms]: $(stats < "$work/percycle")"
echo "  of which user: $(stats < "$work/peruser"); system (the kernel, which on loopback also builds and delivers every reply): $(stats < "$work/persys")"

echo
echo "fping -c2 -q on the same addresses (one run each; fping's false Fails: a live host with no reply, a dead one with a reply)"
printf '%-22s %-34s %-14s %-22s %s\n' "targets" "fping options" "wall [s]" "CPU user+sys [s]" "false Fails"
for set in 1k 10k 100k; do
  t=$work/t$set.csv
  n=$(wc -l < "$t")
  cut -d, -f1 "$t" > "$work/a"
  for opts in "" "-i 0"; do
    [ -z "$opts" ] && [ "$n" -gt "$paced_max" ] && continue
    # shellcheck disable=SC2086 # the options are words
    ip netns exec "$c" /usr/bin/time -f '%e %U %S' -o "$work/time" fping -c2 -q $opts -f "$work/a" 2> "$work/fout" || true
    # (time's last line: the first says so when fping exits non-zero, as it does for dead hosts)
    read -r wall user sys < <(tail -n 1 "$work/time")
    bad=$(awk '($1 !~ /^198\.19\./ && $5 !~ /^2\/2\//) || ($1 ~ /^198\.19\./ && $5 !~ /\/0\/100%/)' "$work/fout" | wc -l)
    # fping gives up on long lists (its sequence numbers run out at 65,535 hosts): say why.
    err=$(grep -m1 '^fping error' "$work/fout" || true)
    [ -n "$err" ] && bad="none measured: $err"
    printf '%-22s %-34s %-14s %-22s %s\n' "$n" "fping -c2 -q $opts" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$bad"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
