package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"
	"github.com/openpmip/pmip/internal/nft"
)

// Golden bytes for what we write to the kernel. Netlink attribute headers
// and the fields the kernel reads in host order are built with nlenc, so
// these tables hold on big-endian mips as on x86 (run them there with
// `GOARCH=mips go test -c` and qemu-mips-static); everything in network
// order (addresses, GRE keys and flags, tunnel ids) is spelled out.

func nla(typ uint16, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := append(nlenc.Uint16Bytes(uint16(4+len(p))), nlenc.Uint16Bytes(typ)...)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	u8   = func(v uint8) []byte { return []byte{v} }
	u16h = nlenc.Uint16Bytes
	u32h = nlenc.Uint32Bytes
	ip   = func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	str  = func(s string) []byte { return append([]byte(s), 0) }
)

const nested = netlink.Nested

func TestTunnelDriverGolden(t *testing.T) {
	tests := []struct {
		name string
		t    Tunnel
		data []byte // IFLA_INFO_DATA payload
	}{
		{
			name: "ip6tnl any, no encapsulation limit",
			t:    Tunnel{Name: "pmip-t6", Kind: IP6, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2")},
			data: cat(
				nla(iflaIPTunLocal, ip("2001:db8::1")),
				nla(iflaIPTunRemote, ip("2001:db8::2")),
				nla(iflaIPTunTTL, u8(64)),
				nla(iflaIPTunFlags, u32h(ip6TnlIgnEncapLimit)),
				nla(iflaIPTunProto, u8(0)),
			),
		},
		{
			name: "sit any",
			t:    Tunnel{Name: "pmip-t4", Kind: IP4, Local: addr("192.0.2.1"), Remote: addr("192.0.2.2"), HopLimit: 30},
			data: cat(
				nla(iflaIPTunLocal, []byte{192, 0, 2, 1}),
				nla(iflaIPTunRemote, []byte{192, 0, 2, 2}),
				nla(iflaIPTunTTL, u8(30)),
				nla(iflaIPTunProto, u8(0)),
				nla(iflaIPTunPMTUDisc, u8(1)),
			),
		},
		{
			name: "ip6gre key 0x01020304",
			t:    Tunnel{Name: "pmip-g6", Kind: IP6GRE, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2"), Keyed: true, Key: 0x01020304},
			data: cat(
				nla(iflaGRELocal, ip("2001:db8::1")),
				nla(iflaGRERemote, ip("2001:db8::2")),
				nla(iflaGRETTL, u8(64)),
				nla(iflaGREFlags, u32h(ip6TnlIgnEncapLimit)),
				nla(iflaGREIKey, []byte{1, 2, 3, 4}),
				nla(iflaGREOKey, []byte{1, 2, 3, 4}),
				nla(iflaGREIFlags, []byte{0x20, 0x00}), // GRE_KEY, network order
				nla(iflaGREOFlags, []byte{0x20, 0x00}),
			),
		},
		{
			name: "gre without key",
			t:    Tunnel{Name: "pmip-g4", Kind: IP4GRE, Local: addr("192.0.2.1"), Remote: addr("192.0.2.2")},
			data: cat(
				nla(iflaGRELocal, []byte{192, 0, 2, 1}),
				nla(iflaGRERemote, []byte{192, 0, 2, 2}),
				nla(iflaGRETTL, u8(64)),
				nla(iflaGREPMTUDisc, u8(1)),
				nla(iflaGREIFlags, []byte{0, 0}),
				nla(iflaGREOFlags, []byte{0, 0}),
			),
		},
		{
			name: "ip6gre external",
			t:    Tunnel{Name: "pmip-gre6", Kind: IP6GRE, External: true},
			data: nla(iflaGRECollectMD),
		},
		{
			name: "gre external",
			t:    Tunnel{Name: "pmip-gre4", Kind: IP4GRE, External: true},
			data: nla(iflaGRECollectMD),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ae := netlink.NewAttributeEncoder()
			if err := newTunnelDriver(tt.t).Encode(ae); err != nil {
				t.Fatal(err)
			}
			got, err := ae.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.data, got); diff != "" {
				t.Fatalf("IFLA_INFO_DATA (-want +got):\n%s", diff)
			}
			// Parse back what a dump would report.
			back, err := decodedLink{name: tt.t.Name, kind: tt.t.Kind.String(), data: got}.tunnel()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normTunnel(tt.t), back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// The whole RTM_NEWLINK request, through jsimonetti/rtnetlink's encoder
// with our driver.
func TestNewLinkMessageGolden(t *testing.T) {
	tun := Tunnel{Name: "pmip-t6", Kind: IP6, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2"), MTU: 1460}
	req := &rtnetlink.LinkMessage{
		Flags: 1, Change: 1, // IFF_UP
		Attributes: &rtnetlink.LinkAttributes{
			Name: tun.Name, MTU: tun.MTU,
			Info: &rtnetlink.LinkInfo{Kind: "ip6tnl", Data: newTunnelDriver(tun)},
		},
	}
	got, err := req.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := cat(
		[]byte{0, 0}, u16h(0), u32h(0), u32h(1), u32h(1), // ifinfomsg
		nla(3, str("pmip-t6")), // IFLA_IFNAME
		nla(4, u32h(1460)),     // IFLA_MTU
		nla(18, // IFLA_LINKINFO
			nla(1, str("ip6tnl")), // IFLA_INFO_KIND
			nla(2|nested, // IFLA_INFO_DATA
				nla(iflaIPTunLocal, ip("2001:db8::1")),
				nla(iflaIPTunRemote, ip("2001:db8::2")),
				nla(iflaIPTunTTL, u8(64)),
				nla(iflaIPTunFlags, u32h(1)),
				nla(iflaIPTunProto, u8(0)))),
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRouteGolden(t *testing.T) {
	tests := []struct {
		name  string
		r     Route
		oif   uint32
		bytes []byte
	}{
		{
			name: "IPv6 HNP into a MAG's tunnel",
			r:    normRoute(Route{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-mag1"}),
			oif:  7,
			bytes: cat(
				[]byte{10, 64, 0, 0, 254, 0x9e, 0, 1}, u32h(0), // rtmsg: inet6 /64 main proto universe unicast
				nla(1, ip("2001:db8:1::")), // RTA_DST
				nla(15, u32h(254)),         // RTA_TABLE
				nla(6, u32h(1024)),         // RTA_PRIORITY
				nla(4, u32h(7)),            // RTA_OIF
			),
		},
		{
			name: "IPv4 default in table 100000 via gateway",
			r:    normRoute(Route{Table: 100000, Dst: pfx("0.0.0.0/0"), Dev: "eth0", Gateway: addr("192.0.2.1")}),
			oif:  2,
			bytes: cat(
				[]byte{2, 0, 0, 0, 0, 0x9e, 0, 1}, u32h(0),
				nla(15, u32h(100000)),
				nla(6, u32h(0)),
				nla(4, u32h(2)),
				nla(5, []byte{192, 0, 2, 1}), // RTA_GATEWAY
			),
		},
		{
			name: "IPv4 HoA with a GRE key through the flow-based gre device",
			r:    normRoute(Route{Dst: pfx("10.1.0.9/32"), Dev: "pmip-gre4", Encap: Encap{Dst: addr("192.0.2.5"), Src: addr("192.0.2.1"), Keyed: true, Key: 0x01020304}}),
			oif:  9,
			bytes: cat(
				[]byte{2, 32, 0, 0, 254, 0x9e, 253, 1}, u32h(0), // scope link
				nla(1, []byte{10, 1, 0, 9}),
				nla(15, u32h(254)),
				nla(6, u32h(0)),
				nla(4, u32h(9)),
				nla(21, u16h(2)), // RTA_ENCAP_TYPE LWTUNNEL_ENCAP_IP
				nla(22|nested, // RTA_ENCAP
					nla(lwtIPID, []byte{0, 0, 0, 0, 1, 2, 3, 4}), // be64 tunnel id = key
					nla(lwtIPDst, []byte{192, 0, 2, 5}),
					nla(lwtIPSrc, []byte{192, 0, 2, 1}),
					nla(lwtIPTTL, u8(64)),
					nla(lwtIPFlags, []byte{0, 4}), // TUNNEL_KEY, network order
				),
			),
		},
		{
			name: "IPv6 HNP with a GRE key through the flow-based ip6gre device",
			r:    normRoute(Route{Dst: pfx("2001:db8:4::/64"), Dev: "pmip-gre6", Encap: Encap{Dst: addr("2001:db8:ff::4"), Keyed: true, Key: 100}}),
			oif:  10,
			bytes: cat(
				[]byte{10, 64, 0, 0, 254, 0x9e, 0, 1}, u32h(0),
				nla(1, ip("2001:db8:4::")),
				nla(15, u32h(254)),
				nla(6, u32h(1024)),
				nla(4, u32h(10)),
				nla(21, u16h(4)), // LWTUNNEL_ENCAP_IP6
				nla(22|nested,
					nla(lwtIPID, []byte{0, 0, 0, 0, 0, 0, 0, 100}),
					nla(lwtIPDst, ip("2001:db8:ff::4")),
					nla(lwtIPTTL, u8(64)),
					nla(lwtIPFlags, []byte{0, 4}),
				),
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRoute(tt.r, tt.oif, DefaultProtocol)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.bytes, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			d, err := decodeRoute(got)
			if err != nil {
				t.Fatal(err)
			}
			d.Dev = tt.r.Dev
			if d.Route != tt.r || d.oif != tt.oif || d.protocol != DefaultProtocol {
				t.Errorf("decoded %+v oif %d proto %d, want %+v", d.Route, d.oif, d.protocol, tt.r)
			}
		})
	}
}

func TestRuleGolden(t *testing.T) {
	r := Rule{Priority: 1000, Src: pfx("2001:db8:1::/64"), IIf: "wlan0", Mark: 0x10, Mask: 0xff, Table: 100000}
	got, err := encodeRule(r, DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	want := cat(
		[]byte{10, 0, 64, 0, 0, 0, 0, 1}, u32h(0), // fib_rule_hdr: inet6, src /64, table in FRA_TABLE, to-table
		nla(6, u32h(1000)),         // FRA_PRIORITY
		nla(2, ip("2001:db8:1::")), // FRA_SRC
		nla(3, str("wlan0")),       // FRA_IIFNAME
		nla(10, u32h(0x10)),        // FRA_FWMARK
		nla(16, u32h(0xff)),        // FRA_FWMASK
		nla(15, u32h(100000)),      // FRA_TABLE
		nla(21, u8(0x9e)),          // FRA_PROTOCOL
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	d, err := decodeRule(got)
	if err != nil {
		t.Fatal(err)
	}
	if d.Rule != r || d.protocol != DefaultProtocol || d.other || d.action != 1 {
		t.Errorf("decoded %+v, want %+v", d, r)
	}
}

func TestAddressGolden(t *testing.T) {
	a := Address{Dev: "wlan0", Prefix: pfx("fe80::1/64"), NoDAD: true}
	got, err := encodeAddress(a, 3, DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	want := cat(
		[]byte{10, 64, 2, 253}, u32h(3), // ifaddrmsg: inet6 /64 IFA_F_NODAD scope link, index 3
		nla(2, ip("fe80::1")), // IFA_LOCAL
		nla(1, ip("fe80::1")), // IFA_ADDRESS
		nla(8, u32h(2)),       // IFA_FLAGS
		nla(11, u8(0x9e)),     // IFA_PROTO
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	d, err := decodeAddress(got)
	if err != nil {
		t.Fatal(err)
	}
	d.Dev = a.Dev
	if d.Address != a || d.index != 3 || d.protocol != DefaultProtocol {
		t.Errorf("decoded %+v, want %+v", d, a)
	}
}

// Bad input from the kernel (or a fuzzer) is an error, never a panic.
func TestDecodeShortOrBroken(t *testing.T) {
	for _, b := range [][]byte{nil, {1, 2, 3}, cat([]byte{10, 64, 0, 0, 254, 0x9e, 0, 1}, u32h(0), []byte{0xff, 0xff, 1, 0})} {
		if _, err := decodeRoute(b); err == nil {
			t.Errorf("decodeRoute(%x) succeeded", b)
		}
		if _, err := decodeRule(b); err == nil {
			t.Errorf("decodeRule(%x) succeeded", b)
		}
		if _, err := decodeAddress(b); err == nil {
			t.Errorf("decodeAddress(%x) succeeded", b)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 15), cat(make([]byte, 16), []byte{0xff, 0xff, 3, 0})} {
		if _, err := decodeLink(b); err == nil {
			t.Errorf("decodeLink(%x) succeeded", b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	r, _ := encodeRoute(normRoute(Route{Dst: pfx("2001:db8:4::/64"), Encap: Encap{Dst: addr("2001:db8::4"), Keyed: true, Key: 1}}), 3, 1)
	u, _ := encodeRule(Rule{Priority: 1, Src: pfx("10.0.0.0/8"), IIf: "x", Table: 5}, 1)
	a, _ := encodeAddress(Address{Prefix: pfx("10.0.0.1/8")}, 1, 1)
	for _, b := range [][]byte{r, u, a} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRoute(b)
		_, _ = decodeRule(b)
		_, _ = decodeAddress(b)
		if l, err := decodeLink(b); err == nil {
			_, _ = l.tunnel()
		}
	})
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// Set elements: each concatenated field padded to 4 bytes, intervals as
// first and last key.
func TestFilterElementsGolden(t *testing.T) {
	// A /64 client prefix: one key in the hash set src6h.
	src := Source{MAC: []byte{2, 0, 0, 0, 0, 1}, Prefix: pfx("2001:db8:1::/64")}
	name, e := encodeSource(src)
	if name != setSrc6H {
		t.Fatalf("set %q", name)
	}
	wantKey := cat([]byte{2, 0, 0, 0, 0, 1, 0, 0}, ip("2001:db8:1::"))
	if !bytes.Equal(e.Key, wantKey) || e.KeyEnd != nil {
		t.Errorf("src6h element %x..%x, want %x", e.Key, e.KeyEnd, wantKey)
	}
	if back, ok := decodeSourceIn(setSrc6H, e); !ok || back.String() != src.String() {
		t.Errorf("decoded %v %v", back, ok)
	}
	// Host bits in a /64 element are not a prefix: the table is stale.
	bad := nft.Element{Key: cat([]byte{2, 0, 0, 0, 0, 1, 0, 0}, ip("2001:db8:1::1"))}
	if back, ok := decodeSourceIn(setSrc6H, bad); ok {
		t.Errorf("decoded %v from an element with host bits", back)
	}
	// Any other length: an interval in src6.
	src = Source{MAC: []byte{2, 0, 0, 0, 0, 1}, Prefix: pfx("2001:db8:100::/56")}
	name, e = encodeSource(src)
	if name != setSrc6 {
		t.Fatalf("set %q", name)
	}
	wantKey = cat([]byte{2, 0, 0, 0, 0, 1, 0, 0}, ip("2001:db8:100::"))
	wantEnd := cat([]byte{2, 0, 0, 0, 0, 1, 0, 0}, ip("2001:db8:100:ff:ffff:ffff:ffff:ffff"))
	if !bytes.Equal(e.Key, wantKey) || !bytes.Equal(e.KeyEnd, wantEnd) {
		t.Errorf("src6 element %x..%x, want %x..%x", e.Key, e.KeyEnd, wantKey, wantEnd)
	}
	if back, ok := decodeSourceIn(setSrc6, e); !ok || back.String() != src.String() {
		t.Errorf("decoded %v %v", back, ok)
	}
	if name, _ := encodeSource(Source{MAC: []byte{2, 0, 0, 0, 0, 1}, Prefix: pfx("2001:db8:1::10/128")}); name != setSrc6 {
		t.Errorf("a single address went to %q", name)
	}
	// A /64 as an interval in src6 is not where we put it: stale.
	in6 := nft.Element{Key: cat([]byte{2, 0, 0, 0, 0, 1, 0, 0}, ip("2001:db8:1::")), KeyEnd: cat([]byte{2, 0, 0, 0, 0, 1, 0, 0}, ip("2001:db8:1:0:ffff:ffff:ffff:ffff"))}
	if back, ok := decodeSourceIn(setSrc6, in6); ok {
		t.Errorf("decoded %v from a /64 in src6", back)
	}
	if back, ok := decodeSourceIn(setSrc4, e); ok {
		t.Errorf("decoded %v from a src6 element in src4", back)
	}
	src4 := Source{MAC: []byte{2, 0, 0, 0, 0, 1}, Prefix: pfx("10.1.0.5/32")}
	if name, e := encodeSource(src4); name != setSrc4 || !bytes.Equal(e.Key, []byte{2, 0, 0, 0, 0, 1, 0, 0, 10, 1, 0, 5}) || e.KeyEnd != nil {
		t.Errorf("src4 element %s %x %x", name, e.Key, e.KeyEnd)
	}

	fl := Flow{Src: pfx("192.0.2.0/24"), Dst: pfx("10.1.0.5/32"), Proto: 6, DstPortFrom: 80, DstPortTo: 443, Mark: 0x11}
	name, e = encodeFlow(fl)
	if name != mapFlows4 {
		t.Fatalf("map %q", name)
	}
	if want := []byte{192, 0, 2, 0, 10, 1, 0, 5, 6, 0, 0, 0, 0, 80, 0, 0}; !bytes.Equal(e.Key, want) {
		t.Errorf("flow key %x, want %x", e.Key, want)
	}
	if want := []byte{192, 0, 2, 255, 10, 1, 0, 5, 6, 0, 0, 0, 1, 187, 0, 0}; !bytes.Equal(e.KeyEnd, want) {
		t.Errorf("flow key end %x, want %x", e.KeyEnd, want)
	}
	if !bytes.Equal(e.Data, u32h(0x11)) {
		t.Errorf("mark %x, want host order", e.Data)
	}
	if back, ok := decodeFlow(e, false); !ok || back != fl {
		t.Errorf("decoded %v %v, want %v", back, ok, fl)
	}
	any6 := Flow{Src: pfx("::/0"), Dst: pfx("2001:db8:1::/64"), Mark: 1}
	_, e = encodeFlow(any6)
	if back, ok := decodeFlow(e, true); !ok || back != any6 {
		t.Errorf("decoded %v %v, want %v", back, ok, any6)
	}
}

func TestRangePrefix(t *testing.T) {
	for _, p := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.0.5/32", "::/0", "2001:db8::/32", "2001:db8::1/128"} {
		q := pfx(p)
		if got, ok := rangePrefix(q.Addr(), lastAddr(q)); !ok || got != q {
			t.Errorf("rangePrefix(%s) = %s %v", p, got, ok)
		}
	}
	if _, ok := rangePrefix(addr("10.0.0.1"), addr("10.0.0.2")); ok {
		t.Error("10.0.0.1-10.0.0.2 is not a prefix")
	}
	if _, ok := rangePrefix(addr("10.0.0.1"), addr("::1")); ok {
		t.Error("mixed families accepted")
	}
}
