package sniff

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

var (
	macA   = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	macB   = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 2}
	llA    = netip.MustParseAddr("fe80::aa:ff:fe00:1")
	global = netip.MustParseAddr("2001:db8:1:2::aa")
)

// frameCase is a frame with what classify and the filter must make of it.
type frameCase struct {
	name  string
	frame []byte
	kind  Kind  // 0: no trigger
	err   error // expected error class when kind is 0
	ll    netip.Addr
	addr  netip.Addr
	cid   []byte
	// pass: the filter (listing no client) must let the whole frame up.
	pass bool
}

func mutate(b []byte, f func([]byte)) []byte {
	c := append([]byte(nil), b...)
	f(c)
	return c
}

func frameCases() []frameCase {
	rs := l2test.RS(macA, llA)
	dhcp := l2test.DHCP(macA, l2test.DHCPDiscover, []byte{1, 2, 0xaa, 0, 0, 0, 1})
	// An IPv4 header with 4 bytes of options (IHL 6) in front of DHCP.
	dhcpOpts := func() []byte {
		f := l2test.DHCP(macA, l2test.DHCPRequest, nil)
		ip := append([]byte(nil), f[14:34]...)
		ip[0] = 0x46
		tot := int(ip[2])<<8 | int(ip[3])
		tot += 4
		ip[2], ip[3] = byte(tot>>8), byte(tot)
		ip[10], ip[11] = 0, 0
		hdr := append(ip, 1, 1, 1, 0) // NOP NOP NOP EOL
		var sum uint32
		for i := 0; i < len(hdr); i += 2 {
			sum += uint32(hdr[i])<<8 | uint32(hdr[i+1])
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		cs := ^uint16(sum)
		hdr[10], hdr[11] = byte(cs>>8), byte(cs)
		out := append(append(append([]byte(nil), f[:14]...), hdr...), f[34:]...)
		return out
	}()
	return []frameCase{
		{name: "rs link-local", frame: rs, kind: KindRouterSolicitation, ll: llA, pass: true},
		{name: "rs unspecified", frame: l2test.RS(macA, netip.IPv6Unspecified()), kind: KindRouterSolicitation, pass: true},
		{name: "rs with ethernet padding", frame: append(append([]byte(nil), rs...), make([]byte, 12)...), kind: KindRouterSolicitation, ll: llA, pass: true},
		{name: "dad link-local", frame: l2test.DAD(macA, llA), kind: KindDAD, ll: llA, pass: true},
		{name: "dad global", frame: l2test.DAD(macA, global), kind: KindDAD, addr: global, pass: true},
		{name: "dhcp discover", frame: dhcp, kind: KindDHCPDiscover, cid: []byte{1, 2, 0xaa, 0, 0, 0, 1}, pass: true},
		{name: "dhcp request", frame: l2test.DHCP(macA, l2test.DHCPRequest, nil), kind: KindDHCPRequest, pass: true},
		{name: "dhcp request ip options", frame: dhcpOpts, kind: KindDHCPRequest, pass: true},
		{name: "dhcp release", frame: l2test.DHCP(macA, l2test.DHCPRelease, nil), err: errNotTrigger, pass: true},
		{name: "rs hop limit 254", frame: mutate(rs, func(b []byte) { b[21] = 254 }), err: l2.ErrInvalidND, pass: true},
		{name: "rs bad checksum", frame: mutate(rs, func(b []byte) { b[56] ^= 0xff }), err: l2.ErrInvalidND, pass: true},
		{name: "rs code 1", frame: mutate(rs, func(b []byte) { b[55] = 1 }), err: l2.ErrInvalidND, pass: true},
		{name: "rs lla of another", frame: l2test.MustND(macA, l2test.AllRoutersMAC, llA, l2test.AllRouters,
			&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: macB}}}),
			err: l2.ErrInvalidND, pass: true},
		{name: "rs from :: with lla", frame: l2test.MustND(macA, l2test.AllRoutersMAC, netip.IPv6Unspecified(), l2test.AllRouters,
			&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: macA}}}),
			err: l2.ErrInvalidND, pass: true},
		{name: "rs zero-length option", frame: func() []byte {
			f := l2test.MustND(macA, l2test.AllRoutersMAC, llA, l2test.AllRouters,
				&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.RawOption{Type: 200, Length: 1, Value: make([]byte, 6)}}})
			f[14+40+8+1] = 0
			fixICMP(f)
			return f
		}(), err: l2.ErrInvalidND, pass: true},
		{name: "ns not dad", frame: l2test.MustND(macA, macB, llA, netip.MustParseAddr("fe80::1"),
			&ndp.NeighborSolicitation{TargetAddress: netip.MustParseAddr("fe80::1")}), err: errNotTrigger},
		{name: "dad to wrong group", frame: l2test.MustND(macA, l2test.AllRoutersMAC, netip.IPv6Unspecified(), l2test.AllNodes,
			&ndp.NeighborSolicitation{TargetAddress: llA}), err: l2.ErrInvalidND, pass: true},
		{name: "router advertisement", frame: l2test.MustND(macA, macB, llA, l2test.AllNodes,
			&ndp.RouterAdvertisement{RouterLifetime: 0}), err: errNotTrigger},
		{name: "dhcp reply to client port", frame: l2test.UDP4(macA, l2test.Broadcast, netip.MustParseAddr("10.0.0.1"),
			netip.MustParseAddr("255.255.255.255"), 67, 68, make([]byte, 300)), err: errNotTrigger},
		{name: "dhcp chaddr of another", frame: mutate(dhcp, func(b []byte) { b[14+20+8+28+5] ^= 1; fixUDP(b) }), err: l2.ErrMalformed, pass: true},
		{name: "dhcp bad udp checksum", frame: mutate(dhcp, func(b []byte) { b[14+20+6] ^= 0x55 }), err: l2.ErrMalformed, pass: true},
		{name: "dhcp bad ip checksum", frame: mutate(dhcp, func(b []byte) { b[14+10] ^= 0x55 }), err: l2.ErrMalformed, pass: true},
		{name: "dhcp fragment", frame: mutate(dhcp, func(b []byte) { b[14+6] |= 0x20; fixIP(b) }), err: errNotTrigger},
		{name: "dhcp truncated", frame: dhcp[:14+20+8+100], err: l2.ErrMalformed, pass: true},
		{name: "arp", frame: l2test.Ethernet(macA, l2test.Broadcast, 0x0806, make([]byte, 28)), err: errNotTrigger},
		{name: "short ethernet", frame: rs[:10], err: io.ErrUnexpectedEOF},
		{name: "ipv6 truncated", frame: rs[:14+40+4], err: io.ErrUnexpectedEOF, pass: true},
	}
}

