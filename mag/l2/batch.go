package l2

import (
	"encoding/binary"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of sendmmsg(2): Go's natural layout matches
// the C one on every Linux port (the trailing padding included).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// WriteFrames implements Conn: the frames leave in order in one
// sendmmsg(2), so no other task runs between them unless the kernel
// preempts the system call itself. A SOCK_RAW packet socket sends any
// frame whatever protocol it is bound to (packet(7)); each message names
// its frame's own EtherType as sll_protocol, so the kernel's skb carries
// the right protocol (an ARP frame written on the IPv6 socket is ARP).
// It returns the first error; the frames before it were sent.
func (s *Socket) WriteFrames(frames [][]byte) error {
	switch len(frames) {
	case 0:
		return nil
	case 1:
		return s.WriteFrame(frames[0])
	}
	msgs := make([]mmsghdr, len(frames))
	addrs := make([]unix.RawSockaddrLinklayer, len(frames))
	iovs := make([]unix.Iovec, len(frames))
	for i, f := range frames {
		if len(f) < EthernetHeaderLen {
			return fmt.Errorf("l2: write: frame %d of %d bytes: %w", i, len(f), ErrMalformed)
		}
		a := &addrs[i]
		a.Family = unix.AF_PACKET
		// sll_protocol is in network byte order: the frame's bytes as
		// they are, read in the host's order.
		a.Protocol = binary.NativeEndian.Uint16(f[12:14])
		if binary.BigEndian.Uint16(f[12:14]) == EtherTypeVLAN {
			a.Protocol = 0 // the kernel parses the header (packet_parse_headers)
		}
		a.Ifindex = int32(s.ifindex)
		a.Halen = 6
		copy(a.Addr[:], f[0:6])
		iovs[i].Base = &f[0]
		iovs[i].SetLen(len(f))
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(a))
		msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(*a))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	rc, err := s.c.SyscallConn()
	if err != nil {
		if s.closed.Load() {
			return fmt.Errorf("l2: write: %w", net.ErrClosed)
		}
		return fmt.Errorf("l2: write: %w", err)
	}
	sent := 0
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		for sent < len(msgs) {
			n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[sent])),
				uintptr(len(msgs)-sent), 0, 0, 0)
			switch {
			case errno == unix.EAGAIN:
				return false // the poller waits until the socket is writable
			case errno == unix.EINTR:
				continue
			case errno != 0:
				serr = errno
				return true
			}
			sent += int(n)
		}
		return true
	})
	if werr == nil {
		werr = serr
	}
	if werr != nil {
		if s.closed.Load() {
			return fmt.Errorf("l2: write %d of %d frames: %w", sent, len(frames), net.ErrClosed)
		}
		return fmt.Errorf("l2: write: %d of %d frames sent: %w", sent, len(frames), werr)
	}
	return nil
}
