#!/bin/bash
# Compares cycle times: openconnect run by hand (gateway ping, connect until the tunnel is
# configured, disconnect) against vpnmon doing the same cycle (empty targets file).
#   measure.sh NAME [CYCLES] [VPNMON_BIN]     (the lab NAME must be up)
set -euo pipefail
NAME=${1:?usage: measure.sh NAME [CYCLES] [VPNMON_BIN]}
N=${2:-10}
BIN=${3:-$(dirname "$0")/../../target/debug/vpnmon}
. "${VPNMON_LAB_DIR:-/tmp/vpnmon-lab}/$NAME/lab.env"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat >"$W/script.sh" <<'S'
#!/bin/sh
if [ "$reason" = connect ]; then
  ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1300}"
  ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
  i=0; while [ "$i" -lt "${CISCO_SPLIT_INC:-0}" ]; do
    eval "a=\$CISCO_SPLIT_INC_${i}_ADDR m=\$CISCO_SPLIT_INC_${i}_MASKLEN"
    ip route replace "$a/$m" dev "$TUNDEV"; i=$((i+1)); done
fi
echo "script: $reason done"
S
chmod +x "$W/script.sh"
: >"$W/targets.csv"

IFACE=ochand$$        # unique per run (at most 15 characters)
start=$(date +%s%N)
for _ in $(seq "$N"); do
    ip netns exec "$CLIENT_NS" ping -q -c2 -i0.002 -W1 "$GW" >/dev/null
    echo "$VPN_PASSWORD" | ip netns exec "$CLIENT_NS" openconnect --non-inter --passwd-on-stdin \
        --user "$VPN_USER" --servercert "$PIN" --interface "$IFACE" --script "$W/script.sh" \
        "$GW" >"$W/oc.out" 2>&1 &
    pid=$!
    # Bounded: openconnect exiting or 30 s without a tunnel ends the measurement.
    deadline=$((SECONDS + 30))
    until grep -q "script: connect done" "$W/oc.out"; do
        kill -0 $pid 2>/dev/null || { echo "measure.sh: openconnect exited:" >&2; cat "$W/oc.out" >&2; exit 1; }
        ((SECONDS < deadline)) || { kill -TERM $pid; wait $pid; echo "measure.sh: no tunnel within 30 s" >&2; cat "$W/oc.out" >&2; exit 1; }
        sleep 0.002
    done
    kill -TERM $pid   # (SIGINT is ignored by background jobs of scripts)
    wait $pid || true
done
hand=$(( ($(date +%s%N) - start) / 1000000 ))

start=$(date +%s%N)
VPNMON_PASSWORD=$VPN_PASSWORD ip netns exec "$CLIENT_NS" "$BIN" --params=/dev/null \
    --vpnclient=openconnect --vpnurlip="$GW" --username="$VPN_USER" --servercert="$PIN" \
    --targets="$W/targets.csv" --datalog="$W/datalog.csv" --cycles="$N" --delay=0 --quiet >/dev/null
tool=$(( ($(date +%s%N) - start) / 1000000 ))
echo "by hand: $N cycles in $hand ms ($((hand / N)) ms/cycle)"
echo "vpnmon:  $N cycles in $tool ms ($((tool / N)) ms/cycle, including its start-up)"
