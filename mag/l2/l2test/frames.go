package l2test

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
)

// Well-known destinations.
var (
	AllRouters    = netip.MustParseAddr("ff02::2")
	AllNodes      = netip.MustParseAddr("ff02::1")
	AllRoutersMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 2}
	Broadcast     = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// MustND builds an Ethernet frame carrying msg, hop limit 255, or panics:
// for tests only. The message is marshalled by github.com/mdlayher/ndp
// (checksum included), not by package l2, so that the frames tests feed to
// l2's parser come from an independent codec.
func MustND(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, msg ndp.Message) []byte {
	body, err := ndp.MarshalMessageChecksum(msg, src, dst)
	if err != nil {
		panic(err)
	}
	f := append(append([]byte{}, dstMAC...), srcMAC...)
	f = binary.BigEndian.AppendUint16(f, l2.EtherTypeIPv6)
	f = append(f, 0x60, 0, 0, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(len(body)))
	f = append(f, l2.ProtoICMPv6, l2.NDHopLimit)
	f = append(f, src.AsSlice()...)
	f = append(f, dst.AsSlice()...)
	return append(f, body...)
}

// RS is a Router Solicitation from mac and src to all-routers, with a
// Source Link-Layer Address option unless src is :: (RFC 4861 4.1).
func RS(mac net.HardwareAddr, src netip.Addr) []byte {
	rs := &ndp.RouterSolicitation{}
	if !src.IsUnspecified() {
		rs.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}}
	}
	return MustND(mac, AllRoutersMAC, src, AllRouters, rs)
}

// SolicitedNode returns the solicited-node multicast address of a and its
// Ethernet group address (RFC 4291 2.7.1, RFC 2464 7).
func SolicitedNode(a netip.Addr) (netip.Addr, net.HardwareAddr) {
	b := a.As16()
	sn := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
	return sn, net.HardwareAddr{0x33, 0x33, 0xff, b[13], b[14], b[15]}
}

// DAD is a Duplicate Address Detection probe for target from mac
// (RFC 4862 5.4.2): a Neighbor Solicitation from :: to the target's
// solicited-node group, without link-layer address option.
func DAD(mac net.HardwareAddr, target netip.Addr) []byte {
	dst, dstMAC := SolicitedNode(target)
	return MustND(mac, dstMAC, netip.IPv6Unspecified(), dst, &ndp.NeighborSolicitation{TargetAddress: target})
}

// DHCP message types (RFC 2132 9.6).
const (
	DHCPDiscover = 1
	DHCPRequest  = 3
	DHCPRelease  = 7
)

// DHCP builds a broadcast DHCP client message of the given type from mac,
// 0.0.0.0:68 -> 255.255.255.255:67, with a UDP checksum, and a client
// identifier option when clientID is not nil (RFC 2131, RFC 2132).
func DHCP(mac net.HardwareAddr, msgType byte, clientID []byte) []byte {
	msg := make([]byte, 240)
	msg[0], msg[1], msg[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, hlen 6
	binary.BigEndian.PutUint32(msg[4:8], 0x1234abcd)
	copy(msg[28:34], mac)
	binary.BigEndian.PutUint32(msg[236:240], 0x63825363)
	msg = append(msg, 53, 1, msgType)
	if clientID != nil {
		msg = append(msg, 61, byte(len(clientID)))
		msg = append(msg, clientID...)
	}
	msg = append(msg, 255)
	return UDP4(mac, Broadcast, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, msg)
}

// UDP4 builds an Ethernet frame with a UDP/IPv4 datagram, checksums filled.
func UDP4(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:2], sport)
	binary.BigEndian.PutUint16(udp[2:4], dport)
	binary.BigEndian.PutUint16(udp[4:6], uint16(8+len(payload)))
	udp = append(udp, payload...)
	s, d := src.As4(), dst.As4()
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
	cs := checksum(append(pseudo, udp...))
	if cs == 0 {
		cs = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:8], cs)

	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(udp)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip))

	f := append(append([]byte{}, dstMAC...), srcMAC...)
	f = binary.BigEndian.AppendUint16(f, l2.EtherTypeIPv4)
	f = append(f, ip...)
	return append(f, udp...)
}

// Ethernet builds a frame of the given EtherType and payload.
func Ethernet(srcMAC, dstMAC net.HardwareAddr, etherType uint16, payload []byte) []byte {
	f := append(append([]byte{}, dstMAC...), srcMAC...)
	f = binary.BigEndian.AppendUint16(f, etherType)
	return append(f, payload...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
