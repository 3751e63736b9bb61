package dhcpserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Engine is the MAG engine as the DHCP server sees it: the authority on
// which client holds which IPv4 home address (RFC 5844: the LMA assigns,
// the MAG obeys), and the receiver of the attach and detach hints that
// DHCP traffic carries.
//
// The server never calls the Engine while holding its own locks, so an
// Engine may call back into the Server (LeaseReady, Forget) from inside
// any of these methods. Methods are called from the server's receive
// goroutine and must not block: hand slow work to another goroutine.
type Engine interface {
	// Lookup returns the lease the LMA granted to the client with this
	// MAC, from the last Proxy Binding Acknowledgement: ok is false when
	// there is no accepted registration with an IPv4 home address.
	Lookup(hw net.HardwareAddr) (lease Lease, ok bool)

	// OnClientSeen reports a DHCPDISCOVER or DHCPREQUEST from a client
	// that has no lease: the attach trigger (issue 4). The engine
	// deduplicates with its other triggers, registers, and calls
	// Server.LeaseReady once the PBA has arrived. The server rate-limits
	// these calls per client and overall.
	OnClientSeen(c Client)

	// OnRelease reports a DHCPRELEASE (RFC 2131 4.3.4) of addr.
	OnRelease(hw net.HardwareAddr, addr netip.Addr)

	// OnDecline reports a DHCPDECLINE (RFC 2131 4.3.3): the client found
	// addr already in use on the link.
	OnDecline(hw net.HardwareAddr, addr netip.Addr)
}

// Lease is what the PBA granted a client, in DHCP terms.
type Lease struct {
	// Addr is the IPv4 home address and its prefix length from the IPv4
	// Home Address Reply option (RFC 5844 3.3.2).
	Addr netip.Prefix
	// Router is the IPv4 Default-Router Address option (RFC 5844 3.3.4).
	// It is also the DHCP server identifier (see serverID).
	Router netip.Addr
	// DNS servers for the client; empty means Config.DNS.
	DNS []netip.Addr
	// Lifetime is what remains of the binding lifetime. The DHCP lease
	// is never longer (RFC 5844 3.4.3, see leaseTime).
	Lifetime time.Duration
}

// errBadLease wraps what is wrong with a Lease the engine returned.
var errBadLease = errors.New("dhcpserver: unusable lease")

// validate checks what a DHCP client needs from a lease. A lease that
// fails it is logged and not served: answering with it would configure
// the client wrongly.
func (l Lease) validate() error {
	a := l.Addr.Addr()
	switch {
	case !l.Addr.IsValid() || !a.Is4():
		return fmt.Errorf("%w: home address %v is not IPv4", errBadLease, l.Addr)
	case l.Addr.Bits() < 1 || l.Addr.Bits() > 31:
		// A /32 leaves the default router off-link, which a plain DHCP
		// client cannot use.
		return fmt.Errorf("%w: prefix length %d outside 1..31", errBadLease, l.Addr.Bits())
	case !l.Router.Is4():
		return fmt.Errorf("%w: default router %v is not IPv4", errBadLease, l.Router)
	case !l.Addr.Masked().Contains(l.Router):
		return fmt.Errorf("%w: default router %v outside %v", errBadLease, l.Router, l.Addr)
	case l.Router == a:
		return fmt.Errorf("%w: default router equals the home address %v", errBadLease, a)
	case l.Lifetime < time.Second:
		return fmt.Errorf("%w: binding lifetime %v below one second", errBadLease, l.Lifetime)
	}
	if l.Addr.Bits() <= 30 {
		// RFC 950/RFC 1122 3.2.1.3: the all-zeroes and all-ones host
		// numbers are not host addresses (RFC 3021 lifts this for /31).
		if a == l.Addr.Masked().Addr() || a == lastAddr(l.Addr) {
			return fmt.Errorf("%w: %v is the network or broadcast address", errBadLease, l.Addr)
		}
	}
	for _, d := range l.DNS {
		if !d.Is4() {
			return fmt.Errorf("%w: DNS server %v is not IPv4", errBadLease, d)
		}
	}
	return nil
}

// lastAddr is the all-ones host address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Client describes a client the server has no lease for, as OnClientSeen
// reports it.
type Client struct {
	HardwareAddr net.HardwareAddr
	// ClientID is the Client-identifier option (RFC 2132 9.14), if sent.
	ClientID []byte
	// Hostname is the Host Name option (RFC 2132 3.14), if sent.
	Hostname string
	// Requested is the address the client asks for: the Requested IP
	// Address option (INIT-REBOOT, SELECTING) or ciaddr (RENEWING,
	// REBINDING). A MAG may ask the LMA for it in the PBU (RFC 5844
	// 3.2.3.1, IPv4 Home Address Request option with a non-zero address).
	Requested netip.Addr
	// MessageType is "DISCOVER" or "REQUEST".
	MessageType string
}
