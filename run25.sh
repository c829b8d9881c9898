#!/bin/sh
# Runs the command given as its arguments 25 times in a row (the POSIX twin of Run25.bat):
#   ./run25.sh vpnmon -vpnurlip vpn.example.org -user me -pass secret
# Control-C stops the current run (vpnmon closes its VPN and datalog) and then this script.
if [ $# -eq 0 ]; then
  echo "usage: run25.sh COMMAND [ARGUMENTS...]" >&2
  exit 2
fi
stopped=0
trap 'stopped=1' INT TERM
i=1
while [ "$i" -le 25 ]; do
  echo "---- run25: run $i of 25 ----"
  "$@"
  [ "$stopped" -eq 1 ] && exit 130
  i=$((i + 1))
done
