package dhcpserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// handleDHCPFrame is the whole inbound DHCP path: frame, message, state.
// Nothing in it may panic on any input (FuzzHandleFrame).
func (s *Server) handleDHCPFrame(b []byte) {
	s.stats.received.Add(1)
	f, err := parseUDPFrame(b)
	if err != nil {
		if errors.Is(err, errNotIPv4) || errors.Is(err, errNotUDP) || errors.Is(err, errNotToServer) {
			// The kernel filter (Listen) keeps these away; a conn
			// without one may deliver them.
			s.stats.ignored.Add(1)
			return
		}
		s.stats.malformed.Add(1)
		s.warn.warn("malformed frame dropped", "src", f.srcMAC, "err", err)
		return
	}
	m, err := dhcpv4.FromBytes(f.payload)
	if err != nil {
		s.stats.malformed.Add(1)
		s.warn.warn("malformed DHCP message dropped", "src", f.srcMAC, "err", err)
		return
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest {
		s.stats.ignored.Add(1) // another server's reply, broadcast
		return
	}
	// RFC 2131 2: chaddr is the client's hardware address; on our
	// Ethernet/Wi-Fi access link it must be the frame's source, or one
	// station could obtain or release another's lease.
	if m.HWType != iana.HWTypeEthernet || len(m.ClientHWAddr) != 6 || mac(m.ClientHWAddr) != f.srcMAC {
		s.stats.malformed.Add(1)
		s.warn.warn("DHCP message dropped: chaddr is not the sender's MAC", "src", f.srcMAC,
			"htype", m.HWType, "chaddr", m.ClientHWAddr)
		return
	}
	// The server sits on the access link itself (RFC 5844 3.4.1); a
	// relayed message (giaddr set, RFC 2131 4.1) cannot come from one of
	// our clients.
	if !ipZero(m.GatewayIPAddr) {
		s.stats.ignored.Add(1)
		s.warn.warn("relayed DHCP message ignored", "src", f.srcMAC, "giaddr", m.GatewayIPAddr)
		return
	}
	k := f.srcMAC
	unicast := f.dstIP != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	switch mt := m.MessageType(); mt {
	case dhcpv4.MessageTypeDiscover:
		s.stats.discovers.Add(1)
		s.handleDiscover(k, m, unicast)
	case dhcpv4.MessageTypeRequest:
		s.stats.requests.Add(1)
		s.handleRequest(k, m, unicast)
	case dhcpv4.MessageTypeDecline:
		s.stats.declines.Add(1)
		s.handleDecline(k, m)
	case dhcpv4.MessageTypeRelease:
		s.stats.releases.Add(1)
		s.handleRelease(k, m)
	case dhcpv4.MessageTypeInform:
		s.stats.informs.Add(1)
		s.handleInform(k, m)
	case dhcpv4.MessageTypeNone:
		// RFC 2131 4.1 lets a DHCP server answer BOOTP clients; every
		// address here comes from the LMA for DHCP clients, so we do not.
		s.stats.ignored.Add(1)
		s.warn.warn("BOOTP request ignored (no DHCP message type)", "mac", k)
	default:
		s.stats.ignored.Add(1)
		s.warn.warn("DHCP message type not handled by a server", "mac", k, "type", mt)
	}
}

// clientInfo builds the OnClientSeen report.
func clientInfo(k mac, m *dhcpv4.DHCPv4, requested netip.Addr) Client {
	return Client{
		HardwareAddr: net.HardwareAddr(bytes.Clone(k[:])),
		ClientID:     bytes.Clone(m.Options.Get(dhcpv4.OptionClientIdentifier)),
		Hostname:     m.HostName(),
		Requested:    requested,
		MessageType:  m.MessageType().String(),
	}
}

// handleDiscover: RFC 2131 4.3.1. The offered address is the one the LMA
// assigned, whatever the client asks for (RFC 5844 3.4.1); with no lease
// yet, nothing is offered until LeaseReady.
func (s *Server) handleDiscover(k mac, m *dhcpv4.DHCPv4, unicast bool) {
	if lease, ok := s.lookup(k); ok {
		s.dropPending(k)
		s.offer(k, m, lease)
		return
	}
	s.remember(k, m, unicast, clientInfo(k, m, addrOf(m.RequestedIPAddress())))
}

// requestState is the client state a DHCPREQUEST comes from, told apart
// by its fields as RFC 2131 4.3.2 lays out.
type requestState int

const (
	stateInvalid    requestState = iota
	stateSelecting               // server identifier set, ciaddr 0, requested IP set
	stateInitReboot              // no server identifier, requested IP set, ciaddr 0
	stateRenewing                // no server identifier, no requested IP, ciaddr set, unicast
	stateRebinding               // as RENEWING, broadcast
)

func (st requestState) String() string {
	switch st {
	case stateSelecting:
		return "SELECTING"
	case stateInitReboot:
		return "INIT-REBOOT"
	case stateRenewing:
		return "RENEWING"
	case stateRebinding:
		return "REBINDING"
	}
	return "invalid"
}

func classifyRequest(m *dhcpv4.DHCPv4, unicast bool) requestState {
	sid, req, ci := m.ServerIdentifier(), m.RequestedIPAddress(), m.ClientIPAddr
	switch {
	case sid != nil:
		// RFC 2131 4.3.2: in SELECTING the requested IP address MUST be
		// filled in with the offered yiaddr.
		if req == nil {
			return stateInvalid
		}
		return stateSelecting
	case req != nil:
		return stateInitReboot
	case !ipZero(ci):
		if unicast {
			return stateRenewing
		}
		return stateRebinding
	}
	return stateInvalid
}

// requestedAddr is the address a DHCPREQUEST from state st asks for.
func requestedAddr(m *dhcpv4.DHCPv4, st requestState) netip.Addr {
	if st == stateRenewing || st == stateRebinding {
		return addrOf(m.ClientIPAddr)
	}
	return addrOf(m.RequestedIPAddress())
}

// handleRequest: RFC 2131 4.3.2.
func (s *Server) handleRequest(k mac, m *dhcpv4.DHCPv4, unicast bool) {
	st := classifyRequest(m, unicast)
	if st == stateInvalid {
		s.stats.malformed.Add(1)
		s.warn.warn("DHCPREQUEST dropped: neither server identifier, requested address nor ciaddr",
			"mac", k, "ciaddr", m.ClientIPAddr)
		return
	}
	lease, ok := s.lookup(k)
	if ok {
		s.dropPending(k)
		s.ackOrNak(k, m, st, lease)
		return
	}
	if st == stateSelecting {
		// RFC 2131 4.3.2: a server not selected takes the DHCPREQUEST as
		// the client declining its offer. We offer nothing before the
		// PBA, so a client selecting without a lease here chose another
		// server on the access link.
		s.dropPending(k)
		s.log.Warn("client selected another DHCP server on the access link", "mac", k,
			"server", m.ServerIdentifier(), "requested", m.RequestedIPAddress())
		return
	}
	// RFC 2131 4.3.2 has a server with no record of an INIT-REBOOT client
	// remain silent; here no record only means the registration has not
	// happened yet. The request is an attach trigger and is answered,
	// ACK or NAK as the LMA decides, on LeaseReady.
	s.remember(k, m, unicast, clientInfo(k, m, requestedAddr(m, st)))
}

// ackOrNak answers a DHCPREQUEST once a lease is known.
func (s *Server) ackOrNak(k mac, m *dhcpv4.DHCPv4, st requestState, lease Lease) {
	if st == stateSelecting {
		if sid := addrOf(m.ServerIdentifier()); sid != lease.Router {
			// RFC 2131 4.3.2: the client chose another server's offer.
			s.log.Warn("client selected another DHCP server", "mac", k, "server", sid, "ours", lease.Router)
			return
		}
	}
	want := requestedAddr(m, st)
	if want != lease.Addr.Addr() {
		// RFC 2131 4.3.2: the server SHOULD send a DHCPNAK if the
		// requested address is incorrect (INIT-REBOOT) and SHOULD check
		// ciaddr (RENEWING, REBINDING). The LMA's assignment wins
		// (RFC 5844 3.4.1): the client restarts from INIT and is
		// offered the right address.
		s.send(k, m, dhcpv4.MessageTypeNak, lease, "requested address not assigned to this client")
		s.log.Info("DHCPNAK: client asks for an address the LMA did not assign",
			"mac", k, "state", st, "requested", want, "assigned", lease.Addr)
		return
	}
	// Logged after the answer left: a log write is a system call the
	// client need not wait for.
	s.send(k, m, dhcpv4.MessageTypeAck, lease, "")
	s.log.Info("DHCPACK", "mac", k, "state", st, "addr", lease.Addr, "router", lease.Router,
		"lease", s.leaseTime(lease))
}

// answer replies to a transaction remembered before the lease existed.
func (s *Server) answer(k mac, m *dhcpv4.DHCPv4, unicast bool, lease Lease) {
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		s.offer(k, m, lease)
	case dhcpv4.MessageTypeRequest:
		s.ackOrNak(k, m, classifyRequest(m, unicast), lease)
	}
}

