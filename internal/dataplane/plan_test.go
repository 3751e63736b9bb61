package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Tunnel{Name: "pmip-m1", Kind: IP6, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2")}
	tests := []struct {
		name string
		s    State
		want string // part of the error; "" means valid
	}{
		{"valid", State{Tunnels: []Tunnel{ok}}, ""},
		{"foreign name", State{Tunnels: []Tunnel{{Name: "eth9", Kind: IP6, Local: ok.Local, Remote: ok.Remote}}}, `must start with "pmip"`},
		{"name too long", State{Tunnels: []Tunnel{{Name: "pmip-0123456789ab", Kind: IP6}}}, "longer than 15"},
		{"duplicate tunnel", State{Tunnels: []Tunnel{ok, ok}}, "listed twice"},
		{"IPv4 endpoint on ip6tnl", State{Tunnels: []Tunnel{{Name: "pmip-x", Kind: IP6, Local: addr("192.0.2.1"), Remote: addr("192.0.2.2")}}}, "does not suit"},
		{"key on ip6tnl", State{Tunnels: []Tunnel{{Name: "pmip-x", Kind: IP6, Local: ok.Local, Remote: ok.Remote, Keyed: true}}}, "only GRE"},
		{"two external ip6gre", State{Tunnels: []Tunnel{{Name: "pmip-a", Kind: IP6GRE, External: true}, {Name: "pmip-b", Kind: IP6GRE, External: true}}}, "allows one"},
		{"external with endpoint", State{Tunnels: []Tunnel{{Name: "pmip-a", Kind: IP6GRE, External: true, Remote: ok.Remote}}}, "takes endpoints"},
		{"route host bits", State{Routes: []Route{{Dst: pfx("10.0.0.1/8"), Dev: "eth0"}}}, "host bits"},
		{"route no device", State{Routes: []Route{{Dst: pfx("10.0.0.0/8")}}}, "name is empty"},
		{"encap on a plain device", State{Routes: []Route{{Dst: pfx("10.0.0.0/8"), Dev: "eth0", Encap: Encap{Dst: addr("192.0.2.1")}}}}, "needs an external tunnel"},
		{"encap family", State{
			Tunnels: []Tunnel{{Name: "pmip-g", Kind: IP6GRE, External: true}},
			Routes:  []Route{{Dst: pfx("10.0.0.0/8"), Dev: "pmip-g", Encap: Encap{Dst: addr("192.0.2.1")}}},
		}, "do not suit"},
		{"duplicate route after defaults", State{Routes: []Route{{Dst: pfx("::/0"), Dev: "a"}, {Table: 254, Metric: 1024, Dst: pfx("::/0"), Dev: "b"}}}, "listed twice"},
		{"rule table 0", State{Rules: []Rule{{Priority: 10, Src: pfx("10.0.0.0/8")}}}, "table 0"},
		{"rule priority 0", State{Rules: []Rule{{Src: pfx("10.0.0.0/8"), Table: 5}}}, "priority 0"},
		{"source IPv4 range", State{Filter: &Filter{AccessIfaces: []string{"wlan0"}, Sources: []Source{{MAC: make([]byte, 6), Prefix: pfx("10.0.0.0/24")}}}}, "is a /32"},
		{"source bad MAC", State{Filter: &Filter{Sources: []Source{{MAC: make([]byte, 8), Prefix: pfx("10.0.0.1/32")}}}}, "48-bit"},
		{"flow ports without protocol", State{Filter: &Filter{Flows: []Flow{{Src: pfx("::/0"), Dst: pfx("::/0"), DstPortFrom: 1, DstPortTo: 2, Mark: 1}}}}, "protocol with ports"},
		{"flow mixed families", State{Filter: &Filter{Flows: []Flow{{Src: pfx("::/0"), Dst: pfx("0.0.0.0/0"), Mark: 1}}}}, "one family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate("pmip")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

// Plan never emits a route into a tunnel before the tunnel, nor a set
// element before its table; and a dumped state equal to the wanted one
// needs nothing.
func TestPlanOrder(t *testing.T) {
	want := &State{
		Tunnels: []Tunnel{{Name: "pmip-g", Kind: IP6GRE, External: true}},
		Routes:  []Route{{Dst: pfx("2001:db8::/64"), Dev: "pmip-g", Encap: Encap{Dst: addr("2001:db8:ff::2"), Keyed: true, Key: 5}}},
		Rules:   []Rule{{Priority: 5, Src: pfx("2001:db8::/64"), Table: 7}},
		Filter:  &Filter{AccessIfaces: []string{"wlan0"}},
	}
	var got []string
	for _, op := range Plan(nil, want) {
		got = append(got, op.String())
	}
	wantOps := []string{
		"add tunnel pmip-g ip6gre external",
		"replace route 2001:db8::/64 encap ip6 id 5 key dst 2001:db8:ff::2 hoplimit 64 dev pmip-g table 254 metric 1024",
		"add rule 5 from 2001:db8::/64 lookup 7",
		"add filter table",
		"add filter access wlan0",
	}
	if strings.Join(got, "\n") != strings.Join(wantOps, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantOps, "\n"))
	}
	if ops := Plan(normalize(want), want); len(ops) != 0 {
		t.Errorf("plan between equal states: %v", ops)
	}
	// A stale table of ours is rebuilt.
	stale := &State{Filter: &Filter{stale: true}}
	ops := Plan(stale, want)
	if ops[0].String() != "del filter table" {
		t.Errorf("stale table: first op %v", ops[0])
	}
}

// lmaState is an LMA with n clients spread over 100 MAGs, each with an
// HNP and an IPv4 home address.
func lmaState(n int) *State {
	s := &State{Filter: &Filter{}}
	for m := range 100 {
		s.Tunnels = append(s.Tunnels, Tunnel{Name: fmt.Sprintf("pmip-m%d", m), Kind: IP6,
			Local: addr("2001:db8:ff::1"), Remote: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xff, 15: byte(m + 2)})})
		s.Filter.Tunnels = append(s.Filter.Tunnels, s.Tunnels[m].Name)
	}
	for i := range n {
		dev := fmt.Sprintf("pmip-m%d", i%100)
		hnp := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(i >> 24), 5: byte(i >> 16), 6: byte(i >> 8), 7: byte(i)}), 64)
		hoa := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		s.Routes = append(s.Routes, Route{Dst: hnp, Dev: dev}, Route{Dst: hoa, Dev: dev})
		// The uplink check: each home address allowed on its tunnel.
		s.Filter.TunnelSources = append(s.Filter.TunnelSources, TunnelSource{Dev: dev, Prefix: hnp}, TunnelSource{Dev: dev, Prefix: hoa})
	}
	return s
}

// BenchmarkPlanSteady is the cost of a Set that finds nothing to do, by
// number of clients: what an engine pays for handing the whole state.
func BenchmarkPlanSteady(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := lmaState(n)
			cur := normalize(s)
			b.ResetTimer()
			for range b.N {
				if ops := Plan(cur, s); len(ops) != 0 {
					b.Fatal(ops)
				}
			}
		})
	}
}

// BenchmarkPlanSteadyNormalized is the plan inside Set, which hands Plan
// states it normalised already: Plan copies neither.
func BenchmarkPlanSteadyNormalized(b *testing.B) {
	s := normalize(lmaState(100000))
	cur := normalize(s)
	b.ResetTimer()
	for range b.N {
		if ops := Plan(cur, s); len(ops) != 0 {
			b.Fatal(ops)
		}
	}
}
