package transport

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv6"
)

// batcher is what ipv4.PacketConn and ipv6.PacketConn share: both Message
// types are aliases of x/net's socket.Message.
type batcher interface {
	ReadBatch(ms []ipv6.Message, flags int) (int, error)
	WriteBatch(ms []ipv6.Message, flags int) (int, error)
}

// batchRW is how a Conn moves batches: mmsgIO on Linux, batchIO elsewhere.
type batchRW interface {
	// readBatch fills msgs[:n] (one system call).
	readBatch(msgs []Message) (int, error)
	// writeBatch sends every message; op names the operation in errors
	// and check vets each destination.
	writeBatch(op string, msgs []Message, check func(netip.AddrPort) error) (int, error)
}

// addrPortOf converts what x/net or net returns as a source address.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.IPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return netip.AddrPort{}
		}
		ip = ip.Unmap()
		if a.Zone != "" && ip.Is6() {
			ip = ip.WithZone(a.Zone)
		}
		return netip.AddrPortFrom(ip, 0)
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// wrapClosed prefixes a socket error with the operation while keeping
// errors.Is(err, net.ErrClosed) true after Close.
func wrapClosed(op string, err error) error {
	return fmt.Errorf("transport: %s: %w", op, err)
}
