#!/bin/bash
# make test: every test tier, each timed.
#
#   tier 1  unit        no root; engines against fakes, codecs, fuzz seeds
#   tier 2  namespaces  root on the host kernel (skips without root)
#   tier 3  QEMU        a stock Debian kernel under TCG (testing/qemu),
#                       amd64 and mipsel guests, the end-to-end scenarios
#
# Tier 3 runs as two workers, so that neither core idles while the other
# has work (each guest is one TCG thread):
#
#   worker 1: go test testing/qemu/... (not scenarios; 2 guests at once) ─┐
#             then scenarios from the queue ─────────────────────────────┤ both until
#   worker 2: scenarios from the queue (one guest at a time) ────────────┘ the queue is empty
#
# The scenarios package is built once (results/scenarios.test) and each of
# its top-level tests is one queue entry, run alone by whichever worker is
# free. At most three guests run at once, as when the two packages ran side
# by side, and the scenarios no longer finish alone on one core.
#
# Tier 3 runs emulated machines on a shared, loaded host: a top-level test
# that fails is run once more on its own, and if it then passes it is
# reported as FLAKY (named, with its first failure's output kept in
# results/flaky-tier3.log) rather than hidden. Failing twice fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh

GO=${GO:-go}
start=$(date +%s)
# PMIP_TIER3_ONLY=1 runs the QEMU tier alone (a re-run after a fix).
if [ "${PMIP_TIER3_ONLY:-}" != 1 ]; then
	echo "== tier 1+2: unit and namespace tests"
	$GO test -count=1 ./...
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

scen=./testing/qemu/scenarios
other=$($GO list ./testing/qemu/... | grep -v '/testing/qemu/scenarios$')
if ! $GO test -c -o "$work/scenarios.test" "$scen" >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	echo "== tier 3 failed outside any test (build of $scen): not retried"
	exit 1
fi
"$work/scenarios.test" -test.list '^Test' >"$work/queue"

# next prints the next queued test and removes it (empty when none is left).
next() {
	{
		flock 9
		head -n 1 "$work/queue"
		sed -i 1d "$work/queue"
	} 9>"$work/queue.lock"
}

# scenarios runs queued scenario tests until none is left; a failure is
# recorded in $work/failed.
scenarios() {
	local t out bin=$PWD/$work/scenarios.test
	while t=$(next) && [ -n "$t" ]; do
		echo "== tier 3: $t"
		out="$work/$t.out"
		# In the package's folder, as go test runs it.
		(cd "$scen" && PMIP_QEMU=1 "$bin" -test.count=1 -test.v -test.timeout 30m -test.run "^$t\$") >"$out" 2>&1 ||
			echo "$t" >>"$work/failed"
		emit "$out"
	done
}

worker1() {
	echo "== tier 3: packages:" "$(echo "$other" | paste -sd" " -)"
	# shellcheck disable=SC2086 # one argument per package
	PMIP_QEMU=1 $GO test -count=1 -v -timeout 40m $other >"$work/packages.out" 2>&1 ||
		echo packages >>"$work/failed"
	emit "$work/packages.out"
	scenarios
}

worker1 &
w1=$!
scenarios &
w2=$!
wait "$w1" "$w2"

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
