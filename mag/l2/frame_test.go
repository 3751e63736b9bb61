package l2_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

var (
	macA = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	llA  = netip.MustParseAddr("fe80::aa:ff:fe00:1")
	rtr  = netip.MustParseAddr("fe80::200:5eff:fe00:5213")
	rmac = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}
)

var addrEq = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Golden frames, decoded by tshark 4.0.17 with "Checksum: ... [correct]" and
// every field as written here.
var goldenRS = unhex(`
	3333 0000 0002  02aa 0000 0001  86dd
	6000 0000 0010 3aff
	fe80 0000 0000 0000 00aa 00ff fe00 0001
	ff02 0000 0000 0000 0000 0000 0000 0002
	8500 79d8 0000 0000  0101 02aa 0000 0001`)

var goldenRA = unhex(`
	02aa 0000 0001  0000 5e00 5213  86dd
	6000 0000 0038 3aff
	fe80 0000 0000 0000 0200 5eff fe00 5213
	fe80 0000 0000 0000 00aa 00ff fe00 0001
	8600 3eff 4000 0e10 0000 0000 0000 0000
	0101 0000 5e00 5213
	0304 40c0 0000 0e10 0000 0e10 0000 0000 2001 0db8 000a 0001 0000 0000 0000 0000`)

func TestGoldenRS(t *testing.T) {
	got := l2test.RS(macA, llA)
	if !bytes.Equal(got, goldenRS) {
		t.Fatalf("RS frame\n got %x\nwant %x", got, goldenRS)
	}
	nd, err := l2.ParseND(goldenRS)
	if err != nil {
		t.Fatal(err)
	}
	want := &l2.RouterSolicitation{Options: []l2.Option{&l2.LinkLayerAddress{Direction: l2.Source, Addr: macA}}}
	if diff := cmp.Diff(want, nd.Message, addrEq); diff != "" {
		t.Errorf("parsed RS (-want +got):\n%s", diff)
	}
	if nd.IP.Src != llA || nd.IP.Dst != netip.MustParseAddr("ff02::2") || nd.IP.HopLimit != 255 {
		t.Errorf("ip %+v", nd.IP)
	}
	if lla, ok := nd.SourceLLA(); !ok || !bytes.Equal(lla, macA) {
		t.Errorf("source LLA %s %v", lla, ok)
	}
}

func TestGoldenRA(t *testing.T) {
	ra := &l2.RouterAdvertisement{
		CurrentHopLimit: 64,
		RouterLifetime:  3600 * time.Second,
		Options: []l2.Option{
			&l2.LinkLayerAddress{Direction: l2.Source, Addr: rmac},
			&l2.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
				ValidLifetime: time.Hour, PreferredLifetime: time.Hour, Prefix: netip.MustParseAddr("2001:db8:a:1::")},
		},
	}
	got, err := l2.AppendND(nil, rmac, macA, rtr, llA, ra)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, goldenRA) {
		t.Fatalf("RA frame\n got %x\nwant %x", got, goldenRA)
	}
	nd, err := l2.ParseND(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l2.Message(ra), nd.Message, addrEq); diff != "" {
		t.Errorf("parsed RA (-want +got):\n%s", diff)
	}
}

func TestChecksumVerifies(t *testing.T) {
	ip, err := l2.ParseIPv6(goldenRA[14:])
	if err != nil {
		t.Fatal(err)
	}
	if c := l2.Checksum(ip.Src, ip.Dst, l2.ProtoICMPv6, ip.Payload); c != 0 {
		t.Errorf("checksum over a correct message = %#x, want 0", c)
	}
}

