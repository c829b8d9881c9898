//! Every text of openconnect the driver passes, writes or recognises: its options, the connect
//! script it runs, the lines it prints and what they mean. The dialog is in `dialog.rs`.

use crate::vpn::VpnErrorKind;

/// The default program, looked up on PATH.
pub const DEFAULT_PROGRAM: &str = "openconnect";

// ---- Options --------------------------------------------------------------------------------

/// A second password prompt after `Login failed.` is an error instead of a loop; an
/// unverifiable certificate is a failure instead of a question.
pub const OPT_NON_INTERACTIVE: &str = "--non-inter";
/// The password comes on stdin, never on the command line.
pub const OPT_PASSWORD_ON_STDIN: &str = "--passwd-on-stdin";
pub const OPT_INTERFACE: &str = "--interface";
pub const OPT_INTERFACE_SHORT: &str = "-i";
pub const OPT_SCRIPT: &str = "--script";
pub const OPT_USER: &str = "--user";
pub const OPT_SERVERCERT: &str = "--servercert";
pub const OPT_CAFILE: &str = "--cafile";
pub const OPT_NO_DTLS: &str = "--no-dtls";
/// Its messages in English, whatever the user's locale.
pub const ENV_LOCALE: (&str, &str) = ("LC_ALL", "C");

/// The tun device name: this prefix and the vpnmon pid.
pub const INTERFACE_PREFIX: &str = "vpnmon";
/// Prefix of the private directory holding the connect script: `vpnmon-oc-<pid>-<random>`.
pub const SCRIPT_DIR_PREFIX: &str = "vpnmon-oc-";
pub const SCRIPT_NAME: &str = "connect.sh";
/// The script file of older vpnmons: `vpnmon-openconnect-<pid>.sh`.
pub const LEGACY_SCRIPT_PREFIX: &str = "vpnmon-openconnect-";
pub const LEGACY_SCRIPT_SUFFIX: &str = ".sh";

// ---- The connect script ---------------------------------------------------------------------

/// The connect script: sets up the tun device and the pushed routes, prints the marker.
/// Split-include routes go through the tunnel; with none (a full tunnel) the gateway keeps its
/// route and everything else goes through the tunnel.
pub const SCRIPT: &str = r#"#!/bin/sh
# Written by vpnmon for openconnect --script; removed when vpnmon exits.
rc=0
case "$reason" in
connect)
  {
    ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1300}" &&
    ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
  } || rc=1
  n=${CISCO_SPLIT_INC:-0}
  i=0
  while [ "$rc" = 0 ] && [ "$i" -lt "$n" ]; do
    eval "a=\$CISCO_SPLIT_INC_${i}_ADDR m=\$CISCO_SPLIT_INC_${i}_MASKLEN"
    ip route replace "$a/$m" dev "$TUNDEV" || rc=1
    i=$((i+1))
  done
  if [ "$rc" = 0 ] && [ "$n" = 0 ]; then
    via=$(ip route get "$VPNGATEWAY" | sed -n '1{s/^[^ ]* //;s/ uid .*//;p}')
    { ip route replace "$VPNGATEWAY/32" $via &&
      ip route replace 0.0.0.0/1 dev "$TUNDEV" &&
      ip route replace 128.0.0.0/1 dev "$TUNDEV"; } || rc=1
  fi
  ;;
disconnect)
  if [ "${CISCO_SPLIT_INC:-0}" = 0 ] && [ -n "$VPNGATEWAY" ]; then
    ip route del "$VPNGATEWAY/32" 2>/dev/null
  fi
  ;;
esac
echo "vpnmon-script: $reason $rc"
exit $rc
"#;

/// The marker the connect script prints on stdout: `vpnmon-script: REASON RC`.
pub const SCRIPT_MARK: &str = "vpnmon-script:";
/// Script reasons: the tunnel came up, dropped, came back.
pub const REASON_CONNECT: &str = "connect";
pub const REASON_ATTEMPT_RECONNECT: &str = "attempt-reconnect";
pub const REASON_RECONNECT: &str = "reconnect";

// ---- What it prints -------------------------------------------------------------------------

pub const CONFIGURED_AS: &str = "Configured as ";

/// Failure texts (lower case; matched in the lower-cased line), with what they mean. The first
/// match wins. `Server certificate verify failed: signer not found` also appears on pinned
/// connections that succeed; only the client's own rejection counts.
pub const FAILURES: &[(&str, VpnErrorKind, &str)] = &[
    (
        "login failed",
        VpnErrorKind::LoginFailed,
        "login failed (wrong username or password)",
    ),
    (
        "failed verification",
        VpnErrorKind::Certificate,
        "the gateway's certificate could not be verified (give --servercert or --cafile)",
    ),
    (
        "error in the certificate",
        VpnErrorKind::Certificate,
        "the gateway's certificate could not be verified (give --servercert or --cafile)",
    ),
    (
        "connection refused",
        VpnErrorKind::Unreachable,
        "connection refused by the gateway",
    ),
    (
        "no route to host",
        VpnErrorKind::Unreachable,
        "no route to the gateway",
    ),
    (
        "network is unreachable",
        VpnErrorKind::Unreachable,
        "no route to the gateway (network unreachable)",
    ),
    (
        "connection timed out",
        VpnErrorKind::Timeout,
        "the gateway did not answer (connection timed out)",
    ),
    (
        "getaddrinfo failed",
        VpnErrorKind::Unreachable,
        "cannot resolve the gateway's name",
    ),
    (
        "user input required in non-interactive mode",
        VpnErrorKind::Unsupported,
        "the gateway asks for more than a username and password",
    ),
    (
        "set up tun device failed",
        VpnErrorKind::Other,
        "openconnect cannot create its tun device (needs root and /dev/net/tun)",
    ),
    (
        "failed to open tun device",
        VpnErrorKind::Other,
        "openconnect cannot create its tun device (needs root and /dev/net/tun)",
    ),
];

// ---- What a close reports -------------------------------------------------------------------

pub const DROPPED_RECONNECTED: &str =
    "the tunnel dropped during the cycle and openconnect reconnected";
pub const DROPPED_NOT_RECONNECTED: &str =
    "the tunnel dropped during the cycle and openconnect had not reconnected";
