package dhcpserver

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/openpmip/pmip/internal/clock/clocktest"
)

// The DHCP and ARP paths of issue 4 "Bad input": any frame, any DHCP
// message, must neither panic nor produce a reply that is not a
// well-formed frame. Corpus under testdata/fuzz.

var (
	fuzzClient = mac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	fuzzRouter = mac{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
)

// fuzzEngine has a lease for fuzzClient only; every other MAC takes the
// pending path.
type fuzzEngine struct{}

func (fuzzEngine) Lookup(hw net.HardwareAddr) (Lease, bool) {
	if len(hw) != 6 || mac(hw) != fuzzClient {
		return Lease{}, false
	}
	return Lease{Addr: netip.MustParsePrefix("10.20.0.17/24"), Router: netip.MustParseAddr("10.20.0.1"),
		Lifetime: time.Hour}, true
}
func (fuzzEngine) OnClientSeen(Client)                    {}
func (fuzzEngine) OnRelease(net.HardwareAddr, netip.Addr) {}
func (fuzzEngine) OnDecline(net.HardwareAddr, netip.Addr) {}

// checkConn checks every frame the server writes.
type checkConn struct {
	net.PacketConn // nil: only WriteTo is used
	t              *testing.T
}

func (c checkConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	switch {
	case len(b) == arpFrameLength && binary.BigEndian.Uint16(b[12:14]) == etherTypeARP:
	case len(b) > etherHeaderLen+ipv4HeaderLen+udpHeaderLen:
		if checksum(b[etherHeaderLen:etherHeaderLen+ipv4HeaderLen], 0) != 0 {
			c.t.Fatalf("reply with bad IPv4 checksum: %x", b)
		}
		if _, err := dhcpv4.FromBytes(b[etherHeaderLen+ipv4HeaderLen+udpHeaderLen:]); err != nil {
			c.t.Fatalf("reply does not parse: %v", err)
		}
	default:
		c.t.Fatalf("short reply frame: %x", b)
	}
	return len(b), nil
}

func fuzzServer(t *testing.T) *Server {
	conn := checkConn{t: t}
	s, err := New(Config{Engine: fuzzEngine{}, RouterMAC: net.HardwareAddr(fuzzRouter[:]),
		Clock: clocktest.New(time.Unix(0, 0))}, conn, conn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seedMessages(f *testing.F) []*dhcpv4.DHCPv4 {
	hw := net.HardwareAddr(fuzzClient[:])
	disc, err := dhcpv4.NewDiscovery(hw)
	if err != nil {
		f.Fatal(err)
	}
	sel, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(hw),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 20, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 20, 0, 17))))
	renew, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(hw),
		dhcpv4.WithClientIP(net.IPv4(10, 20, 0, 17)))
	rel, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithHwAddr(hw),
		dhcpv4.WithClientIP(net.IPv4(10, 20, 0, 17)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 20, 0, 1))))
	dec, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline), dhcpv4.WithHwAddr(hw),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 20, 0, 17))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 20, 0, 1))))
	inf, _ := dhcpv4.NewInform(hw, net.IPv4(10, 20, 0, 17))
	return []*dhcpv4.DHCPv4{disc, sel, renew, rel, dec, inf}
}

// FuzzHandleFrame feeds raw frames to both receive paths.
func FuzzHandleFrame(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(appendUDPFrame(nil, fuzzClient, broadcastMAC, netip.IPv4Unspecified(),
			netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, m.ToBytes()))
	}
	arp := make([]byte, arpFrameLength)
	copy(arp[6:12], fuzzClient[:])
	arp[12], arp[13] = 0x08, 0x06
	copy(arp[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(arp[22:28], fuzzClient[:])
	copy(arp[28:32], []byte{10, 20, 0, 17})
	copy(arp[38:42], []byte{10, 20, 0, 1})
	f.Add(arp)
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := fuzzServer(t)
		s.handleDHCPFrame(frame)
		s.handleARPFrame(frame)
		if len(frame) >= 12 {
			s.LeaseReady(net.HardwareAddr(frame[6:12]))
		}
	})
}

// FuzzDHCPMessage wraps the input in a valid frame from a client, so the
// fuzzer spends its time in the DHCP decoder and the state handling. The
// first byte picks the sender (leased client or not) and the destination
// (broadcast or unicast to the router).
func FuzzDHCPMessage(f *testing.F) {
	for i, m := range seedMessages(f) {
		f.Add(byte(i), m.ToBytes())
	}
	f.Fuzz(func(t *testing.T, sel byte, payload []byte) {
		s := fuzzServer(t)
		src := fuzzClient
		if sel&1 != 0 {
			src[5] ^= 0xff
		}
		srcIP, dstIP := netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})
		if sel&2 != 0 {
			srcIP, dstIP = netip.MustParseAddr("10.20.0.17"), netip.MustParseAddr("10.20.0.1")
		}
		s.handleDHCPFrame(appendUDPFrame(nil, src, broadcastMAC, srcIP, dstIP, 68, 67, payload))
		// A lease arriving for the sender answers whatever is pending.
		s.LeaseReady(net.HardwareAddr(src[:]))
		if st := s.Stats(); st.Received != 1 || st.Malformed+st.Ignored > 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// FuzzARPRequest: the router announcement (appendARPRequest) round-trips
// through the request parser for any addresses, and the frame is
// exactly one ARP frame long.
func FuzzARPRequest(f *testing.F) {
	f.Add([]byte{2, 0, 0x5e, 0, 0, 1}, []byte{10, 20, 0, 1}, []byte{2, 0x11, 0x22, 0x33, 0x44, 0x55}, []byte{10, 20, 0, 17})
	f.Fuzz(func(t *testing.T, sha, spa, dstMAC, tpa []byte) {
		if len(sha) != 6 || len(spa) != 4 || len(dstMAC) != 6 || len(tpa) != 4 {
			return
		}
		s, d := mac(sha), mac(dstMAC)
		sp, tp := netip.AddrFrom4([4]byte(spa)), netip.AddrFrom4([4]byte(tpa))
		prefix := []byte{0xee}
		b := appendARPRequest(prefix, s, sp, d, tp)
		if len(b) != 1+arpFrameLength || b[0] != 0xee {
			t.Fatalf("appended %d bytes after the prefix, want %d", len(b)-1, arpFrameLength)
		}
		r, err := parseARP(b[1:])
		if err != nil {
			t.Fatal(err)
		}
		if r.sha != s || r.ethSrc != s || r.spa != sp || r.tpa != tp || !bytes.Equal(b[1:7], dstMAC) {
			t.Fatalf("round trip %+v from sha %v spa %v dst %v tpa %v", r, s, sp, d, tp)
		}
	})
}
