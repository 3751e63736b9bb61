#!/bin/sh
# make bench: Go benchmarks of every package, then the standalone budget
# figures (binary sizes, LMA throughput, MAG memory) as they are built.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
echo "== go benchmarks"
$GO test -run '^$' -bench . -benchmem ./...
