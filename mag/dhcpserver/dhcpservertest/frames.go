package dhcpservertest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ClientFrame wraps a client's DHCP message in Ethernet II, IPv4 and UDP
// 68 -> 67 headers with correct checksums, as a client's packet socket
// sends it.
func ClientFrame(src, dst net.HardwareAddr, srcIP, dstIP netip.Addr, m *dhcpv4.DHCPv4) []byte {
	return UDPFrame(src, dst, srcIP, dstIP, 68, 67, m.ToBytes())
}

// UDPFrame builds an Ethernet II + IPv4 + UDP frame.
func UDPFrame(src, dst net.HardwareAddr, srcIP, dstIP netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 14+20+8+len(payload))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	b[12], b[13] = 0x08, 0x00
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	s, d := srcIP.As4(), dstIP.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], inetChecksum(ip))
	udp := b[34:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	c := inetChecksum(append(pseudo(srcIP, dstIP, len(udp)), udp...))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return b
}

func pseudo(src, dst netip.Addr, n int) []byte {
	s, d := src.As4(), dst.As4()
	p := append(s[:], d[:]...)
	return append(p, 0, 17, byte(n>>8), byte(n))
}

// inetChecksum is RFC 1071, written out plainly.
func inetChecksum(b []byte) uint16 {
	var sum uint64
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ServerFrame is a decoded frame from the server.
type ServerFrame struct {
	DstMAC, SrcMAC net.HardwareAddr
	SrcIP, DstIP   netip.Addr
	TTL            uint8
	Msg            *dhcpv4.DHCPv4
}

// ParseServerFrame decodes a DHCP reply frame and checks every header
// field a client's raw socket checks: IPv4 version, length and header
// checksum, UDP ports 67 -> 68, length and checksum.
func ParseServerFrame(b []byte) (ServerFrame, error) {
	var f ServerFrame
	if len(b) < 42 {
		return f, fmt.Errorf("frame of %d bytes", len(b))
	}
	f.DstMAC, f.SrcMAC = net.HardwareAddr(b[0:6]), net.HardwareAddr(b[6:12])
	if b[12] != 0x08 || b[13] != 0 {
		return f, errors.New("not IPv4")
	}
	ip := b[14:]
	if ip[0] != 0x45 {
		return f, fmt.Errorf("ip version/ihl %#x", ip[0])
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total != len(ip) {
		return f, fmt.Errorf("ip total length %d, frame carries %d", total, len(ip))
	}
	if inetChecksum(ip[:20]) != 0 {
		return f, errors.New("bad ip header checksum")
	}
	if ip[9] != 17 {
		return f, errors.New("not udp")
	}
	f.TTL = ip[8]
	f.SrcIP = netip.AddrFrom4([4]byte(ip[12:16]))
	f.DstIP = netip.AddrFrom4([4]byte(ip[16:20]))
	udp := ip[20:]
	if sp, dp := binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:]); sp != 67 || dp != 68 {
		return f, fmt.Errorf("udp ports %d -> %d", sp, dp)
	}
	if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
		return f, errors.New("bad udp length")
	}
	if binary.BigEndian.Uint16(udp[6:]) == 0 || inetChecksum(append(pseudo(f.SrcIP, f.DstIP, len(udp)), udp...)) != 0 {
		return f, errors.New("bad or missing udp checksum")
	}
	m, err := dhcpv4.FromBytes(udp[8:])
	if err != nil {
		return f, err
	}
	f.Msg = m
	return f, nil
}

// ARPRequest builds an RFC 826 request from sha/spa for tpa, broadcast.
func ARPRequest(sha net.HardwareAddr, spa, tpa netip.Addr) []byte {
	b := make([]byte, 42)
	copy(b[0:6], Broadcast)
	copy(b[6:12], sha)
	b[12], b[13] = 0x08, 0x06
	a := b[14:]
	a[1] = 1    // Ethernet
	a[2] = 0x08 // IPv4
	a[4], a[5] = 6, 4
	a[7] = 1 // request
	copy(a[8:14], sha)
	s, t := spa.As4(), tpa.As4()
	copy(a[14:18], s[:])
	copy(a[24:28], t[:])
	return b
}

// ARPReply is a decoded RFC 826 reply (or request: ParseARPRequest).
type ARPReply struct {
	EthDst, EthSrc net.HardwareAddr
	SHA, THA       net.HardwareAddr
	SPA, TPA       netip.Addr
}

// ParseARPReply decodes an ARP reply frame.
func ParseARPReply(b []byte) (ARPReply, error) { return parseARP(b, 2) }

// ParseARPRequest decodes an ARP request frame.
func ParseARPRequest(b []byte) (ARPReply, error) { return parseARP(b, 1) }

func parseARP(b []byte, wantOp uint16) (ARPReply, error) {
	var r ARPReply
	if len(b) < 42 || b[12] != 0x08 || b[13] != 0x06 {
		return r, errors.New("not an ARP frame")
	}
	a := b[14:]
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return r, errors.New("not ARP for IPv4 over Ethernet")
	}
	if op := binary.BigEndian.Uint16(a[6:]); op != wantOp {
		return r, fmt.Errorf("ARP op %d, want %d", op, wantOp)
	}
	r.EthDst, r.EthSrc = net.HardwareAddr(b[0:6]), net.HardwareAddr(b[6:12])
	r.SHA, r.THA = net.HardwareAddr(a[8:14]), net.HardwareAddr(a[18:24])
	r.SPA = netip.AddrFrom4([4]byte(a[14:18]))
	r.TPA = netip.AddrFrom4([4]byte(a[24:28]))
	return r, nil
}
