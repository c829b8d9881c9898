#!/usr/bin/env bash
# The documented visual check of `vpnmon report --svg` (not part of CI): draws the timeline of a
# datalog and renders it with headless Chromium from Debian so a person can look at the PNG.
# Usage: scripts/render-timeline.sh [DATALOG…]   (default: tests/data/vpnmon-original-datalog.csv)
# Needs: apt-get install -y chromium
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- tests/data/vpnmon-original-datalog.csv
command -v chromium >/dev/null || { echo "chromium not found: apt-get install -y chromium" >&2; exit 1; }
cargo build --release --quiet --bin vpnmon
out=${OUT:-/tmp/vpnmon-timeline}
target/release/vpnmon report --svg "$out.svg" "$@" >/dev/null
height=$(sed -n 's/.*<svg [^>]*height="\([0-9.]*\)".*/\1/p' "$out.svg" | head -1)
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot="$out.png" \
  --window-size="1240,${height%.*}" "$out.svg" 2>/dev/null
echo "SVG: $out.svg  PNG: $out.png  (look at the PNG)"
