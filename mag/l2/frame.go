package l2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"golang.org/x/net/ipv6"
)

// Header sizes and fixed values.
const (
	EthernetHeaderLen = 14
	IPv6HeaderLen     = 40
	// ProtoICMPv6 is the IPv6 next-header value of ICMPv6.
	ProtoICMPv6 = 58
	// NDHopLimit is the hop limit every Neighbor Discovery message is sent
	// with and must arrive with, which proves it was not forwarded
	// (RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2).
	NDHopLimit = 255
)

// Sentinel errors. Parse errors wrap one of them, or io.ErrUnexpectedEOF for
// short input.
var (
	// ErrMalformed: the bytes do not form the header they claim to.
	ErrMalformed = errors.New("l2: malformed frame")
	// ErrNotND: a well-formed frame that is not ICMPv6 Neighbor Discovery.
	ErrNotND = errors.New("l2: not a neighbor discovery frame")
	// ErrInvalidND: a Neighbor Discovery message that fails the validity
	// checks of RFC 4861 and must be silently discarded.
	ErrInvalidND = errors.New("l2: invalid neighbor discovery message")
)

// Ethernet is a parsed Ethernet II header. Dst and Src alias the input.
type Ethernet struct {
	Dst, Src  net.HardwareAddr
	EtherType uint16
	Payload   []byte
}

// ParseEthernet parses an untagged Ethernet II frame.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderLen {
		return Ethernet{}, fmt.Errorf("l2: ethernet header: %w", io.ErrUnexpectedEOF)
	}
	return Ethernet{
		Dst:       net.HardwareAddr(b[0:6]),
		Src:       net.HardwareAddr(b[6:12]),
		EtherType: binary.BigEndian.Uint16(b[12:14]),
		Payload:   b[EthernetHeaderLen:],
	}, nil
}

// IsUnicastMAC reports whether mac is a usable individual station address:
// six bytes, group bit clear, not all zero.
func IsUnicastMAC(mac net.HardwareAddr) bool {
	if len(mac) != 6 || mac[0]&0x01 != 0 {
		return false
	}
	for _, x := range mac {
		if x != 0 {
			return true
		}
	}
	return false
}

// IPv6 is a parsed fixed IPv6 header. Payload is cut to the header's
// payload length, so Ethernet padding is dropped.
type IPv6 struct {
	Src, Dst   netip.Addr
	HopLimit   uint8
	NextHeader uint8
	Payload    []byte
}

// ParseIPv6 parses the fixed IPv6 header (RFC 8200 3).
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return IPv6{}, fmt.Errorf("l2: ipv6 header: %w", io.ErrUnexpectedEOF)
	}
	if b[0]>>4 != 6 {
		return IPv6{}, fmt.Errorf("l2: ipv6 version %d: %w", b[0]>>4, ErrMalformed)
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 {
		// A jumbogram (RFC 2675) never carries Neighbor Discovery.
		return IPv6{}, fmt.Errorf("l2: ipv6 payload length 0: %w", ErrMalformed)
	}
	if IPv6HeaderLen+plen > len(b) {
		return IPv6{}, fmt.Errorf("l2: ipv6 payload of %d bytes, %d present: %w",
			plen, len(b)-IPv6HeaderLen, io.ErrUnexpectedEOF)
	}
	return IPv6{
		NextHeader: b[6],
		HopLimit:   b[7],
		Src:        netip.AddrFrom16([16]byte(b[8:24])),
		Dst:        netip.AddrFrom16([16]byte(b[24:40])),
		Payload:    b[IPv6HeaderLen : IPv6HeaderLen+plen],
	}, nil
}

// ND is a validated Neighbor Discovery message with the headers that
// carried it.
type ND struct {
	Eth     Ethernet
	IP      IPv6
	Message Message
}

