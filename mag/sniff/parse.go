package sniff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/openpmip/pmip/mag/l2"
)

// errNotTrigger: a well-formed frame that is not an attach trigger.
var errNotTrigger = errors.New("sniff: not an attach trigger")

// DHCP (RFC 2131, RFC 2132) constants the sniffer reads.
const (
	dhcpServerPort  = 67
	bootRequest     = 1
	htypeEthernet   = 1
	bootpFixedLen   = 236 // op .. file, RFC 2131 2
	dhcpCookie      = 0x63825363
	optPad          = 0
	optEnd          = 255
	optOverload     = 52
	optMessageType  = 53
	optClientID     = 61
	dhcpDiscover    = 1
	dhcpRequest     = 3
	udpHeaderLen    = 8
	ipv4MinHdrLen   = 20
	ipProtoUDP      = 17
	bootpSnameOff   = 44
	bootpFileOff    = 108
	bootpChaddrOff  = 28
	bootpSnameLen   = 64
	bootpFileLen    = 128
	overloadFile    = 1
	overloadSname   = 2
	overloadBoth    = 3
	ipv4FlagMF      = 0x2000
	ipv4OffsetMask  = 0x1fff
	ipv4VersionIHL4 = 4
)

// classify turns a frame into the trigger it carries. The returned Trigger
// has MAC, Kind and the link-local address or client identifier seen; the
// caller fills in Interface and At.
func classify(frame []byte) (Trigger, error) {
	eth, err := l2.ParseEthernet(frame)
	if err != nil {
		return Trigger{}, err
	}
	switch eth.EtherType {
	case l2.EtherTypeIPv6:
		return classifyND(frame, eth)
	case l2.EtherTypeIPv4:
		return classifyDHCP(eth)
	}
	return Trigger{}, fmt.Errorf("sniff: ethertype %#04x: %w", eth.EtherType, errNotTrigger)
}

func classifyND(frame []byte, eth l2.Ethernet) (Trigger, error) {
	nd, err := l2.ParseND(frame)
	if errors.Is(err, l2.ErrNotND) {
		return Trigger{}, fmt.Errorf("sniff: %w: %w", errNotTrigger, err)
	}
	if err != nil {
		return Trigger{}, err
	}
	t := Trigger{MAC: eth.Src}
	switch m := nd.Message.(type) {
	case *l2.RouterSolicitation:
		t.Kind = KindRouterSolicitation
		if nd.IP.Src.IsLinkLocalUnicast() {
			t.LinkLocal = nd.IP.Src
		}
		// RFC 4861 6.1.1 makes no demand on the option, but a link-layer
		// address that contradicts the frame's sender marks a host speaking
		// for another: not a client attaching itself.
		if lla, ok := l2.SourceLLAOf(m.Options); ok && !bytes.Equal(lla, eth.Src) {
			return Trigger{}, fmt.Errorf("sniff: router solicitation from %s names %s: %w", eth.Src, lla, l2.ErrInvalidND)
		}
	case *l2.NeighborSolicitation:
		if !nd.IsDAD() {
			return Trigger{}, fmt.Errorf("sniff: neighbor solicitation from %s: %w", nd.IP.Src, errNotTrigger)
		}
		t.Kind = KindDAD
		if m.TargetAddress.IsLinkLocalUnicast() {
			t.LinkLocal = m.TargetAddress
		} else {
			t.Address = m.TargetAddress
		}
	default:
		return Trigger{}, fmt.Errorf("sniff: %s: %w", nd.Message.Type(), errNotTrigger)
	}
	return t, nil
}