func (s *Server) offer(k mac, m *dhcpv4.DHCPv4, lease Lease) {
	s.send(k, m, dhcpv4.MessageTypeOffer, lease, "")
	// Debug, not Info: an OFFER is a step, the ACK (logged at Info) is the
	// lease, and the engine already logged the addresses when the PBA came.
	// The OFFER answers a held DISCOVER on the PBA's path (LeaseReady), just
	// before the RA: a log write there is a system call the RA waits for,
	// and on an AP logd may be slow to read.
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("DHCPOFFER", "mac", k, "addr", lease.Addr, "router", lease.Router, "lease", s.leaseTime(lease))
	}
}

// handleDecline: RFC 2131 4.3.3. The address belongs to the LMA's pool,
// so "mark the network address as not available" is the engine's call;
// the operator is told (SHOULD notify the administrator).
func (s *Server) handleDecline(k mac, m *dhcpv4.DHCPv4) {
	lease, ok := s.lookup(k)
	addr := addrOf(m.RequestedIPAddress())
	if !ok || addr != lease.Addr.Addr() || !s.forUs(m, lease) {
		s.log.Debug("DHCPDECLINE for no lease of ours ignored", "mac", k, "addr", addr)
		return
	}
	s.dropPending(k)
	s.log.Error("DHCPDECLINE: client reports its home address in use on the access link",
		"mac", k, "addr", addr, "message", string(m.Options.Get(dhcpv4.OptionMessage)))
	s.cfg.Engine.OnDecline(net.HardwareAddr(bytes.Clone(k[:])), addr)
}

