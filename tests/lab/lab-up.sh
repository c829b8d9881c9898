#!/bin/bash
# vpnmon lab: a real ocserv gateway and facility hosts in three network namespaces.
#
#   lab-up.sh NAME      creates NAME-client, NAME-gw, NAME-fac and starts ocserv in NAME-gw.
#                       Idempotent: a lab that is already up is left as it is.
#   Writes $LABDIR/lab.env (shell syntax) with GW, USER, PASSWORD, PIN, CAFILE, TARGETS, ...
#
# Addresses (all inside 198.18.0.0/15, only inside these namespaces):
#   client 198.18.1.2 --veth-- 198.18.1.1 gw (ocserv on 443)  198.18.2.1 --veth-- 198.18.2.2 fac
#   VPN pool 198.18.100.0/24, pushed route 198.19.10.0/24 (facility hosts on lo of NAME-fac):
#   .1 .2 .3 answer, .4 drops about half the echo requests, .5 drops all.
# Needs root, /dev/net/tun and the Debian packages ocserv openconnect gnutls-bin nftables iproute2.
set -euo pipefail

NAME=${1:?usage: lab-up.sh NAME}
[[ $NAME =~ ^[A-Za-z0-9_]{1,20}$ ]] || { echo "lab-up.sh: NAME must be 1-20 letters, digits or _" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "lab-up.sh: needs root" >&2; exit 3; }
[[ -c /dev/net/tun ]] || { echo "lab-up.sh: needs /dev/net/tun" >&2; exit 3; }
for p in ip nft ocserv ocpasswd certtool occtl; do
    command -v "$p" >/dev/null || { echo "lab-up.sh: $p missing (apt-get install ocserv openconnect gnutls-bin nftables iproute2)" >&2; exit 3; }
done

# Everything the lab writes is private (lab.env holds the password); the directories only let
# ocserv's workers (running as nobody) through to their sockets.
umask 077
BASE=${VPNMON_LAB_DIR:-/tmp/vpnmon-lab}
LABDIR=$BASE/$NAME
[[ -d $BASE ]] || { mkdir -p "$BASE" && chmod 0711 "$BASE"; }
exec 9>"$LABDIR.lock"
flock 9

C=$NAME-client G=$NAME-gw F=$NAME-fac
USER_NAME=labuser
PASSWORD=${VPNMON_LAB_PASSWORD:-lab-Pa55-$RANDOM$RANDOM}

