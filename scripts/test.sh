#!/bin/bash
# make test: every test tier, each timed.
#
#   tier 1  unit        no root; engines against fakes, codecs, fuzz seeds
#   tier 2  namespaces  root on the host kernel (skips without root)
#   tier 3  QEMU        a stock Debian kernel under TCG (testing/qemu),
#                       amd64 and mipsel guests
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh

GO=${GO:-go}
start=$(date +%s)
echo "== tier 1+2: unit and namespace tests"
$GO test -count=1 ./...
mid=$(date +%s)
echo "== tier 3: QEMU guests with a stock Debian kernel"
# -v for the harness's timings (image, boot, per package); the guest's own
# passing subtests are folded away, everything else (failures) shows.
PMIP_QEMU=1 $GO test -count=1 -v -timeout 40m ./testing/qemu/... |
	grep -Ev '^ {8,}(--- PASS|=== (RUN|PAUSE|CONT))'
end=$(date +%s)
echo "== times: tier 1+2 $((mid - start)) s, tier 3 $((end - mid)) s"
