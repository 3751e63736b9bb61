package dataplane

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/nft"
)

func TestTunnelSourceElementsGolden(t *testing.T) {
	name := func(s string) []byte { b := make([]byte, 16); copy(b, s); return b }
	for _, tc := range []struct {
		src  TunnelSource
		set  string
		want nft.Element
	}{
		{TunnelSource{Dev: "pmip6abc", Prefix: pfx("2001:db8:1::/64")}, setTSrc6H, nft.Element{
			Key: cat(name("pmip6abc"), ip("2001:db8:1::")),
		}},
		{TunnelSource{Dev: "pmip6abc", Prefix: pfx("2001:db8:1::/56")}, setTSrc6, nft.Element{
			Key:    cat(name("pmip6abc"), ip("2001:db8:1::")),
			KeyEnd: cat(name("pmip6abc"), ip("2001:db8:1:ff:ffff:ffff:ffff:ffff")),
		}},
		{TunnelSource{Dev: "pmip-gre4", Prefix: pfx("10.1.0.5/32")}, setTSrc4, nft.Element{
			Key: cat(name("pmip-gre4"), ip("10.1.0.5")),
		}},
	} {
		set, got := encodeTunnelSource(tc.src)
		if set != tc.set {
			t.Errorf("%s: set %s, want %s", tc.src, set, tc.set)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.src, diff)
		}
		back, ok := decodeTunnelSourceIn(set, got)
		if !ok || back != tc.src {
			t.Errorf("%s: decoded back as %v %v", tc.src, back, ok)
		}
	}
	for _, e := range []nft.Element{
		{Key: []byte{1, 2}},
		{Key: cat(name("a"), ip("2001:db8::")), KeyEnd: cat(name("b"), ip("2001:db8::"))},
		{Key: cat(name("a"), ip("2001:db8::1")), KeyEnd: cat(name("a"), ip("2001:db8::"))},
	} {
		if s, ok := decodeTunnelSource(e); ok {
			t.Errorf("%x decoded as %v", e.Key, s)
		}
	}
}

func TestValidateTunnelFilter(t *testing.T) {
	for name, f := range map[string]Filter{
		"tunnel name":  {Tunnels: []string{""}},
		"tunnel twice": {Tunnels: []string{"pmip0", "pmip0"}},
		"source dev":   {TunnelSources: []TunnelSource{{Prefix: pfx("2001:db8::/64")}}},
		"unmasked":     {TunnelSources: []TunnelSource{{Dev: "pmip0", Prefix: pfx("2001:db8::1/64")}}},
		"ipv4 range":   {TunnelSources: []TunnelSource{{Dev: "pmip0", Prefix: pfx("10.0.0.0/24")}}},
		"source twice": {TunnelSources: []TunnelSource{{Dev: "pmip0", Prefix: pfx("10.0.0.1/32")}, {Dev: "pmip0", Prefix: pfx("10.0.0.1/32")}}},
	} {
		if err := (&State{Filter: &f}).Validate("pmip"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

// A checked tunnel's sources are in the set before the tunnel is checked,
// and leave it after.
func TestPlanTunnelFilterOrder(t *testing.T) {
	want := &State{Filter: &Filter{
		Tunnels:       []string{"pmip-m1"},
		TunnelSources: []TunnelSource{{Dev: "pmip-m1", Prefix: pfx("2001:db8:1::/64")}},
	}}
	got := opStrings(Plan(nil, want))
	wantOps := []string{"add filter table", "add filter tunnel-source pmip-m1 2001:db8:1::/64", "add filter tunnel pmip-m1"}
	if diff := cmp.Diff(wantOps, got); diff != "" {
		t.Errorf("adding (-want +got):\n%s", diff)
	}
	got = opStrings(Plan(want, &State{Filter: &Filter{}}))
	wantOps = []string{"del filter tunnel pmip-m1", "del filter tunnel-source pmip-m1 2001:db8:1::/64"}
	if diff := cmp.Diff(wantOps, got); diff != "" {
		t.Errorf("removing (-want +got):\n%s", diff)
	}
}

// FuzzDecodeElements feeds arbitrary set elements, as a dump of a table
// someone else changed may hold, to every element decoder: none may
// panic, and what one accepts encodes back to an element it decodes the
// same.
func FuzzDecodeElements(f *testing.F) {
	_, s6 := encodeSource(Source{MAC: []byte{2, 0, 0, 0, 0, 1}, Prefix: pfx("2001:db8:1::/64")})
	_, s4 := encodeSource(Source{MAC: []byte{2, 0, 0, 0, 0, 1}, Prefix: pfx("10.0.0.1/32")})
	_, fl6 := encodeFlow(Flow{Src: pfx("::/0"), Dst: pfx("2001:db8:1::/64"), Proto: 6, DstPortFrom: 80, DstPortTo: 80, Mark: 1})
	_, fl4 := encodeFlow(Flow{Src: pfx("192.0.2.0/24"), Dst: pfx("10.1.0.5/32"), Mark: 2})
	_, t6 := encodeTunnelSource(TunnelSource{Dev: "pmip-m1", Prefix: pfx("2001:db8:1::/48")})
	_, t4 := encodeTunnelSource(TunnelSource{Dev: "pmip-m1", Prefix: pfx("10.1.0.5/32")})
	for _, e := range []nft.Element{s6, s4, fl6, fl4, t6, t4} {
		f.Add(e.Key, e.KeyEnd, e.Data)
	}
	f.Fuzz(func(t *testing.T, key, keyEnd, val []byte) {
		e := nft.Element{Key: key, KeyEnd: keyEnd, Data: val}
		if s, ok := decodeSource(e); ok && s.Prefix.IsValid() {
			if _, e2 := encodeSource(s); true {
				if s2, ok := decodeSource(e2); !ok || s2.String() != s.String() {
					t.Errorf("source %s re-decoded as %s %v", s, s2, ok)
				}
			}
		}
		for _, six := range []bool{false, true} {
			if fl, ok := decodeFlow(e, six); ok {
				_, e2 := encodeFlow(fl)
				if fl2, ok := decodeFlow(e2, six); !ok || fl2 != fl {
					t.Errorf("flow %s re-decoded as %s %v", fl, fl2, ok)
				}
			}
		}
		for _, set := range []string{setTSrc6H, setTSrc6, setTSrc4} {
			if ts, ok := decodeTunnelSourceIn(set, e); ok {
				set2, e2 := encodeTunnelSource(ts)
				if ts2, ok := decodeTunnelSourceIn(set2, e2); !ok || ts2 != ts {
					t.Errorf("tunnel source %s re-decoded as %s %v", ts, ts2, ok)
				}
			}
		}
	})
}
