package l2_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
)

var (
	hnp  = netip.MustParseAddr("2001:db8:a:1::")
	dns1 = netip.MustParseAddr("2001:db8::53")
	dns2 = netip.MustParseAddr("2001:db8::54")
)

// ndCases are the same message in both codecs: l2's must produce the
// bytes mdlayher/ndp produces, and parse them back to itself.
var ndCases = []struct {
	name string
	l2   l2.Message
	ndp  ndp.Message
}{
	{"rs bare", &l2.RouterSolicitation{}, &ndp.RouterSolicitation{}},
	{"rs sllao",
		&l2.RouterSolicitation{Options: []l2.Option{&l2.LinkLayerAddress{Direction: l2.Source, Addr: macA}}},
		&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: macA}}}},
	{"rs unknown option",
		&l2.RouterSolicitation{Options: []l2.Option{&l2.RawOption{Type: 99, Length: 1, Value: []byte{1, 2, 3, 4, 5, 6}}}},
		&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.RawOption{Type: 99, Length: 1, Value: []byte{1, 2, 3, 4, 5, 6}}}}},
	{"ra as the MAG sends it",
		&l2.RouterAdvertisement{
			CurrentHopLimit: 64, RouterLifetime: 1800 * time.Second, ReachableTime: 30 * time.Second, RetransmitTimer: time.Second,
			Options: []l2.Option{
				&l2.LinkLayerAddress{Direction: l2.Source, Addr: rmac},
				&l2.MTU{MTU: 1460},
				&l2.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
					ValidLifetime: 1800 * time.Second, PreferredLifetime: 1800 * time.Second, Prefix: hnp},
				&l2.RecursiveDNSServer{Lifetime: 1800 * time.Second, Servers: []netip.Addr{dns1, dns2}},
			}},
		&ndp.RouterAdvertisement{
			CurrentHopLimit: 64, RouterLifetime: 1800 * time.Second, ReachableTime: 30 * time.Second, RetransmitTimer: time.Second,
			Options: []ndp.Option{
				&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: rmac},
				ndp.NewMTU(1460),
				&ndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
					ValidLifetime: 1800 * time.Second, PreferredLifetime: 1800 * time.Second, Prefix: hnp},
				&ndp.RecursiveDNSServer{Lifetime: 1800 * time.Second, Servers: []netip.Addr{dns1, dns2}},
			}}},
	{"ra flags, preference, final",
		&l2.RouterAdvertisement{ManagedConfiguration: true, OtherConfiguration: true, RouterSelectionPreference: l2.Low,
			Options: []l2.Option{&l2.PrefixInformation{PrefixLength: 48, OnLink: true, Prefix: netip.MustParseAddr("2001:db8:b::")}}},
		&ndp.RouterAdvertisement{ManagedConfiguration: true, OtherConfiguration: true, RouterSelectionPreference: ndp.Low,
			Options: []ndp.Option{&ndp.PrefixInformation{PrefixLength: 48, OnLink: true, Prefix: netip.MustParseAddr("2001:db8:b::")}}}},
	{"ns",
		&l2.NeighborSolicitation{TargetAddress: llA, Options: []l2.Option{&l2.LinkLayerAddress{Direction: l2.Source, Addr: rmac}}},
		&ndp.NeighborSolicitation{TargetAddress: llA, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: rmac}}}},
	{"na",
		&l2.NeighborAdvertisement{Router: true, Solicited: true, Override: true, TargetAddress: llA,
			Options: []l2.Option{&l2.LinkLayerAddress{Direction: l2.Target, Addr: macA}}},
		&ndp.NeighborAdvertisement{Router: true, Solicited: true, Override: true, TargetAddress: llA,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: macA}}}},
}

