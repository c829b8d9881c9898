#!/usr/bin/env bash
# Peak memory and wall time of `vpnmon report` on generated datalogs, and on hostile input.
# Usage: scripts/bench-report.sh [ROWS…]     (default: 1000000 10000000; builds the release binary)
#        scripts/bench-report.sh --gen ROWS FILE   (only writes such a datalog, e.g. for a profiler)
#   FORMAT=vpnmon|extended|jsonl   the datalog format (default vpnmon)
#   FAIL=0.001                     the share of target pings that fail (each Fail starts or
#                                  continues an outage, and the report lists every outage)
#   HOSTILE=0                      skip the 256 MiB single line and the 1 GiB of random bytes
#   KEEP=1                         keep the generated files and print their folder
# The datalog is realistic: runs of random length (cycle numbers restart at 1, some runs killed
# in the middle of a cycle), 50 targets + gateway ping, VPN open, VPN close per cycle, a cycle
# every 5 minutes, 0.1% Fail (FAIL) and 1% Warn at random, and now and then a target down for a
# while (outages of up to 20 cycles) or the VPN not opening (no target rows in that cycle).
# Each measurement is `/usr/bin/time -f '%e %U %S %M'`: wall seconds, CPU seconds (user + system:
# what the report costs even when other programs share the CPUs) and peak RSS (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
format=${FORMAT:-vpnmon}

gen() { # ROWS FILE
  awk -v rows="$1" -v format="$format" -v FAIL="${FAIL:-0.001}" '
function emit(test, res, addr, name,   ms) {
  if (n >= rows) return
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
function verdict(i) {
  if (down[i] > 0) { down[i]--; return "Fail" }
  x = rand()
  if (x < FAIL / 5) { down[i] = int(rand() * 20); return "Fail" }   # an outage of up to 20 cycles
  if (x < FAIL) return "Fail"
  if (x < FAIL + 0.01) return "Warn"
  return "Good"
}
BEGIN {
  srand(42); t = 1704067200; n = 0
  if (format == "extended") print "cycle,date,time,test,result,address,name,duration_ms,sent,received,rtt_min_ms,rtt_avg_ms,rtt_max_ms,reason"
  while (n < rows) {
    # One run: 1 to 3000 cycles, numbered from 1; a third of them killed mid-cycle.
    len = 1 + int(rand() * 3000); killed = rand() < 0.33
    for (cycle = 1; cycle <= len && n < rows; cycle++) {
      d = strftime("%Y/%m/%d", t, 1); h = strftime("%H:%M:%S", t, 1)
      iso = strftime("%Y-%m-%dT%H:%M:%S+00:00", t, 1)
      last = (cycle == len && killed) ? int(rand() * 50) : 50
      emit("VPN ping", (rand() < 0.002) ? "Fail" : "Good", "vpn.example.org", "VPN Gateway")
      if (rand() < 0.003) { emit("VPN open", "Fail", "vpn.example.org", "VPN Gateway"); t += 300; continue }
      emit("VPN open", "Good", "vpn.example.org", "VPN Gateway")
      for (i = 0; i < last; i++) emit("Target ping", verdict(i), "10.1." i "." (i + 10), "Host " i)
      if (last == 50) emit("VPN close", "Good", "vpn.example.org", "VPN Gateway")
      t += 300
    }
  }
}' > "$2"
}

if [ "${1:-}" = --gen ]; then gen "$2" "$3"; exit; fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
cargo build --release --quiet --bin vpnmon
bin=$PWD/target/release/vpnmon
dir=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "keeping $dir"; else trap 'rm -rf "$dir"' EXIT; fi

# LABEL FILE [OPTIONS…]: one report, timed; prints wall and CPU time, peak RSS, exit code, and
# the first line of its output and of its error output.
measure() {
  local label=$1 file=$2; shift 2
  local rc=0
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin" report "$@" "$file" > "$dir/out" 2> "$dir/err" || rc=$?
  read -r secs user sys kb < <(tail -1 "$dir/time")
  local first
  first=$(head -1 "$dir/out"; { grep -v '^Command exited' "$dir/err" || true; } | head -1 | cut -c1-150)
  printf '%-36s wall %6.2f s  cpu %6.2f s  peak RSS %6.1f MB  exit %d  %s\n' "$label" "$secs" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')" "$rc" \
    "$(echo "$first" | head -2 | tr '\n' ' ')"
}

echo "vpnmon report on $(nproc) CPUs, $format format"
for rows in "${sizes[@]}"; do
  log="$dir/vpnmon_datalog_$rows.csv"
  gen "$rows" "$log"
  echo "datalog: $rows rows, $(du -h "$log" | cut -f1)"
  measure "$rows rows, --format table" "$log"
  measure "$rows rows, --format json" "$log" --format json
  measure "$rows rows, --svg" "$log" --svg "$dir/t.svg"
  [ -n "${KEEP:-}" ] || rm -f "$log"
done

if [ "${HOSTILE:-1}" != 0 ]; then
  # One 256 MiB line (no line end inside) between two rows.
  long="$dir/long_line.csv"
  { echo "1,2024/01/01,00:00:00,VPN ping,Good,vpn.example.org,VPN Gateway"
    head -c $((256 << 20)) /dev/zero | tr '\0' 'x'; echo
    echo "2,2024/01/01,00:05:00,VPN ping,Good,vpn.example.org,VPN Gateway"; } > "$long"
  measure "a 256 MiB line between two rows" "$long"
  [ -n "${KEEP:-}" ] || rm -f "$long"
  junk="$dir/random.bin"
  head -c $((1 << 30)) /dev/urandom > "$junk"
  measure "1 GiB of random bytes" "$junk"
  [ -n "${KEEP:-}" ] || rm -f "$junk"
fi
