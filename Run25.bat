@echo off
rem Runs the command given as its arguments 25 times in a row, as the original vpnmon
rem did to cover long periods:  Run25 vpnmon -vpnurlip vpn.example.org -user me -pass secret
for /L %%i in (1,1,25) do (
  echo ---- Run25: run %%i of 25 ----
  %*
)