func TestNDCodecAgainstNDP(t *testing.T) {
	for _, tc := range ndCases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := ndp.MarshalMessageChecksum(tc.ndp, rtr, llA)
			if err != nil {
				t.Fatal(err)
			}
			frame, err := l2.AppendND(nil, rmac, macA, rtr, llA, tc.l2)
			if err != nil {
				t.Fatal(err)
			}
			got := frame[l2.EthernetHeaderLen+l2.IPv6HeaderLen:]
			if !bytes.Equal(got, want) {
				t.Fatalf("ICMPv6 bytes\n got %x\nwant %x (ndp)", got, want)
			}
			back, err := l2.ParseMessage(want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.l2, back, addrEq); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAppendNDInPlace: with room in b, building an RA allocates nothing
// (the RA sender reuses one buffer).
func TestAppendNDInPlace(t *testing.T) {
	ra := ndCases[3].l2
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := l2.AppendND(buf[:0], rmac, macA, rtr, llA, ra); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendND allocates %.0f times per RA, want 0", allocs)
	}
	// Appending keeps what b held.
	f, err := l2.AppendND([]byte("xy"), rmac, macA, rtr, llA, ra)
	if err != nil || string(f[:2]) != "xy" {
		t.Fatalf("prefix lost: %q %v", f[:2], err)
	}
	nd, err := l2.ParseND(f[2:])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ra, nd.Message, addrEq); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseMessageErrors(t *testing.T) {
	icmp := func(typ byte, body ...byte) []byte { return append([]byte{typ, 0, 0, 0}, body...) }
	ns := func(target netip.Addr, opts ...byte) []byte {
		a := target.As16()
		return icmp(135, append(append([]byte{0, 0, 0, 0}, a[:]...), opts...)...)
	}
	pio := func(plen byte, prefix netip.Addr) []byte {
		a := prefix.As16()
		b := []byte{3, 4, plen, 0xc0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}
		return append(b, a[:]...)
	}
	ra := func(opts ...byte) []byte { return icmp(134, append(make([]byte, 12), opts...)...) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", []byte{133, 0, 0}, io.ErrUnexpectedEOF},
		{"echo", icmp(128, 0, 0, 0, 0), l2.ErrNotND},
		{"redirect", icmp(137, make([]byte, 36)...), l2.ErrNotND},
		{"rs short", icmp(133, 0, 0), io.ErrUnexpectedEOF},
		{"ra short", icmp(134, make([]byte, 11)...), io.ErrUnexpectedEOF},
		{"ns short", icmp(135, make([]byte, 19)...), io.ErrUnexpectedEOF},
		{"na short", icmp(136, make([]byte, 19)...), io.ErrUnexpectedEOF},
		{"option header cut", icmp(133, 0, 0, 0, 0, 1), io.ErrUnexpectedEOF},
		{"option of length 0", icmp(133, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4, 5, 6), l2.ErrInvalidND},
		{"option overruns", icmp(133, 0, 0, 0, 0, 1, 2, 1, 2, 3, 4, 5, 6), io.ErrUnexpectedEOF},
		{"lla of 14 octets", icmp(133, 0, 0, 0, 0, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14), l2.ErrInvalidND},
		{"mtu of 16 octets", ra(5, 2, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0), l2.ErrInvalidND},
		{"pio of 24 octets", ra(pio(64, hnp)[:24]...), io.ErrUnexpectedEOF},
		{"pio length 129", ra(pio(129, hnp)...), l2.ErrInvalidND},
		{"pio mapped", ra(pio(128, netip.MustParseAddr("::ffff:10.0.0.1"))...), l2.ErrInvalidND},
		{"rdnss without server", ra(25, 1, 0, 0, 0, 0, 0, 1), l2.ErrInvalidND},
		{"rdnss even length", ra(append([]byte{25, 4, 0, 0, 0, 0, 0, 1}, make([]byte, 24)...)...), l2.ErrInvalidND},
		{"ns for mapped target", ns(netip.MustParseAddr("::ffff:10.0.0.1")), l2.ErrInvalidND},
	}
	for _, tc := range cases {
		if _, err := l2.ParseMessage(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}

	// RFC 4191 2.2: a reserved preference reads as medium.
	b := ra()
	b[5] = 2 << 3
	m, err := l2.ParseMessage(b)
	if err != nil || m.(*l2.RouterAdvertisement).RouterSelectionPreference != l2.Medium {
		t.Errorf("reserved preference: %+v %v", m, err)
	}
	// RFC 4861 4.6.2: bits past the prefix length are ignored.
	m, err = l2.ParseMessage(ra(pio(32, netip.MustParseAddr("2001:db8:ffff::1"))...))
	if err != nil || m.(*l2.RouterAdvertisement).Options[0].(*l2.PrefixInformation).Prefix != netip.MustParseAddr("2001:db8::") {
		t.Errorf("unmasked prefix: %+v %v", m, err)
	}
	// An unknown option survives (RFC 4861 4.6) with its bytes.
	m, err = l2.ParseMessage(icmp(133, 0, 0, 0, 0, 31, 1, 1, 2, 3, 4, 5, 6))
	if err != nil {
		t.Fatal(err)
	}
	want := &l2.RouterSolicitation{Options: []l2.Option{&l2.RawOption{Type: 31, Length: 1, Value: []byte{1, 2, 3, 4, 5, 6}}}}
	if diff := cmp.Diff(l2.Message(want), m); diff != "" {
		t.Errorf("unknown option (-want +got):\n%s", diff)
	}
}

func TestAppendNDRejectsValues(t *testing.T) {
	cases := []struct {
		name string
		msg  l2.Message
	}{
		{"ns mapped target", &l2.NeighborSolicitation{TargetAddress: netip.MustParseAddr("::ffff:10.0.0.1")}},
		{"na no target", &l2.NeighborAdvertisement{}},
		{"ra reserved preference", &l2.RouterAdvertisement{RouterSelectionPreference: 2}},
		{"ra lifetime over 16 bits", &l2.RouterAdvertisement{RouterLifetime: 0x10000 * time.Second}},
		{"ra negative reachable", &l2.RouterAdvertisement{ReachableTime: -time.Millisecond}},
		{"lla of 8 octets", &l2.RouterSolicitation{Options: []l2.Option{&l2.LinkLayerAddress{Direction: l2.Source, Addr: make([]byte, 8)}}}},
		{"lla direction", &l2.RouterSolicitation{Options: []l2.Option{&l2.LinkLayerAddress{Direction: 3, Addr: macA}}}},
		{"pio no prefix", &l2.RouterAdvertisement{Options: []l2.Option{&l2.PrefixInformation{PrefixLength: 64}}}},
		{"pio length 129", &l2.RouterAdvertisement{Options: []l2.Option{&l2.PrefixInformation{PrefixLength: 129, Prefix: hnp}}}},
		{"rdnss empty", &l2.RouterAdvertisement{Options: []l2.Option{&l2.RecursiveDNSServer{}}}},
		{"rdnss mapped", &l2.RouterAdvertisement{Options: []l2.Option{&l2.RecursiveDNSServer{Servers: []netip.Addr{netip.MustParseAddr("::ffff:1.1.1.1")}}}}},
		{"raw length", &l2.RouterSolicitation{Options: []l2.Option{&l2.RawOption{Type: 99, Length: 1, Value: []byte{1}}}}},
		{"nil option", &l2.RouterSolicitation{Options: []l2.Option{nil}}},
	}
	for _, tc := range cases {
		if _, err := l2.AppendND(nil, rmac, macA, rtr, llA, tc.msg); !errors.Is(err, l2.ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", tc.name, err)
		}
	}
}

// checkAgainstNDP compares what l2 accepted with mdlayher/ndp's reading of
// the same ICMPv6 bytes, when ndp accepts them too: same message type,
// target and options in the same order with the same codes, and the
// values of the options l2 interprets field by field.
func checkAgainstNDP(t *testing.T, nd *l2.ND) {
	t.Helper()
	m, err := ndp.ParseMessage(nd.IP.Payload)
	if err != nil {
		return // ndp is stricter on options the MAG never reads
	}
	if m.Type() != nd.Message.Type() {
		t.Fatalf("ndp reads %v, l2 %v", m.Type(), nd.Message.Type())
	}
	var want []ndp.Option
	var got []l2.Option
	switch m := m.(type) {
	case *ndp.RouterSolicitation:
		want, got = m.Options, nd.Message.(*l2.RouterSolicitation).Options
	case *ndp.RouterAdvertisement:
		ra := nd.Message.(*l2.RouterAdvertisement)
		if m.CurrentHopLimit != ra.CurrentHopLimit || m.RouterLifetime != ra.RouterLifetime ||
			m.ReachableTime != ra.ReachableTime || m.RetransmitTimer != ra.RetransmitTimer ||
			m.ManagedConfiguration != ra.ManagedConfiguration || m.OtherConfiguration != ra.OtherConfiguration {
			t.Fatalf("RA fields: ndp %+v, l2 %+v", m, ra)
		}
		want, got = m.Options, ra.Options
	case *ndp.NeighborSolicitation:
		ns := nd.Message.(*l2.NeighborSolicitation)
		if m.TargetAddress != ns.TargetAddress {
			t.Fatalf("NS target: ndp %s, l2 %s", m.TargetAddress, ns.TargetAddress)
		}
		want, got = m.Options, ns.Options
	case *ndp.NeighborAdvertisement:
		na := nd.Message.(*l2.NeighborAdvertisement)
		if m.TargetAddress != na.TargetAddress || m.Router != na.Router || m.Solicited != na.Solicited || m.Override != na.Override {
			t.Fatalf("NA: ndp %+v, l2 %+v", m, na)
		}
		want, got = m.Options, na.Options
	}
	if len(want) != len(got) {
		t.Fatalf("ndp reads %d options, l2 %d", len(want), len(got))
	}
	for i := range want {
		same := true
		switch w := want[i].(type) {
		case *ndp.LinkLayerAddress:
			g, ok := got[i].(*l2.LinkLayerAddress)
			same = ok && uint8(w.Direction) == uint8(g.Direction) && bytes.Equal(w.Addr, g.Addr)
		case *ndp.MTU:
			g, ok := got[i].(*l2.MTU)
			same = ok && w.MTU == g.MTU
		case *ndp.PrefixInformation:
			g, ok := got[i].(*l2.PrefixInformation)
			same = ok && w.PrefixLength == g.PrefixLength && w.OnLink == g.OnLink &&
				w.AutonomousAddressConfiguration == g.AutonomousAddressConfiguration &&
				w.ValidLifetime == g.ValidLifetime && w.PreferredLifetime == g.PreferredLifetime && w.Prefix == g.Prefix
		case *ndp.RecursiveDNSServer:
			g, ok := got[i].(*l2.RecursiveDNSServer)
			same = ok && w.Lifetime == g.Lifetime && cmp.Equal(w.Servers, g.Servers, addrEq)
		default:
			same = want[i].Code() == got[i].Code()
		}
		if !same {
			t.Fatalf("option %d: ndp %+v, l2 %+v", i, want[i], got[i])
		}
	}
}
