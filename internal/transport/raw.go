package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
)

// RawConn carries Mobility Headers directly over IPv6 (next header 135,
// RFC 6275 6.1), the native PMIPv6 transport (RFC 5213 6 and 5). It needs
// CAP_NET_RAW.
//
// The kernel computes the checksum of every message sent and verifies the
// checksum of every message received, dropping bad ones, because the
// socket sets IPV6_CHECKSUM at ChecksumOffset (RFC 6275 6.1.1: the
// checksum covers the IPv6 pseudo-header of RFC 8200 8.1 and the whole
// Mobility Header). Reads return the Mobility Header without the IPv6
// header; sources carry port 0.
type RawConn struct {
	c     *net.IPConn
	local netip.AddrPort
	b     batchRW
	size  int
	once  sync.Once
	err   error
}

var _ Conn = (*RawConn)(nil)

// ListenRaw opens a raw Mobility Header socket bound to laddr, which must
// be an IPv6 address (the unspecified address :: receives on all of them;
// a link-local one needs its zone). Raw sockets see every Mobility Header
// the host receives for the bound address, so a daemon opens one. Bind
// the daemon's own signalling address (the LMAA, the Proxy-CoA) rather
// than ::, so that replies leave from the address the peer wrote to: an
// unbound socket lets the kernel choose the source by route.
func ListenRaw(laddr netip.Addr, o Options) (*RawConn, error) {
	size, err := o.batchSize()
	if err != nil {
		return nil, err
	}
	if !laddr.IsValid() {
		laddr = netip.IPv6Unspecified()
	}
	if !laddr.Is6() || laddr.Is4In6() {
		return nil, fmt.Errorf("transport: listen raw on %v: %w", laddr, ErrAddressFamily)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		// Set before bind so no message is ever received unverified.
		return controlSockopt(rc, setMHChecksum)
	}}
	pc, err := lc.ListenPacket(context.Background(), "ip6:"+strconv.Itoa(ProtoMH), laddr.String())
	if err != nil {
		return nil, fmt.Errorf("transport: listen raw: %w", err)
	}
	c := pc.(*net.IPConn)
	if err := setBuffers(c, o); err != nil {
		c.Close()
		return nil, err
	}
	b, err := newBatch(c, ipv6.NewPacketConn(c), size, false, o.Timestamps)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &RawConn{c: c, local: netip.AddrPortFrom(laddr, 0), b: b, size: size}, nil
}

// ReadFrom implements Conn.
func (r *RawConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, _, flags, from, err := r.c.ReadMsgIP(b, nil)
	if err != nil {
		return 0, netip.AddrPort{}, wrapClosed("read", err)
	}
	ap := addrPortOf(from)
	if flags&msgTrunc != 0 {
		return n, ap, fmt.Errorf("transport: read from %v: %w", ap.Addr(), ErrTruncated)
	}
	return n, ap, nil
}

// WriteTo implements Conn. The port of to is ignored.
func (r *RawConn) WriteTo(b []byte, to netip.AddrPort) error {
	m := [1]Message{{Buf: b, N: len(b), Addr: to}}
	_, err := r.b.writeBatch("write", m[:], checkRaw)
	return err
}

// ReadBatch implements Conn.
func (r *RawConn) ReadBatch(msgs []Message) (int, error) { return r.b.readBatch(msgs) }

// WriteBatch implements Conn.
func (r *RawConn) WriteBatch(msgs []Message) (int, error) {
	return r.b.writeBatch("write batch", msgs, checkRaw)
}

// BatchSize implements Conn.
func (r *RawConn) BatchSize() int { return r.size }

// LocalAddr implements Conn.
func (r *RawConn) LocalAddr() netip.AddrPort { return r.local }

// Close implements Conn.
func (r *RawConn) Close() error {
	r.once.Do(func() { r.err = r.c.Close() })
	return r.err
}

// SetReadDeadline makes ReadFrom and ReadBatch fail with an error
// satisfying errors.Is(err, os.ErrDeadlineExceeded) once t passes; the
// zero time removes the deadline.
func (r *RawConn) SetReadDeadline(t time.Time) error { return r.c.SetReadDeadline(t) }

// SyscallConn exposes the socket for options this package does not set
// (SO_BINDTODEVICE, IPV6_RECVPKTINFO, a BPF filter ...).
func (r *RawConn) SyscallConn() (syscall.RawConn, error) { return r.c.SyscallConn() }

// checkRaw refuses destinations the raw IPv6 carrier cannot reach.
func checkRaw(to netip.AddrPort) error {
	a := to.Addr()
	if !a.Is6() || a.Is4In6() {
		return fmt.Errorf("send to %v: %w", a, ErrAddressFamily)
	}
	if a.IsUnspecified() {
		return fmt.Errorf("send to the unspecified address %v: %w", a, ErrAddressFamily)
	}
	return nil
}

type bufferSetter interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

func setBuffers(c bufferSetter, o Options) error {
	if o.ReadBuffer > 0 {
		if err := c.SetReadBuffer(o.ReadBuffer); err != nil {
			return fmt.Errorf("transport: set receive buffer: %w", err)
		}
	}
	if o.WriteBuffer > 0 {
		if err := c.SetWriteBuffer(o.WriteBuffer); err != nil {
			return fmt.Errorf("transport: set send buffer: %w", err)
		}
	}
	return nil
}

func controlSockopt(rc syscall.RawConn, f func(fd uintptr) error) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = f(fd) }); err != nil {
		return err
	}
	return serr
}
