#!/bin/bash
# Tears down the lab NAME made by lab-up.sh: its processes (by PID: ocserv and whatever runs in
# its three namespaces), its namespaces and its directory. Idempotent.
set -uo pipefail

NAME=${1:?usage: lab-down.sh NAME}
[[ $NAME =~ ^[A-Za-z0-9_]{1,20}$ ]] || { echo "lab-down.sh: NAME must be 1-20 letters, digits or _" >&2; exit 2; }
LABDIR=${VPNMON_LAB_DIR:-/tmp/vpnmon-lab}/$NAME
if [[ ${2:-} != --keep-lock ]]; then
    mkdir -p "$(dirname "$LABDIR")"
    exec 9>"$LABDIR.lock"
    flock 9
fi

pids=()
# ocserv.pid only if that process is still ocserv in this lab's gateway namespace (a PID may
# have been reused by anything since).
if [[ -f $LABDIR/ocserv.pid ]]; then
    p=$(cat "$LABDIR/ocserv.pid")
    if [[ $p =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$p/comm" 2>/dev/null) == @(ocserv|ocserv-main) ]] \
       && [[ $(ip netns identify "$p" 2>/dev/null) == "$NAME-gw" ]]; then
        pids+=("$p")
    fi
fi
for ns in "$NAME-client" "$NAME-gw" "$NAME-fac"; do
    while read -r p; do [[ -n $p ]] && pids+=("$p"); done < <(ip netns pids "$ns" 2>/dev/null)
done
if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null
    for _ in $(seq 1 40); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.05
    done
    kill -KILL "${pids[@]}" 2>/dev/null
fi
for ns in "$NAME-client" "$NAME-gw" "$NAME-fac"; do
    ip netns del "$ns" 2>/dev/null
done
rm -rf "$LABDIR"
# The lock file stays: another run may be waiting on it, and removing it would let a third one
# lock a new file while the second holds the old one.
echo "lab $NAME down"
exit 0
