#!/bin/bash
# make test: every test tier, each timed.
#
#   tier 1  unit        no root; engines against fakes, codecs, fuzz seeds
#   tier 2  namespaces  root on the host kernel (skips without root)
#   tier 3  QEMU        a stock Debian kernel under TCG (testing/qemu),
#                       amd64 and mipsel guests, the end-to-end scenarios
#
# Tier 3 is a queue of top-level tests, one entry per test of the two
# packages that boot guests, run by workers (one more than the cores, as
# each guest is one TCG thread and scenarios also wait on timers):
#
#   build once: results/.tier3/{qemu,scenarios}.test
#   queue:      testing/qemu TestX ... testing/qemu/scenarios TestY ...
#               (longest first by the last run's results/tier3-times)
#   worker 1:   the small packages (no guests), then the queue ─┐
#   worker 2:   the queue ──────────────────────────────────────┤ until it is empty
#   worker 3:   the queue ──────────────────────────────────────┘
#
# So no core idles while one long package finishes alone, and the longest
# tests (the mipsel dataplane run, the demo) start first.
#
# Tier 3 runs emulated machines on a shared, loaded host: a top-level test
# that fails is run once more on its own, and if it then passes it is
# reported as FLAKY (named, with its first failure's output kept in
# results/flaky-tier3.log) rather than hidden. Failing twice fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-test-deps.sh

GO=${GO:-go}
start=$(date +%s)
# PMIP_TIER3_ONLY=1 runs the QEMU tier alone (a re-run after a fix).
if [ "${PMIP_TIER3_ONLY:-}" != 1 ]; then
	echo "== tier 1+2: unit and namespace tests"
	mkdir -p results
	if ! $GO test -count=1 ./... 2>&1 | tee results/tier12.log; then
		# As tier 3 below: a failed top-level test runs once more, alone in
		# its package, and passing then is reported FLAKY (first output kept
		# in results/flaky-tier12.log). A package that failed with no test
		# named (a build error, a panic outside tests) is not retried.
		retry_ok=1
		failed=$(awk '/^FAIL[ \t]/ && NF >= 2 { print $2 }' results/tier12.log | sort -u)
		[ -n "$failed" ] || { echo "== tier 1+2 failed outside any package: not retried"; exit 1; }
		for pkg in $failed; do
			tests=$(awk -v p="$pkg" '
				/^--- FAIL: / { t[++n] = $3 }
				/^(FAIL|ok)[ \t]/ { if ($2 == p) { for (i = 1; i <= n; i++) print t[i]; exit } n = 0 }
			' results/tier12.log | paste -sd'|')
			if [ -z "$tests" ]; then
				echo "== tier 1+2: $pkg failed outside any named test: not retried"
				retry_ok=0
				continue
			fi
			echo "== tier 1+2: retrying $pkg ($tests) once, alone"
			if $GO test -count=1 -run "^($tests)\$" "$pkg"; then
				echo "== FLAKY: $pkg $tests (failed, then passed alone)"
				cp results/tier12.log results/flaky-tier12.log
			else
				retry_ok=0
			fi
		done
		[ "$retry_ok" = 1 ] || exit 1
	fi
fi
mid=$(date +%s)

echo "== tier 3: QEMU guests with a stock Debian kernel"
mkdir -p results
log=results/tier3.log
work=results/.tier3
rm -rf "$work"
mkdir -p "$work"
: >"$log"
# -v for the harness's timings (image, boot, per package); the guest's own
# passing subtests are folded away, everything else (failures) shows.
fold() { grep -Ev '^ {8,}(--- PASS|=== (RUN|PAUSE|CONT))' || true; }
# emit appends a finished part's output to the log and the terminal, one
# part at a time.
emit() {
	{
		flock 9
		cat "$1" >>"$log"
		fold <"$1"
	} 9>"$work/out.lock"
}

vmpkgs="testing/qemu testing/qemu/scenarios"
other=$($GO list ./testing/qemu/... | grep -Ev '/testing/qemu(/scenarios)?$')
: >"$work/queue"
for d in $vmpkgs; do
	if ! $GO test -c -o "$work/${d##*/}.test" "./$d" >"$work/build.log" 2>&1; then
		cat "$work/build.log"
		echo "== tier 3 failed outside any test (build of ./$d): not retried"
		exit 1
	fi
	"$work/${d##*/}.test" -test.list '^Test' | sed "s|^|$d |" >>"$work/queue"
done
times=results/tier3-times # "<seconds> <package> <test>" of the last run
if [ -s "$times" ]; then
	# Longest first; a test the last run did not have goes first too.
	awk 'NR == FNR { d[$2 " " $3] = $1; next } { print (($0 in d) ? d[$0] : 1e9), $0 }' "$times" "$work/queue" |
		sort -s -k1,1 -rn | cut -d' ' -f2- >"$work/queue.sorted"
	mv "$work/queue.sorted" "$work/queue"
fi

# next prints the next queued entry and removes it (empty when none is left).
next() {
	{
		flock 9
		head -n 1 "$work/queue"
		sed -i 1d "$work/queue"
	} 9>"$work/queue.lock"
}

# drain runs queued tests until none is left, each alone in its package's
# folder (as go test runs it); a failure is recorded in $work/failed.
drain() {
	local e d t out t0
	while e=$(next) && [ -n "$e" ]; do
		d=${e% *} t=${e#* }
		echo "== tier 3: [worker $1] $t"
		out="$work/${d##*/}-$t.out"
		t0=$(date +%s)
		(cd "$d" && PMIP_QEMU=1 "$root/$work/${d##*/}.test" -test.count=1 -test.v -test.timeout 30m -test.run "^$t\$") >"$out" 2>&1 ||
			echo "$t" >>"$work/failed"
		echo "$(($(date +%s) - t0)) $e" >>"$work/times"
		emit "$out"
	done
}

worker1() {
	# shellcheck disable=SC2086 # one argument per package
	$GO test -count=1 -v -timeout 10m $other >"$work/packages.out" 2>&1 ||
		echo packages >>"$work/failed"
	emit "$work/packages.out"
	drain 1
}

workers=${PMIP_TIER3_WORKERS:-$(($(nproc) + 1))}
worker1 &
pids=$!
for ((k = 2; k <= workers; k++)); do
	drain "$k" &
	pids="$pids $!"
done
# shellcheck disable=SC2086 # one argument per worker
wait $pids
cp "$work/times" "$times"

status=0
[ -s "$work/failed" ] && status=1
if [ "$status" -ne 0 ]; then
	failed=$(grep -E '^--- FAIL: Test' "$log" | awk '{print $3}' | sort -u | paste -sd'|' -)
	if [ -z "$failed" ]; then
		echo "== tier 3 failed outside any test (build or harness): not retried"
		exit 1
	fi
	cp "$log" results/flaky-tier3.log
	# The harness clears a test's results folder when it boots again: keep
	# the first failure's logs and pcaps for diagnosis.
	for t in ${failed//|/ }; do
		if [ -d "results/$t" ]; then
			rm -rf "results/flaky-first-$t"
			mv "results/$t" "results/flaky-first-$t"
		fi
	done
	echo "== tier 3: retrying once, alone: $failed"
	PMIP_QEMU=1 $GO test -count=1 -v -timeout 30m -run "^($failed)\$" ./testing/qemu/... 2>&1 | fold
	echo "== FLAKY: $failed failed once and passed alone; first run's log: results/flaky-tier3.log, its guest logs: results/flaky-first-*"
fi
end=$(date +%s)
echo "== times: tier 1+2 $((mid - start)) s, tier 3 $((end - mid)) s"
