#!/bin/sh
# make test: every test tier, each timed.
#
#   tier 1  unit        no root; engines against fakes, codecs, fuzz seeds
#   tier 2  namespaces  root on the host kernel (skips without root)
#   tier 3  QEMU        a stock Debian kernel under TCG (testing/qemu)
set -eu
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh

GO=${GO:-go}
start=$(date +%s)
echo "== tier 1+2: unit and namespace tests"
$GO test -count=1 ./...
mid=$(date +%s)
echo "== tier 3: QEMU guest with a stock Debian kernel"
PMIP_QEMU=1 $GO test -count=1 -timeout 40m ./testing/qemu/...
end=$(date +%s)
echo "== times: tier 1+2 $((mid - start)) s, tier 3 $((end - mid)) s"
