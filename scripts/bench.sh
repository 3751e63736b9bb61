#!/bin/sh
# make bench: the speed and memory figures, printed; never timed tests.
#
#   codec        internal/mh marshal/parse
#   transport    raw IPv6 (proto 135) and UDP/IPv4 carriers on loopback (root)
#   LMA          pools, durable store, and scripts/bench-lma.sh (PBU/s, p99, RSS)
#   MAG          engine latencies, DHCP and RA on the wire, scripts/bench-mag.sh
#                (mipsle binary size after xz -9e, VmHWM with 64 clients)
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}

section() { printf '\n== %s\n' "$*"; }
bench() { # bench PKG REGEXP BENCHTIME
	$GO test -run '^$' -bench "$2" -benchtime "$3" -benchmem "$1" | grep -Ev '^(goos|goarch|pkg|cpu|PASS)'
}

section "codec: internal/mh"
bench ./internal/mh . 1s
section "transport: raw IPv6 and UDP/IPv4 carriers (root: fresh namespace loopback)"
bench ./internal/transport . 2s
section "LMA: address pools with 1M allocated"
bench ./lma/pool . 1000000x
section "LMA: durable store, group commit, 1M keys stored"
bench ./lma/store 'Put|PutRate' 500000x
bench ./lma/store Recovery 2x
if [ -x scripts/bench-lma.sh ]; then
	section "LMA: PBU->PBA through the raw socket, 1M bindings, durability on"
	scripts/bench-lma.sh
fi
section "MAG: engine latencies (attach->PBU, PBA->served)"
bench ./mag . 5000x
section "MAG: DHCP LeaseReady->OFFER and RA Serve->wire"
bench ./mag/dhcpserver LeaseReady 2000x
bench ./mag/ra . 2000x
if [ -x scripts/bench-mag.sh ]; then
	section "MAG: binary size and memory budgets"
	scripts/bench-mag.sh
fi