// classifyDHCP recognises a DHCPDISCOVER or DHCPREQUEST (RFC 2131 3.1)
// in an unfragmented UDP/IPv4 datagram to port 67.
func classifyDHCP(eth l2.Ethernet) (Trigger, error) {
	b := eth.Payload
	if len(b) < ipv4MinHdrLen {
		return Trigger{}, fmt.Errorf("sniff: ipv4 header: %w", io.ErrUnexpectedEOF)
	}
	if b[0]>>4 != ipv4VersionIHL4 {
		return Trigger{}, fmt.Errorf("sniff: ipv4 version %d: %w", b[0]>>4, l2.ErrMalformed)
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < ipv4MinHdrLen || total < ihl || total > len(b) || len(b) < ihl {
		return Trigger{}, fmt.Errorf("sniff: ipv4 header length %d, total %d, %d present: %w", ihl, total, len(b), l2.ErrMalformed)
	}
	if b[9] != ipProtoUDP {
		return Trigger{}, fmt.Errorf("sniff: ip protocol %d: %w", b[9], errNotTrigger)
	}
	if fo := binary.BigEndian.Uint16(b[6:8]); fo&(ipv4FlagMF|ipv4OffsetMask) != 0 {
		return Trigger{}, fmt.Errorf("sniff: ipv4 fragment: %w", errNotTrigger)
	}
	// RFC 791 3.1: the header checksum covers the header.
	if onesSum(b[:ihl]) != 0xffff {
		return Trigger{}, fmt.Errorf("sniff: ipv4 header checksum: %w", l2.ErrMalformed)
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	udp := b[ihl:total]
	if len(udp) < udpHeaderLen {
		return Trigger{}, fmt.Errorf("sniff: udp header: %w", io.ErrUnexpectedEOF)
	}
	if binary.BigEndian.Uint16(udp[2:4]) != dhcpServerPort {
		return Trigger{}, fmt.Errorf("sniff: udp port %d: %w", binary.BigEndian.Uint16(udp[2:4]), errNotTrigger)
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < udpHeaderLen || ulen > len(udp) {
		return Trigger{}, fmt.Errorf("sniff: udp length %d, %d present: %w", ulen, len(udp), l2.ErrMalformed)
	}
	udp = udp[:ulen]
	// RFC 768: a zero checksum means none was computed.
	if cs := binary.BigEndian.Uint16(udp[6:8]); cs != 0 && udpChecksum(src, dst, udp) != 0xffff {
		return Trigger{}, fmt.Errorf("sniff: udp checksum: %w", l2.ErrMalformed)
	}
	msg := udp[udpHeaderLen:]
	if len(msg) < bootpFixedLen+4 {
		return Trigger{}, fmt.Errorf("sniff: bootp message of %d octets: %w", len(msg), io.ErrUnexpectedEOF)
	}
	if msg[0] != bootRequest {
		return Trigger{}, fmt.Errorf("sniff: bootp op %d: %w", msg[0], errNotTrigger)
	}
	// RFC 2131 2: htype 1 and hlen 6 for 10 Mb Ethernet, whose MAC chaddr
	// carries. A chaddr other than the frame's sender is someone asking on
	// another's behalf (a relay has no business on an access link).
	if msg[1] != htypeEthernet || msg[2] != 6 {
		return Trigger{}, fmt.Errorf("sniff: bootp htype %d hlen %d: %w", msg[1], msg[2], l2.ErrMalformed)
	}
	chaddr := msg[bootpChaddrOff : bootpChaddrOff+6]
	if !bytes.Equal(chaddr, eth.Src) {
		return Trigger{}, fmt.Errorf("sniff: chaddr %s from %s: %w", net.HardwareAddr(chaddr), eth.Src, l2.ErrMalformed)
	}
	if binary.BigEndian.Uint32(msg[bootpFixedLen:bootpFixedLen+4]) != dhcpCookie {
		return Trigger{}, fmt.Errorf("sniff: no DHCP magic cookie: %w", errNotTrigger)
	}
	opts, err := dhcpOptions(msg)
	if err != nil {
		return Trigger{}, err
	}
	t := Trigger{MAC: eth.Src, ClientID: opts.clientID}
	switch opts.msgType {
	case dhcpDiscover:
		t.Kind = KindDHCPDiscover
	case dhcpRequest:
		t.Kind = KindDHCPRequest
	case 0:
		return Trigger{}, fmt.Errorf("sniff: BOOTREQUEST without DHCP message type: %w", errNotTrigger)
	default:
		return Trigger{}, fmt.Errorf("sniff: DHCP message type %d: %w", opts.msgType, errNotTrigger)
	}
	return t, nil
}

type dhcpOpts struct {
	msgType  byte
	clientID []byte
	overload byte
}

// dhcpOptions reads the options field and, when option 52 says so, the
// file and sname fields that carry more options (RFC 2132 9.3).
func dhcpOptions(msg []byte) (dhcpOpts, error) {
	var o dhcpOpts
	if err := o.scan(msg[bootpFixedLen+4:], true); err != nil {
		return o, err
	}
	if o.overload == overloadFile || o.overload == overloadBoth {
		if err := o.scan(msg[bootpFileOff:bootpFileOff+bootpFileLen], false); err != nil {
			return o, err
		}
	}
	if o.overload == overloadSname || o.overload == overloadBoth {
		if err := o.scan(msg[bootpSnameOff:bootpSnameOff+bootpSnameLen], false); err != nil {
			return o, err
		}
	}
	return o, nil
}

func (o *dhcpOpts) scan(b []byte, main bool) error {
	for len(b) > 0 {
		code := b[0]
		if code == optPad {
			b = b[1:]
			continue
		}
		if code == optEnd {
			return nil
		}
		if len(b) < 2 || int(b[1])+2 > len(b) {
			return fmt.Errorf("sniff: DHCP option %d overruns the message: %w", code, io.ErrUnexpectedEOF)
		}
		v := b[2 : 2+int(b[1])]
		switch code {
		case optMessageType:
			if len(v) != 1 {
				return fmt.Errorf("sniff: DHCP message type of %d octets: %w", len(v), l2.ErrMalformed)
			}
			o.msgType = v[0]
		case optClientID:
			// RFC 2132 9.14: the client identifier is at least 2 octets.
			if len(v) < 2 {
				return fmt.Errorf("sniff: DHCP client identifier of %d octets: %w", len(v), l2.ErrMalformed)
			}
			o.clientID = append([]byte(nil), v...)
		case optOverload:
			// RFC 2132 9.3: only in the options field proper.
			if main && len(v) == 1 {
				o.overload = v[0]
			}
		}
		b = b[2+len(v):]
	}
	// RFC 2131 4.1 asks for an End option, but clients that omit it exist
	// and nothing is ambiguous without it.
	return nil
}

// onesSum is the 16-bit one's complement sum of b (RFC 1071): 0xffff over
// a header whose checksum field is right.
func onesSum(b []byte) uint16 {
	return ^fold(0, b)
}

// fold adds b to sum and returns the complemented 16-bit result, the
// Internet checksum.
func fold(sum uint32, b []byte) uint16 {
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

// udpChecksum returns the one's complement sum over the UDP/IPv4
// pseudo-header and the datagram (RFC 768); 0xffff means it checks out.
func udpChecksum(src, dst netip.Addr, udp []byte) uint16 {
	s, d := src.As4(), dst.As4()
	var sum uint32
	sum += uint32(s[0])<<8 | uint32(s[1])
	sum += uint32(s[2])<<8 | uint32(s[3])
	sum += uint32(d[0])<<8 | uint32(d[1])
	sum += uint32(d[2])<<8 | uint32(d[3])
	sum += ipProtoUDP + uint32(len(udp))
	return ^fold(sum, udp)
}