// ParseND parses an Ethernet frame carrying an ICMPv6 Router Solicitation,
// Router Advertisement, Neighbor Solicitation or Neighbor Advertisement and
// applies the receiver's validity checks of RFC 4861 (6.1.1, 6.1.2, 7.1.1,
// 7.1.2). Other well-formed frames give ErrNotND.
func ParseND(frame []byte) (*ND, error) {
	eth, err := ParseEthernet(frame)
	if err != nil {
		return nil, err
	}
	if eth.EtherType != EtherTypeIPv6 {
		return nil, fmt.Errorf("l2: ethertype %#04x: %w", eth.EtherType, ErrNotND)
	}
	ip, err := ParseIPv6(eth.Payload)
	if err != nil {
		return nil, err
	}
	// Neighbor Discovery messages carry no extension headers in practice;
	// one that hides behind them is not for us.
	if ip.NextHeader != ProtoICMPv6 {
		return nil, fmt.Errorf("l2: next header %d: %w", ip.NextHeader, ErrNotND)
	}
	icmp := ip.Payload
	if len(icmp) < 4 {
		return nil, fmt.Errorf("l2: icmpv6 header: %w", io.ErrUnexpectedEOF)
	}
	typ := ipv6.ICMPType(icmp[0])
	var minLen int
	switch typ {
	case ipv6.ICMPTypeRouterSolicitation:
		minLen = 8 // RFC 4861 6.1.1: ICMP length is 8 or more octets.
	case ipv6.ICMPTypeRouterAdvertisement:
		minLen = 16 // RFC 4861 6.1.2: 16 or more octets.
	case ipv6.ICMPTypeNeighborSolicitation, ipv6.ICMPTypeNeighborAdvertisement:
		minLen = 24 // RFC 4861 7.1.1, 7.1.2: 24 or more octets.
	default:
		return nil, fmt.Errorf("l2: icmpv6 type %d: %w", icmp[0], ErrNotND)
	}
	// RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2: the IP Hop Limit is 255, the
	// ICMP code is 0, the checksum is valid and the message is long enough.
	if ip.HopLimit != NDHopLimit {
		return nil, fmt.Errorf("l2: %s with hop limit %d: %w", typ, ip.HopLimit, ErrInvalidND)
	}
	if icmp[1] != 0 {
		return nil, fmt.Errorf("l2: %s with code %d: %w", typ, icmp[1], ErrInvalidND)
	}
	if len(icmp) < minLen {
		return nil, fmt.Errorf("l2: %s of %d octets: %w", typ, len(icmp), ErrInvalidND)
	}
	if Checksum(ip.Src, ip.Dst, ProtoICMPv6, icmp) != 0 {
		return nil, fmt.Errorf("l2: %s with bad checksum: %w", typ, ErrInvalidND)
	}
	// RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2: all included options have a
	// length greater than zero; the message ends with its last option (the
	// IPv6 payload length bounds it, so an option running past the end is
	// an invalid message, not a short read).
	msg, err := ParseMessage(icmp)
	if err != nil {
		if errors.Is(err, ErrInvalidND) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", err, ErrInvalidND)
	}
	nd := &ND{Eth: eth, IP: ip, Message: msg}
	if err := nd.validate(); err != nil {
		return nil, err
	}
	return nd, nil
}

// SourceLLAOf returns the Source Link-Layer Address option in opts, if any.
func SourceLLAOf(opts []Option) (net.HardwareAddr, bool) {
	for _, o := range opts {
		if lla, ok := o.(*LinkLayerAddress); ok && lla.Direction == Source {
			return lla.Addr, true
		}
	}
	return nil, false
}

// SourceLLA returns the Source Link-Layer Address option of an RS, RA or
// NS, if present.
func (nd *ND) SourceLLA() (net.HardwareAddr, bool) {
	switch m := nd.Message.(type) {
	case *RouterSolicitation:
		return SourceLLAOf(m.Options)
	case *RouterAdvertisement:
		return SourceLLAOf(m.Options)
	case *NeighborSolicitation:
		return SourceLLAOf(m.Options)
	}
	return nil, false
}

// IsDAD reports whether nd is a Duplicate Address Detection probe: a
// Neighbor Solicitation from the unspecified address (RFC 4862 5.4.2).
func (nd *ND) IsDAD() bool {
	_, ok := nd.Message.(*NeighborSolicitation)
	return ok && nd.IP.Src.IsUnspecified()
}

// solicitedNode is ff02::1:ff00:0/104 (RFC 4291 2.7.1).
var solicitedNode = netip.MustParsePrefix("ff02::1:ff00:0/104")

