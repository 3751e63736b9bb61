package dhcpserver

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/mdlayher/packet"
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// leaseTime is the lease we grant: Config.LeaseTime, but never longer
// than what remains of the binding (RFC 5844 3.4.3: the address lease
// must not outlive the mobility session that backs it), in whole seconds
// as option 51 carries it (RFC 2132 9.2).
func (s *Server) leaseTime(l Lease) time.Duration {
	d := s.cfg.LeaseTime
	if l.Lifetime < d {
		d = l.Lifetime
	}
	return d.Truncate(time.Second)
}

// serverID is the Server Identifier (RFC 2132 9.7) we use for a client:
// its default router address from the PBA. Every MAG of the domain
// serves the same default router address for a given client (RFC 5213
// 6.9.3 / RFC 5844 3.4.3), so a RENEWING client that moved to another MAG
// still names a server that answers, and the unicast RENEW reaches the
// MAG because the router address resolves to the MAG's MAC.
func serverID(l Lease) netip.Addr { return l.Router }

// send builds a DHCPOFFER, DHCPACK or DHCPNAK answering req (RFC 2131
// 4.3.1 table 3) and writes it to the client (RFC 2131 4.1 addressing).
func (s *Server) send(k mac, req *dhcpv4.DHCPv4, typ dhcpv4.MessageType, l Lease, nakMessage string) {
	inform := req.MessageType() == dhcpv4.MessageTypeInform
	resp := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        iana.HWTypeEthernet,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero, // siaddr: no next server (boot)
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  net.HardwareAddr(k[:]),
		Options:       make(dhcpv4.Options),
	}
	sid := serverID(l)
	resp.UpdateOption(dhcpv4.OptMessageType(typ))
	resp.UpdateOption(dhcpv4.OptServerIdentifier(sid.AsSlice())) // table 3: MUST, all three
	// RFC 6842 3: the server MUST return the client identifier it got.
	if cid := req.Options.Get(dhcpv4.OptionClientIdentifier); cid != nil {
		resp.UpdateOption(dhcpv4.OptClientIdentifier(cid))
	}
	if typ == dhcpv4.MessageTypeNak {
		// Table 3: a DHCPNAK carries only message type, server
		// identifier, client identifier and a message.
		if nakMessage != "" {
			resp.UpdateOption(dhcpv4.OptMessage(nakMessage))
		}
	} else {
		if typ == dhcpv4.MessageTypeAck {
			// Table 3: ciaddr of the DHCPREQUEST/DHCPINFORM.
			resp.ClientIPAddr = ipOrZero(req.ClientIPAddr)
		}
		if !inform {
			// RFC 2131 4.3.5: no yiaddr and no lease time to DHCPINFORM.
			resp.YourIPAddr = l.Addr.Addr().AsSlice()
			lt := s.leaseTime(l)
			resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lt))
			// RFC 2131 4.4.5: T1 0.5 and T2 0.875 of the lease.
			resp.UpdateOption(dhcpv4.OptRenewTimeValue(lt * renewalFactorNum / renewalFactorDen))
			resp.UpdateOption(dhcpv4.OptRebindingTimeValue(lt * rebindingFactorNum / rebindingFactorDen))
		}
		s.addConfig(resp, l)
	}

	dstMAC, dstIP := replyDestination(k, req, resp, typ)
	payload := resp.ToBytes()
	frame := appendUDPFrame(make([]byte, 0, etherHeaderLen+ipv4HeaderLen+udpHeaderLen+len(payload)),
		s.routerMAC, dstMAC, sid, dstIP, serverPort, clientPort, payload)
	if _, err := s.dhcpConn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(dstMAC[:])}); err != nil {
		s.stats.writeErrors.Add(1)
		s.warn.warn("sending DHCP reply failed", "mac", k, "type", typ, "err", err)
		return
	}
	switch typ {
	case dhcpv4.MessageTypeOffer:
		s.stats.offers.Add(1)
	case dhcpv4.MessageTypeAck:
		s.stats.acks.Add(1)
	case dhcpv4.MessageTypeNak:
		s.stats.naks.Add(1)
	}
}

// addConfig adds what the client configures from the PBA: subnet mask
// (RFC 2132 3.3) from the home address prefix length, default router
// (RFC 2132 3.5) from the IPv4 Default-Router Address option, and the
// operator's DNS, domain name and MTU.
func (s *Server) addConfig(resp *dhcpv4.DHCPv4, l Lease) {
	resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(l.Addr.Bits(), 32)))
	resp.UpdateOption(dhcpv4.OptRouter(l.Router.AsSlice()))
	dns := l.DNS
	if len(dns) == 0 {
		dns = s.cfg.DNS
	}
	if len(dns) > 0 {
		ips := make([]net.IP, len(dns))
		for i, d := range dns {
			ips[i] = d.AsSlice()
		}
		resp.UpdateOption(dhcpv4.OptDNS(ips...))
	}
	if s.cfg.DomainName != "" {
		resp.UpdateOption(dhcpv4.OptDomainName(s.cfg.DomainName))
	}
	if s.cfg.MTU != 0 {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(s.cfg.MTU >> 8), byte(s.cfg.MTU)}))
	}
}

// replyDestination applies RFC 2131 4.1 for giaddr zero (we refuse
// relayed messages): a DHCPNAK is broadcast; otherwise a reply goes to
// ciaddr when set; else broadcast when the client set the BROADCAST bit
// (it cannot receive unicast before it has an address); else unicast to
// chaddr and yiaddr. The Ethernet destination is chaddr for every IP
// unicast: there is no ARP for an address the client does not have yet.
func replyDestination(k mac, req, resp *dhcpv4.DHCPv4, typ dhcpv4.MessageType) (mac, netip.Addr) {
	switch {
	case typ == dhcpv4.MessageTypeNak:
		return broadcastMAC, limitedBroadcast
	case !ipZero(req.ClientIPAddr):
		return k, addrOf(req.ClientIPAddr)
	case req.IsBroadcast():
		return broadcastMAC, limitedBroadcast
	default:
		return k, addrOf(resp.YourIPAddr)
	}
}

func ipOrZero(ip net.IP) net.IP {
	if ip4 := ip.To4(); ip4 != nil {
		return ip4
	}
	return net.IPv4zero
}
