package transport

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// msgTrunc is the recvmsg flag saying the datagram did not fit.
const msgTrunc = unix.MSG_TRUNC

// setMHChecksum makes the kernel compute the Mobility Header checksum on
// send and verify it on receive, dropping bad messages (RFC 6275 6.1.1
// defines the checksum; RFC 3542 3.1 the IPV6_CHECKSUM socket option). Linux takes it at level SOL_RAW (IPPROTO_RAW, 255) as
// well as SOL_IPV6; SOL_RAW is the one measured on this project's kernels
// and under qemu-mipsel. Linux already turns this on for every IPPROTO_MH
// raw socket (rawv6_init_sk, offset 4); setting it explicitly keeps the
// guarantee from resting on that default.
func setMHChecksum(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_RAW, unix.IPV6_CHECKSUM, ChecksumOffset); err != nil {
		return fmt.Errorf("transport: setsockopt IPV6_CHECKSUM %d: %w", ChecksumOffset, err)
	}
	return nil
}