// validate applies the type-specific checks of RFC 4861.
func (nd *ND) validate() error {
	src, dst := nd.IP.Src, nd.IP.Dst
	_, hasSLLA := nd.SourceLLA()
	switch m := nd.Message.(type) {
	case *RouterSolicitation:
		// RFC 4861 6.1.1: if the IP source address is the unspecified
		// address, there is no source link-layer address option.
		if src.IsUnspecified() && hasSLLA {
			return fmt.Errorf("l2: router solicitation from :: with source link-layer address: %w", ErrInvalidND)
		}
	case *RouterAdvertisement:
		// RFC 4861 6.1.2: the IP source address is a link-local address.
		if !src.IsLinkLocalUnicast() {
			return fmt.Errorf("l2: router advertisement from %s: %w", src, ErrInvalidND)
		}
	case *NeighborSolicitation:
		// RFC 4861 7.1.1: the target is not a multicast address.
		if m.TargetAddress.IsMulticast() {
			return fmt.Errorf("l2: neighbor solicitation for multicast %s: %w", m.TargetAddress, ErrInvalidND)
		}
		if src.IsUnspecified() {
			// RFC 4861 7.1.1: from the unspecified address, the destination
			// is a solicited-node multicast address and there is no source
			// link-layer address option.
			if !solicitedNode.Contains(dst) {
				return fmt.Errorf("l2: DAD probe to %s: %w", dst, ErrInvalidND)
			}
			if hasSLLA {
				return fmt.Errorf("l2: DAD probe with source link-layer address: %w", ErrInvalidND)
			}
		}
	case *NeighborAdvertisement:
		// RFC 4861 7.1.2: the target is not multicast; a reply to a
		// multicast destination does not have the Solicited flag.
		if m.TargetAddress.IsMulticast() {
			return fmt.Errorf("l2: neighbor advertisement for multicast %s: %w", m.TargetAddress, ErrInvalidND)
		}
		if dst.IsMulticast() && m.Solicited {
			return fmt.Errorf("l2: solicited neighbor advertisement to %s: %w", dst, ErrInvalidND)
		}
	}
	return nil
}

// Checksum returns the Internet checksum (RFC 1071) of payload under the
// IPv6 pseudo-header of RFC 8200 8.1. Over a message whose checksum field
// is filled in, it returns 0 when the checksum is right.
func Checksum(src, dst netip.Addr, proto uint8, payload []byte) uint16 {
	var sum uint32
	s, d := src.As16(), dst.As16()
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	n := uint32(len(payload))
	sum += n>>16 + n&0xffff
	sum += uint32(proto)
	for i := 0; i+1 < len(payload); i += 2 {
		sum += uint32(payload[i])<<8 | uint32(payload[i+1])
	}
	if len(payload)%2 == 1 {
		sum += uint32(payload[len(payload)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// AppendND appends to b an Ethernet frame carrying msg in an IPv6 packet
// with hop limit 255 (RFC 4861 6.1, 7.1) and a computed ICMPv6 checksum.
// It writes in place: with a b of enough capacity it allocates nothing.
func AppendND(b []byte, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, msg Message) ([]byte, error) {
	if len(srcMAC) != 6 || len(dstMAC) != 6 {
		return nil, fmt.Errorf("l2: build %s: MAC addresses must be 6 bytes", msg.Type())
	}
	if !isIPv6(src) || !isIPv6(dst) {
		return nil, fmt.Errorf("l2: build %s: %s -> %s: not IPv6", msg.Type(), src, dst)
	}
	start := len(b)
	b = append(b, dstMAC...)
	b = append(b, srcMAC...)
	b = binary.BigEndian.AppendUint16(b, EtherTypeIPv6)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = append(b, 0, 0)          // payload length, below
	b = append(b, ProtoICMPv6, NDHopLimit)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	icmp := len(b)
	b = append(b, byte(msg.Type()), 0, 0, 0) // type, code 0, checksum below
	b, err := msg.appendBody(b)
	if err != nil {
		return nil, fmt.Errorf("l2: build %s: %w", msg.Type(), err)
	}
	body := b[icmp:]
	if len(body) > 0xffff {
		return nil, fmt.Errorf("l2: build %s: %d octets: too long", msg.Type(), len(body))
	}
	binary.BigEndian.PutUint16(b[start+EthernetHeaderLen+4:], uint16(len(body)))
	binary.BigEndian.PutUint16(body[2:4], Checksum(src, dst, ProtoICMPv6, body))
	return b, nil
}
