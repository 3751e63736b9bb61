#!/bin/sh
# make demo: the emulated PMIPv6 domain end to end, in one QEMU guest with
# a stock Debian kernel (testing/qemu), narrated, with the figures it
# measured: scenarios 1-3 (attach dual stack, handover, detach).
#
#        CN ── LMA ══ tunnel ══ MAG1/AP1 ))) hwsim (((
#                 ╚══ tunnel ══ MAG2/AP2 ))) hwsim ((( client (WPA2-EAP)
#
# DEMO_RUNS=N repeats it and prints the figures of every run side by side.
set -eu
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
exec go run ./testing/qemu/cmd/pmip-demo -runs "${DEMO_RUNS:-1}"
