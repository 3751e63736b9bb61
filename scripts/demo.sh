#!/bin/sh
# make demo: the emulated PMIPv6 domain end to end.
#
#   LMA ==tunnel== MAG1 (AP1, hwsim radio) ~~ client
#          \====== MAG2 (AP2, hwsim radio)
#   correspondent node behind the LMA
#
# Runs in a QEMU guest with a stock Debian kernel (testing/qemu).
set -eu
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
echo "openpmip demo"
echo "Not built yet: the MAG and LMA daemons and the emulated domain (issues 3-5)."
echo "What exists and runs now: the shared foundation; running its tests."
go test -count=1 ./internal/...
