package dhcpserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// The server talks to clients at layer 2 (raw Ethernet frames on a packet
// socket): a client in INIT state has no address the kernel could route a
// reply to, and the MAG need not hold any IPv4 address on the access link
// for DHCP to work (RFC 2131 4.1: replies to a client without an address
// go to its hardware address).

// Well-known values of the headers we build and parse.
const (
	etherHeaderLen = 14
	ipv4HeaderLen  = 20 // we send no IP options
	udpHeaderLen   = 8

	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806

	protoUDP = 17

	// RFC 2131 4.1: servers receive on UDP port 67, clients on port 68.
	serverPort = 67
	clientPort = 68

	// replyTTL is the TTL of the frames we originate (RFC 1700 default 64).
	replyTTL = 64
)

// Errors returned by the frame parsers. They wrap into the reasons logged
// for dropped frames.
var (
	errNotIPv4      = errors.New("dhcpserver: not an IPv4 frame")
	errNotUDP       = errors.New("dhcpserver: not a UDP datagram")
	errNotToServer  = errors.New("dhcpserver: UDP datagram not for port 67")
	errFragment     = errors.New("dhcpserver: IPv4 fragment")
	errBadIPHeader  = errors.New("dhcpserver: malformed IPv4 header")
	errBadChecksum  = errors.New("dhcpserver: bad checksum")
	errBadUDPLength = errors.New("dhcpserver: bad UDP length")
	errBadSourceMAC = errors.New("dhcpserver: group or zero source MAC")
)

// mac is a comparable 48-bit Ethernet address, the key of every per-client
// table.
type mac [6]byte

func (m mac) String() string {
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return string(b)
}

// isUnicast reports whether m is a usable station address: not a group
// address (I/G bit, IEEE 802 section 8.2) and not all zeroes.
func (m mac) isUnicast() bool {
	return m[0]&1 == 0 && m != mac{}
}

var broadcastMAC = mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// udpFrame is an inbound UDP/IPv4 datagram with the Ethernet and IP facts
// the DHCP handler needs.
type udpFrame struct {
	srcMAC, dstMAC mac
	srcIP, dstIP   netip.Addr
	payload        []byte // aliases the read buffer
}

