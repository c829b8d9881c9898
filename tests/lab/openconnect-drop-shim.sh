#!/bin/bash
# Test shim for the "tunnel dropped" end-to-end test: runs the real openconnect with all its
# arguments, but wraps its --script so that, once, right after the tunnel is configured and before
# the connect script reports success, the gateway disconnects the session (occtl, in the gateway
# namespace). The drop is real: ocserv ends the session and openconnect exits.
# Environment: VPNMON_LAB_DROP (flag file, removed when used), VPNMON_LAB_GW_NS,
# VPNMON_LAB_OCCTL (occtl socket), VPNMON_LAB_USER.
args=()
while (($#)); do
    if [[ $1 == --script && $# -ge 2 ]]; then
        args+=(--script "$0 --hook $2"); shift 2
    elif [[ $1 == --hook ]]; then
        real=$2
        out=$("$real"); rc=$?
        if [[ $reason == connect && $rc == 0 && -n ${VPNMON_LAB_DROP:-} && -e $VPNMON_LAB_DROP ]]; then
            rm -f "$VPNMON_LAB_DROP"
            ip netns exec "$VPNMON_LAB_GW_NS" occtl -s "$VPNMON_LAB_OCCTL" disconnect user "$VPNMON_LAB_USER" >/dev/null
        fi
        printf '%s\n' "$out"
        exit $rc
    else
        args+=("$1"); shift
    fi
done
exec openconnect "${args[@]}"
