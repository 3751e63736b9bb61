package dhcpserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/mdlayher/packet"
)

// The access link of a PMIPv6 client is point-to-point in effect: the MAG
// is its only neighbour (RFC 5213 6.9.3, RFC 5844 3.2). The client
// believes it sits on its home subnet, so it ARPs for its default router
// and for any on-link neighbour; the MAG answers all of them with its
// fixed MAC, so every packet the client sends reaches the MAG and goes
// through the tunnel to the LMA.

const (
	arpLen         = 28 // RFC 826 for Ethernet/IPv4
	arpHTEthernet  = 1
	arpOpRequest   = 1
	arpOpReply     = 2
	arpFrameLength = etherHeaderLen + arpLen
)

var errNotARPRequest = errors.New("dhcpserver: not an ARP request for IPv4 over Ethernet")

// arpRequest is the part of an RFC 826 request we act on.
type arpRequest struct {
	ethSrc   mac
	sha      mac
	spa, tpa netip.Addr
}

func parseARP(b []byte) (arpRequest, error) {
	var r arpRequest
	if len(b) < arpFrameLength {
		return r, fmt.Errorf("dhcpserver: arp: %w", io.ErrUnexpectedEOF)
	}
	copy(r.ethSrc[:], b[6:12])
	if binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return r, errNotARPRequest
	}
	a := b[etherHeaderLen:]
	if binary.BigEndian.Uint16(a[0:2]) != arpHTEthernet || binary.BigEndian.Uint16(a[2:4]) != etherTypeIPv4 ||
		a[4] != 6 || a[5] != 4 || binary.BigEndian.Uint16(a[6:8]) != arpOpRequest {
		return r, errNotARPRequest
	}
	copy(r.sha[:], a[8:14])
	r.spa = netip.AddrFrom4([4]byte(a[14:18]))
	r.tpa = netip.AddrFrom4([4]byte(a[24:28]))
	return r, nil
}

// appendARPReply appends the RFC 826 reply telling requester that tpa is
// at hw.
func appendARPReply(dst []byte, hw mac, r arpRequest) []byte {
	return appendARP(dst, arpOpReply, r.sha, hw, r.tpa, r.sha, r.spa)
}

// handleARPFrame answers an ARP request from a registered client for any
// address of its home subnet except its own.
func (s *Server) handleARPFrame(b []byte) {
	s.stats.arpReceived.Add(1)
	r, err := parseARP(b)
	if err != nil {
		if !errors.Is(err, errNotARPRequest) {
			s.warn.warn("malformed ARP frame dropped", "err", err)
		}
		return
	}
	// RFC 826 takes the sender hardware address from the packet; we also
	// require it to be the frame's source, so one station cannot make us
	// answer another.
	if r.sha != r.ethSrc || !r.sha.isUnicast() {
		return
	}
	// RFC 5227 2.1.1: a probe has sender IP 0 and must go unanswered
	// unless the address is in use; gratuitous ARP (sender IP = target
	// IP, RFC 5227 3) announces, it asks nothing.
	if !r.spa.IsValid() || r.spa.IsUnspecified() || r.spa == r.tpa {
		return
	}
	lease, ok := s.lookup(r.sha)
	if !ok {
		return // registered clients only
	}
	home := lease.Addr.Addr()
	if r.spa != home || r.tpa == home || !lease.Addr.Masked().Contains(r.tpa) {
		return
	}
	reply := appendARPReply(make([]byte, 0, arpFrameLength), s.routerMAC, r)
	if _, err := s.arpConn.WriteTo(reply, &packet.Addr{HardwareAddr: net.HardwareAddr(r.sha[:])}); err != nil {
		s.stats.writeErrors.Add(1)
		s.warn.warn("sending ARP reply failed", "mac", r.sha, "err", err)
		return
	}
	s.stats.arpReplies.Add(1)
}