// fixIP recomputes the IPv4 header checksum of an Ethernet frame.
func fixIP(b []byte) {
	ip := b[14:34]
	ip[10], ip[11] = 0, 0
	cs := ^onesSum(ip)
	ip[10], ip[11] = byte(cs>>8), byte(cs)
}

// fixICMP recomputes the ICMPv6 checksum of an Ethernet frame.
func fixICMP(b []byte) {
	ip, err := l2.ParseIPv6(b[14:])
	if err != nil {
		panic(err)
	}
	ip.Payload[2], ip.Payload[3] = 0, 0
	cs := l2.Checksum(ip.Src, ip.Dst, 58, ip.Payload)
	ip.Payload[2], ip.Payload[3] = byte(cs>>8), byte(cs)
}

// fixUDP zeroes the UDP checksum (none computed, RFC 768).
func fixUDP(b []byte) { b[14+20+6], b[14+20+7] = 0, 0 }

func TestClassify(t *testing.T) {
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := classify(tc.frame)
			if tc.kind == 0 {
				if err == nil {
					t.Fatalf("classify = %+v, want error %v", got, tc.err)
				}
				if !errors.Is(err, tc.err) {
					t.Fatalf("classify error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			if got.Kind != tc.kind || !bytes.Equal(got.MAC, macA) || got.LinkLocal != tc.ll || got.Address != tc.addr || !bytes.Equal(got.ClientID, tc.cid) {
				t.Fatalf("classify = %+v, want kind %s ll %s addr %s cid %x", got, tc.kind, tc.ll, tc.addr, tc.cid)
			}
		})
	}
}

func TestFilterPassesTriggersOnly(t *testing.T) {
	c := l2test.New()
	if err := c.SetFilter(buildFilter(nil)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range frameCases() {
		n := c.Pass(tc.frame)
		switch {
		case tc.pass && n != len(tc.frame):
			t.Errorf("%s: filter passed %d of %d bytes, want all", tc.name, n, len(tc.frame))
		case !tc.pass && n != 0:
			t.Errorf("%s: filter passed %d bytes, want none", tc.name, n)
		}
	}
}

func TestFilterListsUnseenClients(t *testing.T) {
	c := l2test.New()
	if err := c.SetFilter(buildFilter([]mac{mac(macB), {0x02, 0xcc, 0, 0, 0, 3}})); err != nil {
		t.Fatal(err)
	}
	ipv4 := l2test.UDP4(macB, macA, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("8.8.8.8"), 5000, 53, make([]byte, 100))
	if n := c.Pass(ipv4); n != snapSeen {
		t.Errorf("frame from listed client: passed %d bytes, want %d", n, snapSeen)
	}
	other := l2test.UDP4(macA, macB, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("8.8.8.8"), 5000, 53, make([]byte, 100))
	if n := c.Pass(other); n != 0 {
		t.Errorf("frame from unlisted MAC: passed %d bytes, want 0", n)
	}
	// Same first four bytes, different last two: must not match.
	near := l2test.Ethernet(net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 9}, macA, 0x0806, make([]byte, 28))
	if n := c.Pass(near); n != 0 {
		t.Errorf("frame from near-miss MAC: passed %d bytes, want 0", n)
	}
	// A trigger from a listed client still comes up whole.
	rs := l2test.RS(macB, llA)
	if n := c.Pass(rs); n != len(rs) {
		t.Errorf("RS from listed client: passed %d bytes, want %d", n, len(rs))
	}
}

func TestFilterFitsKernelLimit(t *testing.T) {
	many := make([]mac, maxFilterMACs+10)
	for i := range many {
		many[i] = mac{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
	}
	p := buildFilter(many)
	if len(p)+3 > 4096 { // l2 adds 3 instructions
		t.Fatalf("filter of %d instructions exceeds BPF_MAXINSNS", len(p))
	}
	c := l2test.New()
	if err := c.SetFilter(p); err != nil {
		t.Fatal(err)
	}
	last := many[maxFilterMACs-1]
	if n := c.Pass(l2test.Ethernet(last[:], macA, 0x0806, make([]byte, 28))); n != snapSeen {
		t.Fatalf("last listed MAC: passed %d, want %d", n, snapSeen)
	}
}
