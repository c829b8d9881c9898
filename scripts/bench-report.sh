#!/usr/bin/env bash
# Times `vpnmon report` on a generated 1,000,000-row datalog (original vpnmon format) and prints
# the figure. Usage: scripts/bench-report.sh [ROWS]   (builds the release binary first)
# The datalog: 60 targets + gateway ping, VPN open, VPN close = 63 rows per cycle, a cycle every
# 30 minutes, about 1 target in 50 failing now and then, so there are outages to find.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
cargo build --release --quiet --bin vpnmon
dir=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "keeping $dir" || trap 'rm -rf "$dir"' EXIT
log="$dir/vpnmon_datalog.csv"
awk -v rows="$rows" 'BEGIN {
  t = 1704067200; n = 0; cycle = 0
  while (n < rows) {
    cycle++
    d = strftime("%Y/%m/%d", t, 1); h = strftime("%H:%M:%S", t, 1)
    printf "%d,%s,%s,VPN ping,Good,vpn.example.org,VPN Gateway\n", cycle, d, h; n++
    if (n < rows) { printf "%d,%s,%s,VPN open,Good,vpn.example.org,VPN Gateway\n", cycle, d, h; n++ }
    for (i = 0; i < 60 && n < rows; i++) {
      r = ((cycle * 7 + i * 13) % 100 < 2) ? "Fail" : (((cycle + i) % 97 == 0) ? "Warn" : "Good")
      printf "%d,%s,%s,Target ping,%s,10.1.%d.%d,Host %d\n", cycle, d, h, r, i, i + 10, i; n++
    }
    if (n < rows) { printf "%d,%s,%s,VPN close,Good,vpn.example.org,VPN Gateway\n", cycle, d, h; n++ }
    t += 1800
  }
}' > "$log"
echo "datalog: $(wc -l < "$log") rows, $(du -h "$log" | cut -f1)"
bin=target/release/vpnmon
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for fmt in table json; do
  start=$(date +%s%N)
  "$bin" report --format "$fmt" "$log" > "$dir/out.$fmt"
  echo "vpnmon report --format $fmt, $rows rows: $(ms "$start") ms"
done
start=$(date +%s%N)
"$bin" report --svg "$dir/t.svg" "$log" > /dev/null
echo "vpnmon report --svg, $rows rows: $(ms "$start") ms (SVG $(du -h "$dir/t.svg" | cut -f1))"
head -4 "$dir/out.table"