# Up means: lab.env written and the recorded ocserv still running as ocserv in NAME-gw (a
# reused PID does not count).
ocserv_alive() {
    local p
    p=$(cat "$LABDIR/ocserv.pid" 2>/dev/null) || return 1
    [[ $p =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$p/comm" 2>/dev/null) == @(ocserv|ocserv-main) ]] \
        && [[ $(ip netns identify "$p" 2>/dev/null) == "$G" ]]
}
if [[ -f $LABDIR/lab.env ]] && ocserv_alive; then
    echo "lab $NAME already up ($LABDIR/lab.env)"
    exit 0
fi

# Half-built leftovers of this lab only.
"$(dirname "$0")/lab-down.sh" "$NAME" --keep-lock >/dev/null 2>&1 || true
mkdir -p "$LABDIR"
chmod 0711 "$LABDIR"

for ns in "$C" "$G" "$F"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done

# Links are created directly inside the namespaces, so no name ever exists in the host namespace.
ip -n "$C" link add eth0 type veth peer name eth0 netns "$G"
ip -n "$G" link set eth0 name cl0
ip -n "$G" link add fac0 type veth peer name eth0 netns "$F"

ip -n "$C" addr add 198.18.1.2/24 dev eth0
ip -n "$C" link set eth0 up
ip -n "$G" addr add 198.18.1.1/24 dev cl0
ip -n "$G" link set cl0 up
ip -n "$G" addr add 198.18.2.1/24 dev fac0
ip -n "$G" link set fac0 up
ip -n "$F" addr add 198.18.2.2/24 dev eth0
ip -n "$F" link set eth0 up
ip -n "$F" route add 198.18.100.0/24 via 198.18.2.1
for h in 1 2 3 4 5; do ip -n "$F" addr add "198.19.10.$h/32" dev lo; done
ip -n "$G" route add 198.19.10.0/24 via 198.18.2.2
ip netns exec "$G" sysctl -qw net.ipv4.ip_forward=1

# Gateway: only traffic that arrives through the tunnel reaches the facility.
ip netns exec "$G" nft -f - <<'NFT'
table inet vpnmonlab {
  chain forward {
    type filter hook forward priority 0; policy drop;
    iifname "vpns*" oifname "fac0" accept
    iifname "fac0" oifname "vpns*" ct state established,related accept
  }
}
NFT
# Facility: .4 drops about half the echo requests, .5 drops them all.
ip netns exec "$F" nft -f - <<'NFT'
table inet vpnmonlab {
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr 198.19.10.4 icmp type echo-request numgen random mod 2 == 0 drop
    ip daddr 198.19.10.5 icmp type echo-request drop
  }
}
NFT

# Certificates: a CA and a server certificate for the gateway's address.
cd "$LABDIR"
cat >ca.tmpl <<'T'
cn = "vpnmon lab CA"
organization = "vpnmon lab"
serial = 1
expiration_days = 30
ca
signing_key
cert_signing_key
crl_signing_key
T
cat >server.tmpl <<'T'
cn = "198.18.1.1"
organization = "vpnmon lab"
serial = 2
expiration_days = 30
ip_address = "198.18.1.1"
signing_key
encryption_key
tls_www_server
T
certtool --generate-privkey --key-type=ecdsa --outfile ca-key.pem 2>/dev/null
certtool --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem 2>/dev/null
certtool --generate-privkey --key-type=ecdsa --outfile server-key.pem 2>/dev/null
certtool --generate-certificate --load-privkey server-key.pem --load-ca-certificate ca.pem \
    --load-ca-privkey ca-key.pem --template server.tmpl --outfile server.pem 2>/dev/null
PIN=$(certtool --certificate-info --infile server.pem | grep -o 'pin-sha256:[A-Za-z0-9+/=]*' | head -1)
[[ -n $PIN ]] || { echo "lab-up.sh: cannot compute the server certificate's pin" >&2; exit 1; }

printf '%s\n%s\n' "$PASSWORD" "$PASSWORD" | ocpasswd -c "$LABDIR/ocpasswd" "$USER_NAME"

cat >ocserv.conf <<CONF
auth = "plain[passwd=$LABDIR/ocpasswd]"
listen-host = 198.18.1.1
tcp-port = 443
udp-port = 443
run-as-user = nobody
run-as-group = nogroup
socket-file = $LABDIR/ocserv.sock
occtl-socket-file = $LABDIR/occtl.sock
use-occtl = true
pid-file = $LABDIR/ocserv-main.pid
server-cert = $LABDIR/server.pem
server-key = $LABDIR/server-key.pem
isolate-workers = false
max-clients = 0
max-same-clients = 0
rate-limit-ms = 0
max-ban-score = 0
keepalive = 60
dpd = 10
mobile-dpd = 10
try-mtu-discovery = false
cert-user-oid = 0.9.2342.19200300.100.1.1
tls-priorities = "NORMAL:%SERVER_PRECEDENCE"
auth-timeout = 240
idle-timeout = 1200
cookie-timeout = 300
deny-roaming = false
rekey-time = 172800
rekey-method = ssl
device = vpns
predictable-ips = true
ipv4-network = 198.18.100.0
ipv4-netmask = 255.255.255.0
route = 198.19.10.0/255.255.255.0
ping-leases = false
no-route = 198.18.1.0/255.255.255.0
CONF

ip netns exec "$G" ocserv -f -c "$LABDIR/ocserv.conf" >"$LABDIR/ocserv.log" 2>&1 9>&- &
echo $! >"$LABDIR/ocserv.pid"

# Ready when a client in NAME-client can log in (authentication only, no tunnel), within 20 s.
ready=0
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
    # Our own child, just started: its PID cannot have been reused yet.
    kill -0 "$(cat "$LABDIR/ocserv.pid")" 2>/dev/null || { echo "lab-up.sh: ocserv did not start:" >&2; cat "$LABDIR/ocserv.log" >&2; exit 1; }
    if ip netns exec "$G" ss -Hltn 'sport = :443' | grep -q 443 \
       && printf '%s\n' "$PASSWORD" | timeout 5 ip netns exec "$C" openconnect --authenticate \
            --non-inter --passwd-on-stdin --user "$USER_NAME" --servercert "$PIN" 198.18.1.1 \
            >/dev/null 2>"$LABDIR/ready.log"; then
        ready=1
        break
    fi
    sleep 0.1
done
((ready)) || { echo "lab-up.sh: no client could log in to ocserv within 20 s:" >&2; cat "$LABDIR/ready.log" "$LABDIR/ocserv.log" >&2; exit 1; }

cat >"$LABDIR/targets.csv" <<T
198.19.10.1,Facility host 1
198.19.10.2,Facility host 2
198.19.10.3,Facility host 3
198.19.10.4,Flaky host
198.19.10.5,Dead host
T

cat >"$LABDIR/lab.env.tmp" <<ENV
LABDIR=$LABDIR
CLIENT_NS=$C
GW_NS=$G
FAC_NS=$F
GW=198.18.1.1
VPN_USER=$USER_NAME
VPN_PASSWORD=$PASSWORD
PIN=$PIN
CAFILE=$LABDIR/ca.pem
TARGETS=$LABDIR/targets.csv
OCCTL_SOCKET=$LABDIR/occtl.sock
OCSERV_PID=$(cat "$LABDIR/ocserv.pid")
ENV
mv "$LABDIR/lab.env.tmp" "$LABDIR/lab.env"
echo "lab $NAME up ($LABDIR/lab.env)"