// announceRouter tells a client that needs no DHCP exchange (it moved
// here from another MAG with its address, RFC 5213 5.4.1 / RFC 5844 3.4)
// where its default router is (RFC 5213 6.9.3: the fixed MAC). A client's
// kernel drops its neighbour entries when its link goes down for the
// reassociation; asked for the router before this MAG has the lease and
// answers, Linux asks again only after retrans_time (1 s), and its IPv4
// traffic, TCP acknowledgements included, waits that long
// (docs/handover.md 8.4).
//
// The announcement is an ARP request from the router for the client's
// own address, unicast to it: "who has <client>? tell <router> at the
// fixed MAC". RFC 826's reception algorithm has the target of a request
// add the sender's pair to its table (the merge step, then "Am I the
// target protocol address? If the merge_flag is false, add the triplet")
// whether or not it had an entry, and update an entry it had, INCOMPLETE
// one included, so its queued packets leave. An unsolicited reply, which
// session 2 sent, updates an existing entry only: a client that had sent
// nothing since the move has none (Linux, arp_accept=0), and it then
// waited for the correspondent's retransmission and its own ARP request
// to the responder (docs/handover.md 9; TestLeaseReadyAnnouncementKernelClient).
// The client's reply comes back to the fixed MAC, where the responder
// ignores replies and the MAG's kernel uses it only for an entry it was
// resolving itself. The target hardware address is zero (RFC 5227 2.1.1
// sets it so in requests; RFC 826 leaves it unused).
func (s *Server) announceRouter(k mac, lease Lease) {
	if s.arpConn == nil || !lease.Router.Is4() || !lease.Addr.Addr().Is4() {
		return
	}
	req := appendARPRequest(make([]byte, 0, arpFrameLength), s.routerMAC, lease.Router, k, lease.Addr.Addr())
	if _, err := s.arpConn.WriteTo(req, &packet.Addr{HardwareAddr: net.HardwareAddr(k[:])}); err != nil {
		s.stats.writeErrors.Add(1)
		s.warn.warn("announcing the router by ARP failed", "mac", k, "err", err)
		return
	}
	s.stats.arpAnnouncements.Add(1)
}

// announcement is announceRouter's ARP request, returned for the caller
// to send (LeaseReadyFrame), or nil if the lease has no IPv4 router.
func (s *Server) announcement(k mac, lease Lease) []byte {
	if s.arpConn == nil || !lease.Router.Is4() || !lease.Addr.Addr().Is4() {
		return nil
	}
	s.stats.arpAnnouncements.Add(1)
	return appendARPRequest(make([]byte, 0, arpFrameLength), s.routerMAC, lease.Router, k, lease.Addr.Addr())
}

// appendARPRequest appends an RFC 826 request, unicast to dstMAC at layer
// 2, from sha/spa asking for tpa (target hardware address zero).
func appendARPRequest(dst []byte, sha mac, spa netip.Addr, dstMAC mac, tpa netip.Addr) []byte {
	return appendARP(dst, arpOpRequest, dstMAC, sha, spa, mac{}, tpa)
}

// appendARP appends an Ethernet frame to ethDst from sha carrying the
// RFC 826 packet op (IPv4 over Ethernet): sender sha/spa, target tha/tpa.
func appendARP(dst []byte, op uint16, ethDst, sha mac, spa netip.Addr, tha mac, tpa netip.Addr) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, arpFrameLength)...)
	f := dst[start:]
	copy(f[0:6], ethDst[:])
	copy(f[6:12], sha[:])
	binary.BigEndian.PutUint16(f[12:14], etherTypeARP)
	a := f[etherHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], arpHTEthernet)
	binary.BigEndian.PutUint16(a[2:4], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sha[:])
	s4, t4 := spa.As4(), tpa.As4()
	copy(a[14:18], s4[:])
	copy(a[18:24], tha[:])
	copy(a[24:28], t4[:])
	return dst
}
