#!/bin/busybox sh
# shellcheck shell=sh
# /init of the openpmip QEMU guest (test tier 3), PID 1:
#
#   kernel -> /init: /proc /sys /dev /run /tmp, busybox applets in /bb,
#             boot modules (virtio, 9p), every 9p share at /mnt/<tag>
#          -> /run/pmip-agent (copied from /mnt/share)
#                  <== virtio-serial "pmip.ctl" ==>  host harness
#          -> power off when the agent exits
#
# The shell stays PID 1 while the agent runs, so it reaps orphaned
# processes. Its busybox applets sit last on PATH: busybox sh would
# otherwise run its cut-down `ip` instead of iproute2's.
bb=/bin/busybox
fail() {
	echo "pmip-init: $*" >&2
	$bb poweroff -f
}
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mkdir -p /dev/pts /dev/shm /bb
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
$bb mount -t tmpfs tmpfs /run
$bb mount -t tmpfs tmpfs /tmp
$bb mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
$bb --install -s /bb
$bb hostname pmip-guest

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb
LD_LIBRARY_PATH=$($bb cat /etc/pmip/ld-library-path)
HOME=/root
PMIP_VM=1
export PATH LD_LIBRARY_PATH HOME PMIP_VM

echo /sbin/modprobe >/proc/sys/kernel/modprobe
# shellcheck disable=SC2046 # one module name per word
/sbin/modprobe -a $($bb cat /etc/pmip/modules) || fail "loading boot modules failed"

for tagfile in /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; do
	[ -e "$tagfile" ] || continue
	tag=$($bb tr -d '\000' <"$tagfile")
	$bb mkdir -p "/mnt/$tag"
	$bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "$tag" "/mnt/$tag" ||
		fail "mounting 9p share $tag failed"
done
[ -x /mnt/share/pmip-agent ] || fail "no /mnt/share/pmip-agent: the harness shares it"
$bb ip link set lo up

# Executables run from tmpfs, not from 9p: the Malta kernel fails to exec
# from a 9p mount (ENOTSOCK); amd64 does it, but one way for all is simpler.
$bb cp /mnt/share/pmip-agent /run/pmip-agent || fail "copying the agent failed"
/run/pmip-agent
fail "pmip-agent exited with status $?"
