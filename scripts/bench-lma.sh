#!/bin/sh
# bench-lma.sh: issue 3's LMA benchmark. Needs root (a network namespace
# and raw sockets). Prints a table of figures; not a pass/fail test.
#
#   netns pmipbench-PID, everything on its loopback:
#
#     pmip-loadgen ─────raw IPv6 proto 135─────► pmip-lma 2001:db8:b::1
#       MAG addresses 2001:db8:b::11 .. ::14     -dataplane none, WAL store on
#                                                disk (BENCH_DIR, default /var/tmp),
#                                                its compactions in a child
#                                                process at nice 19
#     pmip-loadgen ─────same socket path───────► pmip-loadgen -mode echo-server
#       (the socket's own limit)                 2001:db8:b::2
#
# Steps (each load run after the LMA has gone idle: no compaction left
# over from the fill or the restart): the echo figure; the LMA started empty with -durability disk
# (a PBA leaves once its binding is fdatasynced) and filled with
# BENCH_BINDINGS (default 1,000,000) new registrations through the
# protocol (slow but honest: every one durable before its PBA); refreshes
# of those bindings closed-loop (BENCH_WINDOW in flight) and open-loop at
# BENCH_RATE (default 50,000/s); then kill -9, the time to recover the
# bindings from the store, and the same refreshes again with -durability
# kernel (a PBA leaves once its binding is written to the kernel, which
# kill -9 does not lose; the log is synced behind, every 10 ms at most),
# the paced ones also for BENCH_SUSTAINED (90 s, long enough to hold a
# compaction of the store); the LMA's VmRSS and VmHWM. Every row carries the host's load average when
# it ended: other work on the host skews every figure.
#
# Latency is from the PBU's hand-over to the kernel (just before the
# sendmmsg carrying it) to the PBA's arrival in the MAG socket (the
# kernel's receive timestamp); p99@read is to the moment the load
# generator read it, its own scheduling included.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
N=${BENCH_BINDINGS:-1000000}
WINDOW=${BENCH_WINDOW:-128}
RATE=${BENCH_RATE:-50000}
DURATION=${BENCH_DURATION:-15s}
# How many times the paced rows run, one after the other (their p99 moves
# most with the host's load).
PACED_RUNS=${BENCH_PACED_RUNS:-1}
# A longer paced row with -durability kernel after those, long enough to
# hold a compaction of the store (one every ~80 s at 50,000 refreshes a
# second): the steady state the short rows may miss. 0 skips it.
SUSTAINED=${BENCH_SUSTAINED:-90s}
BASE=${BENCH_DIR:-/var/tmp}
# BENCH_PERSEC=1 also writes each load run's per-second p50/p99/max to
# BENCH_PERSEC_OUT (default /var/tmp/bench-lma-persec.txt), with the
# LMA's log (GODEBUG=gctrace=1 and its compaction lines) beside it, to
# match a spike to a collection or a compaction.
PERSEC=${BENCH_PERSEC:-0}
PERSEC_OUT=${BENCH_PERSEC_OUT:-/var/tmp/bench-lma-persec.txt}
# Extra pmip-lma flags, e.g. BENCH_LMA_FLAGS=-pprof=127.0.0.1:6060.
LMA_FLAGS=${BENCH_LMA_FLAGS:-}
# The Go runtime's soft memory limit of the LMA, as docs/pmip-lma.service
# sets it ("" for none).
MEMLIMIT=${BENCH_GOMEMLIMIT-900MiB}
# Scheduling priority of the LMA, the load generator and the echo server
# (nice(1) increment; e.g. -10 to keep other jobs on a shared host from
# taking their CPU: an appliance runs the LMA alone). Root only.
NICE=${BENCH_NICE:-0}

GCTRACE=
LOGLEVEL=warn
if [ "$PERSEC" = 1 ]; then
	GCTRACE=1
	LOGLEVEL=info
	: >"$PERSEC_OUT"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-lma: needs root (network namespace, raw sockets); skipped" >&2
	exit 0