// parseUDPFrame decodes an Ethernet II frame carrying UDP/IPv4 to port 67.
// It verifies the IPv4 header checksum and, when present, the UDP
// checksum, so a corrupted DHCP message never reaches the handler.
func parseUDPFrame(b []byte) (udpFrame, error) {
	var f udpFrame
	if len(b) < etherHeaderLen {
		return f, fmt.Errorf("dhcpserver: ethernet header: %w", io.ErrUnexpectedEOF)
	}
	copy(f.dstMAC[:], b[0:6])
	copy(f.srcMAC[:], b[6:12])
	if binary.BigEndian.Uint16(b[12:14]) != etherTypeIPv4 {
		return f, errNotIPv4
	}
	if !f.srcMAC.isUnicast() {
		return f, errBadSourceMAC
	}
	ip := b[etherHeaderLen:]
	if len(ip) < ipv4HeaderLen {
		return f, fmt.Errorf("dhcpserver: ipv4 header: %w", io.ErrUnexpectedEOF)
	}
	// RFC 791 3.1: version 4, IHL in 32-bit words, at least 5.
	if ip[0]>>4 != 4 {
		return f, fmt.Errorf("%w: version %d", errBadIPHeader, ip[0]>>4)
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < ipv4HeaderLen {
		return f, fmt.Errorf("%w: header length %d", errBadIPHeader, ihl)
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < ihl {
		return f, fmt.Errorf("%w: total length %d below header length %d", errBadIPHeader, total, ihl)
	}
	if len(ip) < total {
		return f, fmt.Errorf("dhcpserver: ipv4 total length %d, have %d: %w", total, len(ip), io.ErrUnexpectedEOF)
	}
	ip = ip[:total] // drop Ethernet padding
	if checksum(ip[:ihl], 0) != 0 {
		return f, fmt.Errorf("%w: ipv4 header", errBadChecksum)
	}
	// RFC 791 3.1: MF flag or a non-zero fragment offset marks a fragment.
	// DHCP messages fit one frame; we do not reassemble.
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return f, errFragment
	}
	if ip[9] != protoUDP {
		return f, errNotUDP
	}
	f.srcIP = netip.AddrFrom4([4]byte(ip[12:16]))
	f.dstIP = netip.AddrFrom4([4]byte(ip[16:20]))

	udp := ip[ihl:]
	if len(udp) < udpHeaderLen {
		return f, fmt.Errorf("dhcpserver: udp header: %w", io.ErrUnexpectedEOF)
	}
	if binary.BigEndian.Uint16(udp[2:4]) != serverPort {
		return f, errNotToServer
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < udpHeaderLen || ulen > len(udp) {
		return f, fmt.Errorf("%w: %d in a %d-byte payload", errBadUDPLength, ulen, len(udp))
	}
	udp = udp[:ulen]
	// RFC 768: a zero checksum means the sender computed none.
	if binary.BigEndian.Uint16(udp[6:8]) != 0 {
		if checksum(udp, pseudoHeaderSum(f.srcIP, f.dstIP, ulen)) != 0 {
			return f, fmt.Errorf("%w: udp", errBadChecksum)
		}
	}
	f.payload = udp[udpHeaderLen:]
	return f, nil
}

// appendUDPFrame appends an Ethernet II + IPv4 + UDP frame around payload
// to dst and returns it.
func appendUDPFrame(dst []byte, srcMAC, dstMAC mac, srcIP, dstIP netip.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	start := len(dst)
	total := ipv4HeaderLen + udpHeaderLen + len(payload)
	dst = append(dst, make([]byte, etherHeaderLen+ipv4HeaderLen+udpHeaderLen)...)
	dst = append(dst, payload...)
	fr := dst[start:]
	copy(fr[0:6], dstMAC[:])
	copy(fr[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(fr[12:14], etherTypeIPv4)

	ip := fr[etherHeaderLen:]
	ip[0] = 0x45 // version 4, IHL 5
	ip[1] = 0xc0 // DSCP CS6 (network control), as DHCP servers commonly mark
	binary.BigEndian.PutUint16(ip[2:4], uint16(total))
	// Identification 0 and DF: the datagram is never fragmented
	// (RFC 6864 4.1 allows ID 0 on atomic datagrams).
	binary.BigEndian.PutUint16(ip[6:8], 0x4000)
	ip[8] = replyTTL
	ip[9] = protoUDP
	s4, d4 := srcIP.As4(), dstIP.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:ipv4HeaderLen], 0))

	udp := ip[ipv4HeaderLen:]
	ulen := udpHeaderLen + len(payload)
	binary.BigEndian.PutUint16(udp[0:2], srcPort)
	binary.BigEndian.PutUint16(udp[2:4], dstPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(ulen))
	c := checksum(udp, pseudoHeaderSum(srcIP, dstIP, ulen))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:8], c)
	return dst
}

// pseudoHeaderSum is the one's complement sum of the UDP pseudo-header
// (RFC 768): source, destination, protocol and UDP length.
func pseudoHeaderSum(src, dst netip.Addr, udpLen int) uint32 {
	s, d := src.As4(), dst.As4()
	var sum uint32
	sum += uint32(s[0])<<8 | uint32(s[1])
	sum += uint32(s[2])<<8 | uint32(s[3])
	sum += uint32(d[0])<<8 | uint32(d[1])
	sum += uint32(d[2])<<8 | uint32(d[3])
	sum += protoUDP
	sum += uint32(udpLen)
	return sum
}

// checksum returns the Internet checksum (RFC 1071) of b, seeded with an
// initial partial sum: the complement of the folded sum. Over data that
// carries a correct checksum it returns 0.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return ^checksumFold(sum)
}

func checksumFold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
