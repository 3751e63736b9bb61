package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgIO moves batches with recvmmsg(2) and sendmmsg(2) called directly on
// the socket (through syscall.RawConn, so the runtime's poller still does
// the waiting). Unlike x/net's ReadBatch, which allocates a net.IPAddr or
// net.UDPAddr for every message received, it decodes source addresses
// from its own sockaddr scratch into netip values: a steady-state batch
// allocates nothing. It also reads the kernel's receive timestamp of each
// message (SO_TIMESTAMPNS) when asked to.
type mmsgIO struct {
	rc   syscall.RawConn
	size int
	v4   bool // an AF_INET socket (the UDP carrier), else AF_INET6
	ts   bool // timestamps were turned on: read them from the control data

	reads  sync.Pool // *mmsgScratch
	writes sync.Pool // *mmsgScratch

	zones zoneCache
}

// mmsgScratch is one call's kernel-facing memory: message headers, their
// one-entry iovecs, the sockaddrs and the control buffers. It holds the
// caller's buffers only during a call.
type mmsgScratch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for an AF_INET one too
	oob   []byte                  // oobSpace bytes per message, reads only

	// The system call, as the function syscall.RawConn wants, made once:
	// a closure made per call would be allocated per call. k is the
	// number of headers to pass, n and err what the call returned.
	recv, send func(fd uintptr) bool
	k, n       int
	err        error
}

// mmsg calls recvmmsg or sendmmsg on s.hdrs[:s.k]. It returns false to
// make the runtime wait for the socket to be ready (EAGAIN).
func (s *mmsgScratch) mmsg(trap, fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.k), 0, 0, 0)
		switch e {
		case 0:
			s.n, s.err = int(r), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.n, s.err = 0, e
		return true
	}
}

// oobSpace is the control data room per message: one timestamp (the
// 64-bit timespec of SCM_TIMESTAMPNS_NEW, the largest form) with room to
// spare for a second header should the kernel add one.
var oobSpace = unix.CmsgSpace(16) * 2

func newMmsgIO(rc syscall.RawConn, size int, v4, ts bool) *mmsgIO {
	m := &mmsgIO{rc: rc, size: size, v4: v4, ts: ts}
	alloc := func(oob bool) *mmsgScratch {
		s := &mmsgScratch{
			hdrs:  make([]unix.Mmsghdr, size),
			iovs:  make([]unix.Iovec, size),
			names: make([]unix.RawSockaddrInet6, size),
		}
		if oob {
			s.oob = make([]byte, size*oobSpace)
		}
		s.recv = func(fd uintptr) bool { return s.mmsg(unix.SYS_RECVMMSG, fd) }
		s.send = func(fd uintptr) bool { return s.mmsg(unix.SYS_SENDMMSG, fd) }
		return s
	}
	m.reads.New = func() any { return alloc(ts) }
	m.writes.New = func() any { return alloc(false) }
	return m
}

// enableTimestamps asks the kernel to stamp every received message with
// its arrival time (socket(7) SO_TIMESTAMPNS). The _NEW form (Linux 5.1)
// carries a 64-bit time on every architecture, which matters on the
// 32-bit ones the MAG runs on; older kernels get the classic form. It
// reports whether either worked: timestamps are a measurement aid, and a
// kernel (or emulator: qemu-user) without them leaves Message.Time zero
// rather than the socket unusable.
func enableTimestamps(rc syscall.RawConn) bool {
	err := controlSockopt(rc, func(fd uintptr) error {
		err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1)
		if err != nil {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1)
		}
		return err
	})
	return err == nil
}

// readBatch fills msgs[:n] with at most m.size messages (one system call).
func (m *mmsgIO) readBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if len(msgs) > m.size {
		msgs = msgs[:m.size]
	}
	s := m.reads.Get().(*mmsgScratch)
	defer m.reads.Put(s)
	k := len(msgs)
	for i := range msgs {
		h := &s.hdrs[i]
		*h = unix.Mmsghdr{}
		setIov(&s.iovs[i], msgs[i].Buf)
		h.Hdr.Iov = &s.iovs[i]
		h.Hdr.SetIovlen(1)
		h.Hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		h.Hdr.Namelen = uint32(unsafe.Sizeof(s.names[i]))
		if s.oob != nil {
			h.Hdr.Control = &s.oob[i*oobSpace]
			h.Hdr.SetControllen(oobSpace)
		}
	}
	s.k, s.n, s.err = k, 0, nil
	err := m.rc.Read(s.recv)
	n := s.n
	if err == nil {
		err = s.err
	}
	for i := range k {
		s.iovs[i] = unix.Iovec{} // do not keep the caller's buffers alive
	}
	if err != nil {
		return 0, wrapClosed("read batch", osErr("recvmmsg", err))
	}
	for i := range n {
		h := &s.hdrs[i]
		msgs[i].N = int(h.Len)
		msgs[i].Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		if msgs[i].N > len(msgs[i].Buf) {
			msgs[i].N = len(msgs[i].Buf)
		}
		msgs[i].Addr = m.source(&s.names[i])
		msgs[i].Time = time.Time{}
		if s.oob != nil {
			msgs[i].Time = parseTimestamp(s.oob[i*oobSpace : i*oobSpace+int(h.Hdr.Controllen)])
		}
	}
	return n, nil
}

