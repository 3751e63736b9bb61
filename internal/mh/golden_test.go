package mh

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// h decodes hex written with spaces, newlines and "|" separators.
func h(s string) []byte {
	r := strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "")
	b, err := hex.DecodeString(r.Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

var (
	macA = net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

	// cmpOpts compares netip values, which hide their fields.
	cmpOpts = []cmp.Option{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
)

type goldenCase struct {
	name string
	m    Message
	b    []byte
}

// Each golden case is written by hand from the RFC layout; the comments
// give the offset from the start of the Mobility Header, which is what the
// alignment rules (RFC 6275 6.2) count from.
var registrationCases = []goldenCase{
	{
		name: "PBU no options, PadN to 16",
		m:    &ProxyBindingUpdate{Sequence: 1, Flags: BUFlagA | BUFlagP, Lifetime: 40 * time.Second},
		b:    h("3b 01 05 00 0000 | 0001 8200 000a | 01 02 0000"),
	},
	{
		name: "PBU RFC 5213 options",
		m: &ProxyBindingUpdate{
			Sequence: 7, Flags: BUFlagA | BUFlagP, Lifetime: 300 * time.Second,
			Options: []Option{
				NewNAI("mn1"),
				&HomeNetworkPrefix{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)},
				&HandoffIndicatorOption{HI: HandoffNewInterface},
				&AccessTechnologyTypeOption{ATT: ATTIEEE80211},
				&Timestamp{Value: 0x0000000100020003},
				&MobileNodeLinkLayerID{ID: macA},
				&LinkLocalAddress{Addr: netip.IPv6Unspecified()},
			},
		},
		b: h(`3b 0a 05 00 0000 | 0007 8200 004b
			08 04 01 6d6e31
			0100
			16 12 00 00 00000000000000000000000000000000
			17 02 00 01
			18 02 00 04
			0100
			1b 08 0000000100020003
			19 08 0000 aabbccddeeff
			1a 10 00000000000000000000000000000000`),
	},
	{
		name: "PBA IPv4 options and GRE key",
		m: &ProxyBindingAck{
			Status: StatusAccepted, Flags: BAFlagP, Sequence: 7, Lifetime: 300 * time.Second,
			Options: []Option{
				&HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:1:2::/64")},
				&IPv4HomeAddressReply{Status: IPv4HoASuccess, Prefix: netip.MustParsePrefix("10.0.0.5/24")},
				&IPv4DefaultRouterAddress{Addr: netip.MustParseAddr("10.0.0.1")},
				&GREKey{HasKey: true, Key: 0x11223344},
				&IPv4DHCPSupportMode{Server: true},
			},
		},
		b: h(`3b 07 06 00 0000 | 00 20 0007 004b
			16 12 00 40 20010db8000100020000000000000000
			25 06 00 60 0a000005
			26 06 0000 0a000001
			21 06 0000 11223344
			27 02 0001
			01 02 0000`),
	},
	{
		name: "PBU over IPv4 transport",
		m: &ProxyBindingUpdate{
			Sequence: 1, Flags: BUFlagA | BUFlagP, Lifetime: 40 * time.Second,
			Options: []Option{
				&IPv4HomeAddressRequest{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
				&IPv4CareOfAddress{Addr: netip.MustParseAddr("192.0.2.1")},
			},
		},
		b: h(`3b 03 05 00 0000 | 0001 8200 000a
			24 06 0000 00000000
			20 06 0000 c0000201
			01 02 0000`),
	},
	{
		name: "PBU keyless GRE, deregistration",
		m: &ProxyBindingUpdate{
			Sequence: 0xfffe, Flags: BUFlagA | BUFlagP | BUFlagT, Lifetime: 0,
			Options: []Option{&GREKey{}},
		},
		b: h(`3b 01 05 00 0000 | fffe 8280 0000
			21 02 0000`),
	},
	{
		name: "PBA rejected with unknown option kept raw",
		m: &ProxyBindingAck{
			Status: StatusNotLMAForThisMobileNode, Flags: BAFlagP, Sequence: 9,
			Options: []Option{&RawOption{Type: 200, Data: []byte{1, 2, 3}}},
		},
		b: h(`3b 02 06 00 0000 | 99 20 0009 0000
			c8 03 010203
			01 05 0000000000`),
	},
	{
		name: "PBU EUI-48 identifier, maximum lifetime",
		m: &ProxyBindingUpdate{
			Sequence: 2, Flags: BUFlagA | BUFlagP, Lifetime: MaxLifetime,
			Options: []Option{NewEUI48(macA)},
		},
		b: h(`3b 02 05 00 0000 | 0002 8200 ffff
			08 07 05 aabbccddeeff
			01 01 00`),
	},
	{
		name: "Binding Refresh Request kept as unknown message",
		m:    &UnknownMessage{MHType: TypeBindingRefreshRequest, Data: []byte{0, 0}},
		b:    h("3b 00 00 00 0000 0000"),
	},
}

func runGolden(t *testing.T, cases []goldenCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := cmp.Diff(tt.b, b); diff != "" {
				t.Fatalf("Marshal bytes (-want +got):\n%s\ngot %x", diff, b)
			}
			m, err := Parse(tt.b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.m, m, cmpOpts...); diff != "" {
				t.Fatalf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGoldenRegistration(t *testing.T) { runGolden(t, registrationCases) }

// TestParseAcceptsOtherPadding parses a PBU whose sender padded
// differently (Pad1 runs, a PadN with non-zero content, options not at
// their preferred alignment): RFC 6275 6.2 has the receiver accept it.
func TestParseAcceptsOtherPadding(t *testing.T) {
	b := h(`3b 03 05 00 0000 | 0001 8200 000a
		00 00 00
		17 02 00 03
		01 03 ffffff
		18 02 00 03
		00 00 00 00`)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &ProxyBindingUpdate{Sequence: 1, Flags: BUFlagA | BUFlagP, Lifetime: 40 * time.Second,
		Options: []Option{&HandoffIndicatorOption{HI: 3}, &AccessTechnologyTypeOption{ATT: 3}}}
	if diff := cmp.Diff(want, m, cmpOpts...); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestTimestampConversion(t *testing.T) {
	// RFC 5213 8.8: 48 bits of seconds since 1970, 16 bits of 1/65536 s.
	tm := time.Date(2026, 11, 22, 20, 0, 0, int(time.Second/4), time.UTC)
	ts := TimestampFromTime(tm)
	if want := uint64(tm.Unix())<<16 | 0x4000; ts.Value != want {
		t.Fatalf("TimestampFromTime = %#x, want %#x", ts.Value, want)
	}
	if got := ts.Time(); !got.Equal(tm) {
		t.Fatalf("Time() = %v, want %v", got, tm)
	}
	if got := TimestampFromTime(time.Unix(-5, 0)).Value; got != 0 {
		t.Fatalf("pre-1970 time encodes as %#x, want 0", got)
	}
}

func TestChecksum(t *testing.T) {
	src := netip.MustParseAddr("2001:db8::1")
	dst := netip.MustParseAddr("2001:db8::2")
	b := h("3b 01 05 00 0000 | 0001 8200 000a | 01 02 0000")
	// Computed apart from this code: pseudo-header words 2001 0db8 0001
	// 0001 (src: the last word is ::1), 2001 0db8 0002 (dst), length
	// 0010, next header 0087, message words 3b01 0500 0001 8200 000a 0102
	// 0000: sum 0x11f1a, folded 0x1f1b, complement 0xe0e4.
	if got := Checksum(src, dst, b); got != 0xe0e4 {
		t.Fatalf("Checksum = %#04x, want 0xe0e4", got)
	}
	SetChecksum(src, dst, b)
	if !VerifyChecksum(src, dst, b) {
		t.Fatal("VerifyChecksum false after SetChecksum")
	}
	b[9] ^= 1
	if VerifyChecksum(src, dst, b) {
		t.Fatal("VerifyChecksum true after corrupting a byte")
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{StatusMAGNotAuthorizedForProxyReg.String(), "MAG_NOT_AUTHORIZED_FOR_PROXY_REG"},
		{Status(200).String(), "status 200"},
		{HandoffBetweenMAGsSameInterface.String(), "Handoff between mobile access gateways for the same interface"},
		{ATTIEEE80211.String(), "IEEE 802.11a/b/g"},
		{AccessTechnology(99).String(), "access technology 99"},
		{IPv4HoADynamicNotAvailable.String(), "Dynamic IPv4 home address assignment not available"},
		{(BUFlagA | BUFlagP).String(), "[A P]"},
		{(BAFlagP | BAFlagQuery).String(), "[P Q]"},
		{TypeBindingUpdate.String(), "Binding Update"},
		{OptGREKey.String(), "GRE Key"},
		{NewNAI("user@example.net").String(), "user@example.net"},
		{NewEUI48(macA).String(), "aa:bb:cc:dd:ee:ff"},
		{NewIPv6Identifier(netip.MustParseAddr("2001:db8::9")).String(), "2001:db8::9"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if !StatusAcceptedPrefixDiscovery.Accepted() || StatusReasonUnspecified.Accepted() {
		t.Error("Status.Accepted wrong around 128")
	}
}

func TestOptionHelpers(t *testing.T) {
	a := &HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:1::/64")}
	b := &HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:2::/64")}
	opts := []Option{NewNAI("x"), a, &HandoffIndicatorOption{HI: 1}, b}
	if got := OptionsOf[*HomeNetworkPrefix](opts); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("OptionsOf = %v", got)
	}
	if got, ok := FirstOption[*MobileNodeIdentifier](opts); !ok || got.String() != "x" {
		t.Fatalf("FirstOption = %v, %v", got, ok)
	}
	if _, ok := FirstOption[*GREKey](opts); ok {
		t.Fatal("FirstOption found a GRE key that is not there")
	}
	if v := TimestampFromTime(time.Unix(1<<48, 0)).Value; v != ^uint64(0) {
		t.Fatalf("far-future timestamp %#x", v)
	}
}

func TestMessageString(t *testing.T) {
	m := &ProxyBindingUpdate{Sequence: 7, Flags: BUFlagA | BUFlagP, Lifetime: 300 * time.Second,
		Options: []Option{NewNAI("mn1"), &HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8::/64")}, &GREKey{}}}
	want := "PBU seq=7 flags=[A P] lifetime=5m0s options=[Mobile Node Identifier=mn1, Home Network Prefix=2001:db8::/64, GRE Key=keyless]"
	if got := m.String(); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	a := &ProxyBindingAck{Sequence: 7, Status: StatusAccepted, Flags: BAFlagP, Options: []Option{&RawOption{Type: 200}}}
	if got, want := a.String(), "PBA seq=7 status=Binding Update accepted flags=[P] lifetime=0s options=[option 200]"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
