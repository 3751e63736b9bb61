package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// UDPConn carries Mobility Headers over UDP/IPv4 for an IPv4 transport
// network between the mobile access gateway and the local mobility anchor
// (RFC 5844 4). The Mobility Header follows the UDP header directly:
//
//	IPv4 (src IPv4-Proxy-CoA, dst IPv4-LMAA) | UDP (dst 5436) | Mobility Header | options
//
// Nothing sits between the UDP header and the Mobility Header (RFC 5844 4
// draws the signalling packet as IPv4 | UDP | Mobility Header; the TLV
// header of RFC 5555 4.1 belongs to DSMIPv6 NAT traversal). Wireshark's
// packet-mip6.c hands the payload of UDP port 5436 straight to its
// Mobility Header dissector.
//
// The Mobility Header checksum of RFC 6275 6.1.1 is defined over an IPv6
// pseudo-header that has no counterpart on this path, and the kernel does
// not touch it here. The UDP checksum, which Linux always computes for
// IPv4 (RFC 768), protects the message. UDPConn passes the checksum field
// through unchanged in both directions; receivers must not reject a
// message for it (the engines' mh codec decides what to put there).
//
// The local mobility anchor binds Port; a mobile access gateway may send
// from any port, and the anchor replies to the address and source port
// the request came from (RFC 5844 4), which ReadFrom reports.
type UDPConn struct {
	c     *net.UDPConn
	local netip.AddrPort
	b     batchRW
	size  int
	once  sync.Once
	err   error
}

var _ Conn = (*UDPConn)(nil)

// ListenUDP opens a UDP/IPv4 signalling socket on laddr (an IPv4 address,
// or 0.0.0.0; port 0 picks one). The LMA listens on Port.
func ListenUDP(laddr netip.AddrPort, o Options) (*UDPConn, error) {
	size, err := o.batchSize()
	if err != nil {
		return nil, err
	}
	a := laddr.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	a = a.Unmap()
	if !a.Is4() {
		return nil, fmt.Errorf("transport: listen udp on %v: %w", laddr, ErrAddressFamily)
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(a, laddr.Port()).String())
	if err != nil {
		return nil, fmt.Errorf("transport: listen udp: %w", err)
	}
	c := pc.(*net.UDPConn)
	if err := setBuffers(c, o); err != nil {
		c.Close()
		return nil, err
	}
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	b, err := newBatch(c, ipv4.NewPacketConn(c), size, true, o.Timestamps)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &UDPConn{c: c, local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), b: b, size: size}, nil
}

// ReadFrom implements Conn.
func (u *UDPConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, _, flags, from, err := u.c.ReadMsgUDPAddrPort(b, nil)
	if err != nil {
		return 0, netip.AddrPort{}, wrapClosed("read", err)
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if flags&msgTrunc != 0 {
		return n, from, fmt.Errorf("transport: read from %v: %w", from, ErrTruncated)
	}
	return n, from, nil
}

// WriteTo implements Conn.
func (u *UDPConn) WriteTo(b []byte, to netip.AddrPort) error {
	if len(b) > MaxMessageLen {
		return fmt.Errorf("transport: send %d bytes: %w", len(b), ErrMessageTooLong)
	}
	to, err := udpDest(to)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	if _, err := u.c.WriteToUDPAddrPort(b, to); err != nil {
		return wrapClosed("write", err)
	}
	return nil
}

// ReadBatch implements Conn.
func (u *UDPConn) ReadBatch(msgs []Message) (int, error) {
	n, err := u.b.readBatch(msgs)
	return n, err
}

// WriteBatch implements Conn.
func (u *UDPConn) WriteBatch(msgs []Message) (int, error) {
	return u.b.writeBatch("write batch", msgs, func(to netip.AddrPort) error {
		_, err := udpDest(to)
		return err
	})
}

// BatchSize implements Conn.
func (u *UDPConn) BatchSize() int { return u.size }

// LocalAddr implements Conn.
func (u *UDPConn) LocalAddr() netip.AddrPort { return u.local }

// Close implements Conn.
func (u *UDPConn) Close() error {
	u.once.Do(func() { u.err = u.c.Close() })
	return u.err
}

// SetReadDeadline makes ReadFrom and ReadBatch fail with an error
// satisfying errors.Is(err, os.ErrDeadlineExceeded) once t passes; the
// zero time removes the deadline.
func (u *UDPConn) SetReadDeadline(t time.Time) error { return u.c.SetReadDeadline(t) }

// SyscallConn exposes the socket for options this package does not set.
func (u *UDPConn) SyscallConn() (syscall.RawConn, error) { return u.c.SyscallConn() }

// udpDest checks a destination of the UDP/IPv4 carrier: an IPv4 unicast
// address (IPv4-mapped IPv6 accepted) and a port.
func udpDest(to netip.AddrPort) (netip.AddrPort, error) {
	a := to.Addr().Unmap()
	if !a.Is4() {
		return to, fmt.Errorf("send to %v: %w", to, ErrAddressFamily)
	}
	if a.IsUnspecified() || to.Port() == 0 {
		return to, fmt.Errorf("send to %v: no address or port", to)
	}
	return netip.AddrPortFrom(a, to.Port()), nil
}