// writeBatch sends every message, as many system calls as it takes.
// op names the operation in errors ("write" for WriteTo).
func (m *mmsgIO) writeBatch(op string, msgs []Message, check func(netip.AddrPort) error) (int, error) {
	sent := 0
	s := m.writes.Get().(*mmsgScratch)
	defer m.writes.Put(s)
	for sent < len(msgs) {
		chunk := msgs[sent:]
		if len(chunk) > m.size {
			chunk = chunk[:m.size]
		}
		for i, msg := range chunk {
			if msg.N < 0 || msg.N > len(msg.Buf) || msg.N > MaxMessageLen {
				clear(s.iovs[:i])
				return sent + i, fmt.Errorf("transport: batch entry %d: %w", sent+i, ErrMessageTooLong)
			}
			if err := check(msg.Addr); err != nil {
				clear(s.iovs[:i])
				return sent + i, fmt.Errorf("transport: batch entry %d: %w", sent+i, err)
			}
			h := &s.hdrs[i]
			*h = unix.Mmsghdr{}
			setIov(&s.iovs[i], msg.Buf[:msg.N])
			h.Hdr.Iov = &s.iovs[i]
			h.Hdr.SetIovlen(1)
			h.Hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
			h.Hdr.Namelen = m.setDest(&s.names[i], msg.Addr)
		}
		n, err := m.sendmmsg(s, len(chunk))
		clear(s.iovs[:len(chunk)])
		sent += n
		if err != nil {
			return sent, wrapClosed(op, osErr("sendmmsg", err))
		}
		if n == 0 {
			return sent, errors.New("transport: write batch: kernel sent nothing")
		}
	}
	return sent, nil
}

// sendmmsg sends s.hdrs[:k] and returns how many left. sendmmsg(2)
// reports an error only when the first message fails; after a later
// failure it returns the count, and the next call (starting with the
// failed message) reports the error.
func (m *mmsgIO) sendmmsg(s *mmsgScratch, k int) (int, error) {
	s.k, s.n, s.err = k, 0, nil
	err := m.rc.Write(s.send)
	if err == nil {
		err = s.err
	}
	return s.n, err
}

func setIov(v *unix.Iovec, b []byte) {
	if len(b) == 0 {
		*v = unix.Iovec{}
		return
	}
	v.Base = &b[0]
	v.SetLen(len(b))
}

// source decodes a received sockaddr.
func (m *mmsgIO) source(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && a.Is6() {
			a = a.WithZone(m.zones.name(sa.Scope_id))
		}
		// A raw socket puts the protocol number in sin6_port; only the
		// UDP carrier has ports.
		port := uint16(0)
		if m.v4 {
			port = ntohs(sa.Port)
		}
		return netip.AddrPortFrom(a, port)
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	}
	return netip.AddrPort{}
}

// setDest encodes a destination and returns its length.
func (m *mmsgIO) setDest(sa *unix.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	a := ap.Addr()
	if m.v4 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(ap.Port()), Addr: a.Unmap().As4()}
		return uint32(unsafe.Sizeof(*sa4))
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	if z := a.Zone(); z != "" {
		sa.Scope_id = m.zones.index(z)
	}
	return uint32(unsafe.Sizeof(*sa))
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) uint16 {
	var r uint16
	b := (*[2]byte)(unsafe.Pointer(&r))
	b[0], b[1] = byte(p>>8), byte(p)
	return r
}

// parseTimestamp finds the receive timestamp in a message's control data
// (cmsg(3) layout), zero if there is none.
func parseTimestamp(oob []byte) time.Time {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return time.Time{}
		}
		data := oob[hdr:l]
		if h.Level == unix.SOL_SOCKET {
			switch h.Type {
			case unix.SO_TIMESTAMPNS_NEW:
				// struct __kernel_timespec: two 64-bit fields.
				if len(data) >= 16 {
					sec := *(*int64)(unsafe.Pointer(&data[0]))
					nsec := *(*int64)(unsafe.Pointer(&data[8]))
					return time.Unix(sec, nsec)
				}
			case unix.SO_TIMESTAMPNS_OLD:
				// struct timespec of the architecture.
				var ts unix.Timespec
				if len(data) >= int(unsafe.Sizeof(ts)) {
					ts = *(*unix.Timespec)(unsafe.Pointer(&data[0]))
					return time.Unix(int64(ts.Sec), int64(ts.Nsec))
				}
			}
		}
		next := unix.CmsgSpace(l - hdr)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return time.Time{}
}

// osErr names the system call in an errno, as net's errors do, keeping
// errors.Is(err, syscall.EXXX) and net.ErrClosed working.
func osErr(call string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &net.OpError{Op: call, Net: "ip", Err: errno}
	}
	return err
}

// zoneCache maps interface indexes to names and back for link-local
// addresses, so that a steady stream from one link costs no lookups.
type zoneCache struct {
	mu     sync.Mutex
	names  map[uint32]string // guarded by mu
	byName map[string]uint32 // guarded by mu
}

func (z *zoneCache) name(idx uint32) string {
	z.mu.Lock()
	defer z.mu.Unlock()
	if s, ok := z.names[idx]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(idx), 10)
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		s = ifi.Name
	}
	if z.names == nil {
		z.names = map[uint32]string{}
	}
	z.names[idx] = s
	return s
}

func (z *zoneCache) index(name string) uint32 {
	z.mu.Lock()
	defer z.mu.Unlock()
	if i, ok := z.byName[name]; ok {
		return i
	}
	var idx uint32
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		idx = uint32(n)
	} else if ifi, err := net.InterfaceByName(name); err == nil {
		idx = uint32(ifi.Index)
	}
	if idx == 0 {
		return 0 // unknown now: do not cache, the interface may appear
	}
	if z.byName == nil {
		z.byName = map[string]uint32{}
	}
	z.byName[name] = idx
	return idx
}

// newBatch returns the Linux batch I/O of socket c, with kernel receive
// timestamps turned on when asked and available.
func newBatch(c syscall.Conn, _ batcher, size int, udp, timestamps bool) (batchRW, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	if timestamps {
		timestamps = enableTimestamps(rc)
	}
	return newMmsgIO(rc, size, udp, timestamps), nil
}
