#!/usr/bin/env bash
# /metrics latency p50/p99 at 200 requests/s with 1,000 checks while cycles run, and vpnmon's RSS
# with metrics on. Loopback only (the fake prober); any user. Usage: scripts/bench-metrics.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin vpnmon --example metrics_bench
exec target/release/examples/metrics_bench "$PWD/target/release/vpnmon" "${1:-20}"