func TestParseNDErrors(t *testing.T) {
	mut := func(f func([]byte)) []byte {
		b := bytes.Clone(goldenRS)
		f(b)
		return b
	}
	dad := l2test.DAD(macA, llA)
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"short ethernet", goldenRS[:13], io.ErrUnexpectedEOF},
		{"ipv4", l2test.DHCP(macA, 1, nil), l2.ErrNotND},
		{"short ipv6", goldenRS[:14+39], io.ErrUnexpectedEOF},
		{"version 4 in ipv6", mut(func(b []byte) { b[14] = 0x40 }), l2.ErrMalformed},
		{"jumbo", mut(func(b []byte) { b[18], b[19] = 0, 0 }), l2.ErrMalformed},
		{"payload past end", mut(func(b []byte) { b[19] = 0x20 }), io.ErrUnexpectedEOF},
		{"udp", mut(func(b []byte) { b[20] = 17 }), l2.ErrNotND},
		{"echo request", mut(func(b []byte) { b[54] = 128 }), l2.ErrNotND},
		{"hop limit", mut(func(b []byte) { b[21] = 1 }), l2.ErrInvalidND},
		{"code", mut(func(b []byte) { b[55] = 3 }), l2.ErrInvalidND},
		{"checksum", mut(func(b []byte) { b[57] ^= 1 }), l2.ErrInvalidND},
		{"rs too short", mut(func(b []byte) { b[19] = 4 }), l2.ErrInvalidND},
		{"ns for multicast", l2test.MustND(macA, macA, llA, llA, &ndp.NeighborSolicitation{TargetAddress: netip.MustParseAddr("ff02::1")}), l2.ErrInvalidND},
		{"ra from global", l2test.MustND(macA, macA, netip.MustParseAddr("2001:db8::1"), llA, &ndp.RouterAdvertisement{}), l2.ErrInvalidND},
		{"solicited na to multicast", l2test.MustND(macA, macA, llA, netip.MustParseAddr("ff02::1"),
			&ndp.NeighborAdvertisement{Solicited: true, TargetAddress: llA}), l2.ErrInvalidND},
		{"dad with lla", l2test.MustND(macA, macA, netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1"),
			&ndp.NeighborSolicitation{TargetAddress: llA, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: macA}}}), l2.ErrInvalidND},
		{"option overruns", mut(func(b []byte) { b[63] = 2; fixICMP(b) }), l2.ErrInvalidND},
	}
	for _, tc := range cases {
		_, err := l2.ParseND(tc.frame)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseND error %v, want %v", tc.name, err, tc.want)
		}
	}
	nd, err := l2.ParseND(dad)
	if err != nil || !nd.IsDAD() {
		t.Errorf("DAD probe: %v, IsDAD %v", err, nd != nil && nd.IsDAD())
	}
}

func fixICMP(b []byte) {
	ip, err := l2.ParseIPv6(b[14:])
	if err != nil {
		panic(err)
	}
	ip.Payload[2], ip.Payload[3] = 0, 0
	c := l2.Checksum(ip.Src, ip.Dst, l2.ProtoICMPv6, ip.Payload)
	ip.Payload[2], ip.Payload[3] = byte(c>>8), byte(c)
}

func TestAppendNDRejects(t *testing.T) {
	if _, err := l2.AppendND(nil, rmac[:3], macA, rtr, llA, &l2.RouterSolicitation{}); err == nil {
		t.Error("short MAC accepted")
	}
	if _, err := l2.AppendND(nil, rmac, macA, netip.MustParseAddr("10.0.0.1"), llA, &l2.RouterSolicitation{}); err == nil {
		t.Error("IPv4 source accepted")
	}
	bad := &l2.RouterAdvertisement{Options: []l2.Option{&l2.PrefixInformation{PrefixLength: 64, Prefix: netip.MustParseAddr("2001:db8::1")}}}
	if _, err := l2.AppendND(nil, rmac, macA, rtr, llA, bad); err == nil {
		t.Error("unmasked prefix accepted")
	}
}

func TestIsUnicastMAC(t *testing.T) {
	for _, tc := range []struct {
		mac  net.HardwareAddr
		want bool
	}{
		{macA, true}, {rmac, true},
		{net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, false},
		{net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false},
		{net.HardwareAddr{0, 0, 0, 0, 0, 0}, false},
		{net.HardwareAddr{2, 0, 0}, false},
	} {
		if got := l2.IsUnicastMAC(tc.mac); got != tc.want {
			t.Errorf("IsUnicastMAC(%s) = %v", tc.mac, got)
		}
	}
}
