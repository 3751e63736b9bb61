#!/bin/sh
# make fuzz: runs every native fuzz target in the module for FUZZTIME each
# (default 60s) and prints executions per target. Go keeps the inputs it
# finds interesting in $(go env GOCACHE)/fuzz; only a failing input is
# written to the package's testdata/fuzz (commit it with its fix).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
for pkg in $($GO list ./...); do
	for target in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target ($FUZZTIME)"
		$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 |
			grep -E 'fuzz: elapsed|^(ok|FAIL|---)|panic' | tail -n 3
	done
done
