package mag

import (
	"net"
	"net/netip"
	"time"
)

// Advertiser is the Router Advertisement sender of one access link, as
// mag/ra's *Advertiser implements it.
type Advertiser interface {
	// Serve starts or refreshes advertising exactly the PBA's home network
	// prefixes to the client (RFC 5213 6.7), for at most lifetime.
	Serve(mac net.HardwareAddr, linkLocal netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error
	// AnnounceRouter sends the client an unsolicited Neighbor
	// Advertisement for the router's link-local address (RFC 4861
	// 7.2.6), so that a client that moved here resolves its waiting
	// router entry without soliciting.
	AnnounceRouter(mac net.HardwareAddr) error
	// Withdraw sends final RAs (lifetimes 0) and stops (RFC 5213 6.12):
	// the client is still on the link but its binding ended.
	Withdraw(mac net.HardwareAddr)
	// Forget stops silently: the client left the link.
	Forget(mac net.HardwareAddr)
}

// LeaseServer is the collocated DHCPv4 server of one access link, as
// mag/dhcpserver's *Server implements it (RFC 5844 3.4.1).
type LeaseServer interface {
	// LeaseReady says the PBA arrived: answer the client's waiting
	// DISCOVER or REQUEST now, with the lease Engine.Lookup returns.
	LeaseReady(mac net.HardwareAddr)
	// Forget drops the client's waiting transaction (rejection, detach).
	Forget(mac net.HardwareAddr)
}

// AnnouncingAdvertiser is an Advertiser that can send the router's
// announcements to a client that just registered in one burst (mag/ra's
// *Advertiser: one sendmmsg on its packet socket). ServeAnnounced is
// Serve that first writes first (frames of any EtherType for the same
// client on the same access link), then AnnounceRouter's Neighbor
// Advertisement, then the RA, in one write. Each announcement releases
// the client's queued traffic, whose forwarding and the correspondent's
// answer then take the CPU: written one system call each, the second
// waited 39-197 ms for the MAG to run again under TCG (docs/handover.md
// 9.5).
type AnnouncingAdvertiser interface {
	Advertiser
	ServeAnnounced(first [][]byte, mac net.HardwareAddr, linkLocal netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error
}

// LeaseFramer is a LeaseServer that hands its router announcement over
// as a frame instead of writing it (mag/dhcpserver's *Server):
// LeaseReadyFrame answers a waiting transaction as LeaseReady does and
// returns nil, or returns the announcement (an ARP request unicast to the
// client) for an AnnouncingAdvertiser on the same link to send.
type LeaseFramer interface {
	LeaseServer
	LeaseReadyFrame(mac net.HardwareAddr) []byte
}

// Sniffer is the attach sniffer of one access link, as mag/sniff's
// *Sniffer implements it.
type Sniffer interface {
	// Registered moves the client from pending to watched: its frames no
	// longer trigger, its silence is detected (probing the addresses).
	Registered(mac net.HardwareAddr, probes ...netip.Addr) error
	// Forget drops the client: its next frame triggers anew.
	Forget(mac net.HardwareAddr)
}

// AccessSide are the components serving clients on one access link. Any
// of them may be nil (e.g. no DHCPv4 server on an IPv6-only link).
type AccessSide struct {
	RA    Advertiser
	DHCP  LeaseServer
	Sniff Sniffer
}