// handleRelease: RFC 2131 4.3.4. Whether the binding goes too is the
// engine's call.
func (s *Server) handleRelease(k mac, m *dhcpv4.DHCPv4) {
	lease, ok := s.lookup(k)
	addr := addrOf(m.ClientIPAddr)
	if !ok || addr != lease.Addr.Addr() || !s.forUs(m, lease) {
		s.log.Debug("DHCPRELEASE for no lease of ours ignored", "mac", k, "addr", addr)
		return
	}
	s.dropPending(k)
	s.log.Info("DHCPRELEASE", "mac", k, "addr", addr)
	s.cfg.Engine.OnRelease(net.HardwareAddr(bytes.Clone(k[:])), addr)
}

// handleInform: RFC 2131 4.3.5. Only a client using the address the LMA
// gave it gets configuration: any other source address would not be
// routed anyway.
func (s *Server) handleInform(k mac, m *dhcpv4.DHCPv4) {
	lease, ok := s.lookup(k)
	if !ok || addrOf(m.ClientIPAddr) != lease.Addr.Addr() {
		s.log.Debug("DHCPINFORM from a client without this lease ignored", "mac", k, "ciaddr", m.ClientIPAddr)
		return
	}
	s.log.Info("DHCPACK to DHCPINFORM", "mac", k, "addr", lease.Addr)
	s.send(k, m, dhcpv4.MessageTypeAck, lease, "")
}

// forUs reports whether a DHCPDECLINE or DHCPRELEASE names our server
// identifier (RFC 2131 table 5: MUST be present).
func (s *Server) forUs(m *dhcpv4.DHCPv4, lease Lease) bool {
	return addrOf(m.ServerIdentifier()) == lease.Router
}

// addrOf converts an IPv4 net.IP; anything else (nil, IPv6) is the zero
// Addr.
func addrOf(ip net.IP) netip.Addr {
	if ip4 := ip.To4(); ip4 != nil {
		return netip.AddrFrom4([4]byte(ip4))
	}
	return netip.Addr{}
}

func ipZero(ip net.IP) bool {
	return ip == nil || ip.Equal(net.IPv4zero)
}
