package dataplane

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/nft"
)

func TestGRESourceElementsGolden(t *testing.T) {
	key := func(k byte) []byte { return []byte{0, 0, 0, k} }
	for _, tc := range []struct {
		src  GRESource
		set  string
		want nft.Element
	}{
		{GRESource{Peer: addr("2001:db8:ff::2"), Key: 100, Prefix: pfx("2001:db8:1::/64")}, setGSrc66H, nft.Element{
			Key: cat(ip("2001:db8:ff::2"), key(100), ip("2001:db8:1::")),
		}},
		{GRESource{Peer: addr("2001:db8:ff::2"), Key: 100, Prefix: pfx("2001:db8:1::/60")}, setGSrc66, nft.Element{
			Key:    cat(ip("2001:db8:ff::2"), key(100), ip("2001:db8:1::")),
			KeyEnd: cat(ip("2001:db8:ff::2"), key(100), ip("2001:db8:1:f:ffff:ffff:ffff:ffff")),
		}},
		{GRESource{Peer: addr("192.0.2.2"), Key: 9, Prefix: pfx("2001:db8:2::/64")}, setGSrc46H, nft.Element{
			Key: cat(ip("192.0.2.2"), key(9), ip("2001:db8:2::")),
		}},
		{GRESource{Peer: addr("2001:db8:ff::2"), Key: 7, Prefix: pfx("10.1.0.5/32")}, setGSrc64, nft.Element{
			Key: cat(ip("2001:db8:ff::2"), key(7), ip("10.1.0.5")),
		}},
		{GRESource{Peer: addr("192.0.2.2"), Key: 9, Prefix: pfx("2001:db8:2::/56")}, setGSrc46, nft.Element{
			Key:    cat(ip("192.0.2.2"), key(9), ip("2001:db8:2::")),
			KeyEnd: cat(ip("192.0.2.2"), key(9), ip("2001:db8:2:ff:ffff:ffff:ffff:ffff")),
		}},
		{GRESource{Peer: addr("192.0.2.2"), Key: 1, Prefix: pfx("10.1.0.7/32")}, setGSrc44, nft.Element{
			Key: cat(ip("192.0.2.2"), key(1), ip("10.1.0.7")),
		}},
	} {
		set, got := encodeGRESource(tc.src)
		if set != tc.set {
			t.Errorf("%s: set %s, want %s", tc.src, set, tc.set)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.src, diff)
		}
		back, ok := decodeGRESource(set, got)
		if !ok || back != tc.src {
			t.Errorf("%s: decoded back as %v %v", tc.src, back, ok)
		}
	}
	for _, p := range []string{"2001:db8:ff::2", "192.0.2.2"} {
		set, e := encodeGREPeer(GREPeer(addr(p)))
		if back, ok := decodeGREPeer(e); !ok || back != addr(p) || (set == setGREPeer4) != addr(p).Is4() {
			t.Errorf("peer %s: %s %v %v", p, set, back, ok)
		}
	}
	if s, ok := decodeGRESource(setGSrc66, nft.Element{Key: cat(ip("2001:db8:ff::2"), key(1), ip("2001:db8::")),
		KeyEnd: cat(ip("2001:db8:ff::3"), key(1), ip("2001:db8::"))}); ok {
		t.Errorf("a range across peers decoded as %v", s)
	}
}

func TestValidateGREFilter(t *testing.T) {
	p := addr("2001:db8:ff::2")
	for name, f := range map[string]Filter{
		"peer unspecified": {GREPeers: []netip.Addr{netip.IPv6Unspecified()}},
		"peer twice":       {GREPeers: []netip.Addr{p, p}},
		"source peer":      {GRESources: []GRESource{{Key: 1, Prefix: pfx("2001:db8::/64")}}},
		"unmasked":         {GRESources: []GRESource{{Peer: p, Prefix: pfx("2001:db8::1/64")}}},
		"ipv4 range":       {GRESources: []GRESource{{Peer: p, Prefix: pfx("10.0.0.0/24")}}},
		"source twice":     {GRESources: []GRESource{{Peer: p, Key: 1, Prefix: pfx("10.0.0.1/32")}, {Peer: p, Key: 1, Prefix: pfx("10.0.0.1/32")}}},
	} {
		if err := (&State{Filter: &f}).Validate("pmip"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

// A GRE peer's triples are in the set before the peer is checked, and
// leave it after.
func TestPlanGREFilterOrder(t *testing.T) {
	want := &State{Filter: &Filter{
		GREPeers:   []netip.Addr{addr("2001:db8:ff::2")},
		GRESources: []GRESource{{Peer: addr("2001:db8:ff::2"), Key: 5, Prefix: pfx("2001:db8:1::/64")}},
	}}
	got := opStrings(Plan(nil, want))
	wantOps := []string{"add filter table", "add filter gre-source 2001:db8:ff::2 key 5 2001:db8:1::/64", "add filter gre-peer 2001:db8:ff::2"}
	if diff := cmp.Diff(wantOps, got); diff != "" {
		t.Errorf("adding (-want +got):\n%s", diff)
	}
	got = opStrings(Plan(want, &State{Filter: &Filter{}}))
	wantOps = []string{"del filter gre-peer 2001:db8:ff::2", "del filter gre-source 2001:db8:ff::2 key 5 2001:db8:1::/64"}
	if diff := cmp.Diff(wantOps, got); diff != "" {
		t.Errorf("removing (-want +got):\n%s", diff)
	}
}

// FuzzDecodeGREElements: what a dump of a table someone else changed may
// hold never panics the decoders, and what they accept encodes back to
// itself.
func FuzzDecodeGREElements(f *testing.F) {
	for _, s := range []GRESource{
		{Peer: addr("2001:db8:ff::2"), Key: 100, Prefix: pfx("2001:db8:1::/64")},
		{Peer: addr("192.0.2.2"), Key: 1, Prefix: pfx("10.1.0.7/32")},
	} {
		_, e := encodeGRESource(s)
		f.Add(e.Key, e.KeyEnd)
	}
	f.Fuzz(func(t *testing.T, key, keyEnd []byte) {
		e := nft.Element{Key: key, KeyEnd: keyEnd}
		for _, set := range []string{setGSrc66H, setGSrc66, setGSrc64, setGSrc46H, setGSrc46, setGSrc44} {
			s, ok := decodeGRESource(set, e)
			if !ok {
				continue
			}
			set2, e2 := encodeGRESource(s)
			if s2, ok := decodeGRESource(set2, e2); !ok || s2 != s || set2 != set {
				t.Errorf("%s from %s re-decoded as %s %v from %s", s, set, s2, ok, set2)
			}
		}
		if a, ok := decodeGREPeer(e); ok {
			_, e2 := encodeGREPeer(GREPeer(a))
			if b, ok := decodeGREPeer(e2); !ok || a != b {
				t.Errorf("peer %s re-decoded as %s", a, b)
			}
		}
	})
}