fi

NS=pmipbench-$$
WORK=$(mktemp -d "$BASE/pmip-bench.XXXXXX")
LMA_PID=
ECHO_PID=
cleanup() {
	for p in $LMA_PID $ECHO_PID; do
		kill -9 "$p" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "== building" >&2
CGO_ENABLED=0 $GO build -trimpath -o "$WORK/bin/" ./cmd/pmip-lma ./cmd/pmipctl ./cmd/pmip-loadgen

ip netns add "$NS"
ip -n "$NS" link set lo up
for a in 1 2 11 12 13 14; do
	ip -n "$NS" addr add "2001:db8:b::$a/128" dev lo nodad
done
MAGS=2001:db8:b::11,2001:db8:b::12,2001:db8:b::13,2001:db8:b::14

cat >"$WORK/lma.conf" <<EOF
config lma 'main'
	option address '2001:db8:b::1'
	option state_dir '$WORK/state'
	option control_socket '$WORK/control.sock'
	option metrics_listen 'off'
	option log_level '$LOGLEVEL'
	option heartbeat_interval '0'
	option max_lifetime '86400'

config mag 'ap1'
	list address '2001:db8:b::11'
config mag 'ap2'
	list address '2001:db8:b::12'
config mag 'ap3'
	list address '2001:db8:b::13'
config mag 'ap4'
	list address '2001:db8:b::14'

config pool 'hnp'
	option prefix '2001:db8:4000::/34'
	option delegated_length '64'

config policy 'bench'
	option match '*@bench.example.net'
	option prefix_pool 'hnp'
EOF

inns() { ip netns exec "$NS" "$@"; }
ctl() { inns "$WORK/bin/pmipctl" -socket "$WORK/control.sock" "$@"; }
now_ms() { date +%s%3N; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.0f MiB", kb / 1024 }'; }

# start_lma DURABILITY
start_lma() {
	# Not through inns: $! must be the LMA itself (ip netns exec execs
	# it, env and nice exec too), for /proc/PID/status.
	ip netns exec "$NS" env GOMEMLIMIT="$MEMLIMIT" ${GCTRACE:+GODEBUG=gctrace=1} nice -n "$NICE" "$WORK/bin/pmip-lma" -config "$WORK/lma.conf" -dataplane none -durability "$1" ${LMA_FLAGS:+"$LMA_FLAGS"} 2>>"$WORK/lma.log" &
	LMA_PID=$!
	t0=$(now_ms)
	until ctl info >/dev/null 2>&1; do
		if ! kill -0 "$LMA_PID" 2>/dev/null; then
			cat "$WORK/lma.log" >&2
			echo "bench-lma: pmip-lma died" >&2
			exit 1
		fi
		sleep 0.05
	done
	START_MS=$(($(now_ms) - t0))
}

# wait_idle: until the LMA uses less than a tenth of a CPU over a second
# and runs no compaction child process (at most a minute): a fill or a
# restart leaves log segments whose compaction into a snapshot runs for a
# while; the rows measure the steady state, not that.
wait_idle() {
	hz=$(getconf CLK_TCK)
	prev=$(awk '{ print $14 + $15 }' "/proc/$LMA_PID/stat")
	for _ in $(seq 60); do
		sleep 1
		now=$(awk '{ print $14 + $15 }' "/proc/$LMA_PID/stat")
		if [ $((now - prev)) -lt $((hz / 10)) ] && ! pgrep -P "$LMA_PID" >/dev/null; then
			return
		fi
		prev=$now
	done
	echo "bench-lma: the LMA stayed busy for a minute; measuring anyway" >&2
}

load1() { cut -d' ' -f1 /proc/loadavg; }
# cpu_stat: the host's CPU time stolen by the hypervisor and its total,
# in ticks, from /proc/stat's cpu line (user nice system idle iowait irq
# softirq steal).
cpu_stat() { awk '$1 == "cpu" { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
# cpu_ticks PID: its user and system time, with its children's that ended.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
# row ARGS...: one load generator run; its line gains the load average,
# the answering process's CPU (the LMA's, with its compaction children
# once they have ended, or the echo server's) per answered PBU in µs, a
# figure the neighbours' load moves far less than latency, and the share
# of the host's CPU time the hypervisor gave to other guests during the
# row (steal: with tens of percent, this host's tail figures are the
# neighbours', not ours).
row() {
	srv=${LMA_PID:-$ECHO_PID}
	c0=$(cpu_ticks "$srv")
	s0=$(cpu_stat)
	k0=$(compactions)
	if [ "$PERSEC" = 1 ]; then
		echo "== $(date -u +%T) $*" >>"$PERSEC_OUT"
		line=$(inns nice -n "$NICE" "$WORK/bin/pmip-loadgen" -mag "$MAGS" -persec "$@" 2>>"$PERSEC_OUT")
	else
		line=$(inns nice -n "$NICE" "$WORK/bin/pmip-loadgen" -mag "$MAGS" "$@")
	fi
	c1=$(cpu_ticks "$srv")
	k1=$(compactions)
	compacted=-
	if [ -n "$k0" ] && [ -n "$k1" ]; then compacted=$((k1 - k0)); fi
	steal=$(echo "$s0 $(cpu_stat)" | awk '{ if ($4 > $2) printf "%.0f%%", 100 * ($3 - $1) / ($4 - $2); else print "-" }')
	cpu=$(echo "$line" | tail -n 1 | awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '{
		split(substr($0, 24), f, " ") # after the label column: PBUs, answered, ...
		if (f[2] + 0 > 0) printf "%.1f", d / hz * 1e6 / f[2]; else print "-"
	}')
	printf '%s  %-5s %-12s %-6s %s\n' "$line" "$(load1)" "$cpu" "$steal" "$compacted"
}
# compactions: how many the LMA's store has finished (none for the echo).
compactions() {
	if [ -n "${LMA_PID:-}" ]; then
		ctl counters 2>/dev/null | awk '$1 == "store_compactions" { print $2 }'
	fi
}
loadgen() { row -lma 2001:db8:b::1 "$@"; }

OUT=$WORK/table
{
	echo "pmip-lma benchmark: $N bindings, raw IPv6 MH socket on loopback, $(nproc) CPUs ($(uname -r)),"
	echo "WAL store on $(df -T "$WORK" | awk 'NR == 2 { print $2 }') ($WORK), data plane: none (no tunnel modules on this host),"
	echo "closed loop = $WINDOW PBUs in flight; open loop = paced at $RATE/s; latency PBU sent -> PBA arrived (kernel timestamp),"
	echo "p99@read to the load generator's read of it; load1 = the host's 1-minute load average as the row ended;"
	echo "cpu-µs/PBU = CPU time of the LMA (with its ended compaction children) or echo server per answered PBU;"
	echo "steal = the host's CPU time the hypervisor gave to other guests during the row (/proc/stat; tens of % and the tail is theirs);"
	echo "compactions = store compactions that ended during the row (each takes ~10 s in an idle-class child with 1M bindings);"
	echo "LMA GOMEMLIMIT=${MEMLIMIT:-none}, nice $NICE, timestamps on (TimestampValidityWindow 300 ms: a PBU queued longer is refused with 156)."
	echo "disk: a PBA leaves after its binding's fdatasync; kernel: after its write(2) (kill -9 loses nothing, the log is synced behind)."
	echo
} >"$OUT"

echo "== echo: the socket path's own limit" >&2
ip netns exec "$NS" nice -n "$NICE" "$WORK/bin/pmip-loadgen" -mode echo-server -lma 2001:db8:b::2 2>/dev/null &
ECHO_PID=$!
# The addresses' local routes come from a kernel workqueue: wait for them
# (and the echo server) before measuring anything.
for a in 1 2 11 12 13 14; do
	until ip -n "$NS" -6 route get "2001:db8:b::$a" 2>/dev/null | grep -q local; do sleep 0.05; done
done
sleep 0.3
{
	row -mode echo -lma 2001:db8:b::2 -n "$N" -window "$WINDOW" -duration "$DURATION" -header -label "echo closed" |
		sed '1s/$/  load1 cpu-µs\/PBU   steal  compactions/'
	row -mode echo -lma 2001:db8:b::2 -n "$N" -window 4096 -rate "$RATE" -duration "$DURATION" -label "echo $RATE/s"
} >>"$OUT"
kill -9 "$ECHO_PID"
wait "$ECHO_PID" 2>/dev/null || true
ECHO_PID=

echo "== pmip-lma (-durability disk): fill with $N registrations" >&2
start_lma disk
loadgen -mode register -n "$N" -window 256 -timeout 5s -label "register fill disk" >>"$OUT"
FILL_RSS=$(status_kb "$LMA_PID" VmRSS)
wait_idle
echo "== refresh, closed loop then open loop" >&2
loadgen -mode refresh -n "$N" -window "$WINDOW" -duration "$DURATION" -label "refresh closed disk" >>"$OUT"
for _ in $(seq "$PACED_RUNS"); do
	loadgen -mode refresh -n "$N" -window 4096 -rate "$RATE" -duration "$DURATION" -label "refresh $RATE/s disk" >>"$OUT"
done
BINDINGS=$(ctl counters | awk '$1 == "bindings" { print $2 }')
RSS1=$(status_kb "$LMA_PID" VmRSS)
HWM1=$(status_kb "$LMA_PID" VmHWM)

echo "== kill -9, recovery, then -durability kernel" >&2
kill -9 "$LMA_PID"
wait "$LMA_PID" 2>/dev/null || true
STORE=$(du -sk "$WORK/state" | awk '{ print $1 }')
start_lma kernel
REC_MS=$START_MS
RECOVERED=$(ctl counters | awk '$1 == "bindings" { print $2 }')
REC_HWM=$(status_kb "$LMA_PID" VmHWM)
wait_idle
for _ in $(seq "$PACED_RUNS"); do
	loadgen -mode refresh -n "$N" -window 4096 -rate "$RATE" -duration "$DURATION" -label "refresh $RATE/s kernel" >>"$OUT"
done
if [ "$SUSTAINED" != 0 ]; then
	loadgen -mode refresh -n "$N" -window 4096 -rate "$RATE" -duration "$SUSTAINED" -label "kernel $RATE/s for $SUSTAINED" >>"$OUT"
fi
loadgen -mode refresh -n "$N" -window "$WINDOW" -duration "$DURATION" -label "refresh closed kernel" >>"$OUT"
RSS=$(status_kb "$LMA_PID" VmRSS)
HWM=$(status_kb "$LMA_PID" VmHWM)

{
	echo
	echo "bindings in the cache:          $BINDINGS"
	echo "LMA VmRSS after the fill:       $(mib "$FILL_RSS")"
	echo "LMA VmRSS / VmHWM, disk rows:   $(mib "$RSS1") / $(mib "$HWM1")   (target <= 1 GiB)"
	echo "store on disk after load:       $(mib "$STORE")"
	echo "restart after kill -9:          $RECOVERED bindings back, control socket answering after ${REC_MS} ms, VmHWM $(mib "$REC_HWM")"
	echo "LMA VmRSS / VmHWM, kernel rows: $(mib "$RSS") / $(mib "$HWM")   (since the restart)"
	echo "load average at the end:        $(cut -d' ' -f1-3 /proc/loadavg)   (other work on the host skews every figure)"
} >>"$OUT"
cat "$OUT"
if [ "$PERSEC" = 1 ]; then
	{
		echo "== the LMA's log (gctrace, compactions)"
		cat "$WORK/lma.log"
	} >>"$PERSEC_OUT"
	echo "per-second figures and the LMA's log: $PERSEC_OUT"
fi
