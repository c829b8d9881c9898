#!/usr/bin/env bash
# Times `vpnmon report` on a generated 1,000,000-row datalog and prints the figures.
# Usage: scripts/bench-report.sh [ROWS] [vpnmon|extended|jsonl]   (builds the release binary)
# The datalog: 60 targets + gateway ping, VPN open, VPN close = 63 rows per cycle, a cycle every
# 30 minutes, about 1 target in 50 failing now and then, so there are outages to find.
# KEEP=1 keeps the generated files (datalog, outputs, t.svg) and prints their folder.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
format=${2:-vpnmon}
cargo build --release --quiet --bin vpnmon
dir=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "keeping $dir"; else trap 'rm -rf "$dir"' EXIT; fi
log="$dir/vpnmon_datalog.csv"
awk -v rows="$rows" -v format="$format" '
function emit(test, res, addr, name,   ms) {
  if (format == "extended") {
    ms = (res == "Fail") ? ",2000,2,0,,,," : ",1.2,2,2,0.4,0.6,0.8,"
    printf "%d,%s,%s,%s,%s,%s,%s%s\n", cycle, d, h, test, res, addr, name, ms
  } else if (format == "jsonl") {
    ms = (res == "Fail") ? "\"rtt_min_ms\":null,\"rtt_avg_ms\":null,\"rtt_max_ms\":null" : "\"rtt_min_ms\":0.4,\"rtt_avg_ms\":0.6,\"rtt_max_ms\":0.8"
    printf "{\"cycle\":%d,\"time\":\"%s\",\"test\":\"%s\",\"result\":\"%s\",\"address\":\"%s\",\"name\":\"%s\",\"duration_ms\":1.2,\"sent\":2,\"received\":2,%s,\"reason\":null}\n", cycle, iso, test, res, addr, name, ms
  } else {
    printf "%d,%s,%s,%s,%s,%s,%s\n", cycle, d, h, test, res, addr, name
  }
  n++
}
BEGIN {
  t = 1704067200; n = 0; cycle = 0
  if (format == "extended") print "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason"
  while (n < rows) {
    cycle++
    d = strftime("%Y/%m/%d", t, 1); h = strftime("%H:%M:%S", t, 1)
    iso = strftime("%Y-%m-%dT%H:%M:%S+00:00", t, 1)
    emit("VPN ping", "Good", "vpn.example.org", "VPN Gateway")
    if (n < rows) emit("VPN open", "Good", "vpn.example.org", "VPN Gateway")
    for (i = 0; i < 60 && n < rows; i++) {
      r = ((cycle * 7 + i * 13) % 100 < 2) ? "Fail" : (((cycle + i) % 97 == 0) ? "Warn" : "Good")
      emit("Target ping", r, "10.1." i "." (i + 10), "Host " i)
    }
    if (n < rows) emit("VPN close", "Good", "vpn.example.org", "VPN Gateway")
    t += 1800
  }
}' > "$log"
echo "datalog ($format): $(grep -vc '^cycle,date' "$log") rows, $(du -h "$log" | cut -f1), $(nproc) CPUs"
bin=target/release/vpnmon
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for fmt in table json; do
  start=$(date +%s%N)
  "$bin" report --format "$fmt" "$log" > "$dir/out.$fmt"
  echo "vpnmon report --format $fmt, $rows $format rows: $(ms "$start") ms"
done
start=$(date +%s%N)
"$bin" report --svg "$dir/t.svg" "$log" > /dev/null
echo "vpnmon report --svg, $rows $format rows: $(ms "$start") ms (SVG $(du -h "$dir/t.svg" | cut -f1))"
head -4 "$dir/out.table"
