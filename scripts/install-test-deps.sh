#!/bin/sh
# Installs, on a fresh Debian 12 machine as root, what the test tiers need:
#
#   tier 1 (unit)        : Go only
#   tier 2 (namespaces)  : iproute2, ping, nftables, busybox udhcpc, ISC dhclient, tshark
#   tier 3 (QEMU)        : qemu-system-x86, qemu-system-mips, busybox-static, kmod, cpio, xz
#   lint                 : shellcheck
#
# Idempotent and quick when everything is present. Kernel images and guest
# packages are fetched by testing/qemu itself and cached.
set -eu

pkgs="iproute2 iputils-ping nftables udhcpc isc-dhcp-client tshark qemu-system-x86 qemu-system-mips qemu-user-static busybox-static kmod cpio xz-utils shellcheck"

if [ "$(id -u)" != 0 ]; then
	echo "install-test-deps: not root; privileged tiers will skip" >&2
	exit 0
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-test-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the default answer is fine.
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
