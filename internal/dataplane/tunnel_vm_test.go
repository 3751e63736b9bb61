package dataplane_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// loadTunnelModules loads the drivers the stock kernel builds as modules
// (rtnetlink would ask for them too, but only if the guest's usermode
// helper finds modprobe).
func loadTunnelModules(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("/sbin/modprobe", "-a", "ip6_tunnel", "ip6_gre", "sit", "ip_gre", "ipip").CombinedOutput(); err != nil {
		t.Fatalf("modprobe: %v\n%s", err, out)
	}
}

// The two ends of every tunnel kind, each set through our own code:
//
//	ns mag                                                  ns lma
//	a0 2001:db8:ff::2/64, 192.0.2.2/24 ──veth── b0 2001:db8:ff::1/64, 192.0.2.1/24
//	pmip-t6   ip6tnl  2001:db8:a::2 10.0.1.2 ═══ 2001:db8:a::1 10.0.1.1  pmip-t6
//	pmip-g6   ip6gre key 42   :b::2 10.0.2.2 ═══ :b::1 10.0.2.1          pmip-g6
//	pmip-t4   sit             :c::2 10.0.3.2 ═══ :c::1 10.0.3.1          pmip-t4
//	pmip-g4   gre key 43      :d::2 10.0.4.2 ═══ :d::1 10.0.4.1          pmip-g4
//	pmip-x6   ip6gre external :e::2 10.0.5.2 ═══ :e::1 10.0.5.1          pmip-k6 (ip6gre key 7)
//	          (route encap ip6 id 7 key dst 2001:db8:ff::1)
//
// A ping of IPv6 and of IPv4 through each (every tunnel carries both,
// RFC 5844 3 and 4).
func tunnelEnds(self, peer string, mag bool) *dataplane.State {
	a := func(s string) string { return strings.Replace(s, "X", self, 1) }
	p := func(s string) string { return strings.Replace(s, "X", peer, 1) }
	local6, remote6 := addr(a("2001:db8:ff::X")), addr(p("2001:db8:ff::X"))
	local4, remote4 := addr(a("192.0.2.X")), addr(p("192.0.2.X"))
	s := &dataplane.State{
		Tunnels: []dataplane.Tunnel{
			{Name: "pmip-t6", Kind: dataplane.IP6, Local: local6, Remote: remote6},
			{Name: "pmip-g6", Kind: dataplane.IP6GRE, Local: local6, Remote: remote6, Keyed: true, Key: 42},
			{Name: "pmip-t4", Kind: dataplane.IP4, Local: local4, Remote: remote4},
			{Name: "pmip-g4", Kind: dataplane.IP4GRE, Local: local4, Remote: remote4, Keyed: true, Key: 43},
		},
		Addresses: []dataplane.Address{
			{Dev: "veth0", Prefix: pfx(a("2001:db8:ff::X/64")), NoDAD: true},
			{Dev: "veth0", Prefix: pfx(a("192.0.2.X/24"))},
		},
	}
	for i, dev := range []string{"pmip-t6", "pmip-g6", "pmip-t4", "pmip-g4", ""} {
		if dev == "" {
			dev = "pmip-k6"
			if mag {
				dev = "pmip-x6"
			}
		}
		n := string(rune('a' + i))
		s.Addresses = append(s.Addresses,
			dataplane.Address{Dev: dev, Prefix: pfx(a("2001:db8:" + n + "::X/128")), NoDAD: true},
			dataplane.Address{Dev: dev, Prefix: pfx(a("10.0." + string(rune('1'+i)) + ".X/32"))})
		r6 := dataplane.Route{Dst: pfx(p("2001:db8:" + n + "::X/128")), Dev: dev}
		r4 := dataplane.Route{Dst: pfx(p("10.0." + string(rune('1'+i)) + ".X/32")), Dev: dev}
		if dev == "pmip-x6" {
			// The LMA side of RFC 5845 at scale: one flow-based device,
			// the key and the MAG in each route.
			e := dataplane.Encap{Dst: remote6, Src: local6, Keyed: true, Key: 7}
			r6.Encap, r4.Encap = e, e
		}
		s.Routes = append(s.Routes, r6, r4)
	}
	if mag {
		s.Tunnels = append(s.Tunnels, dataplane.Tunnel{Name: "pmip-x6", Kind: dataplane.IP6GRE, External: true})
	} else {
		s.Tunnels = append(s.Tunnels, dataplane.Tunnel{Name: "pmip-k6", Kind: dataplane.IP6GRE, Local: local6, Remote: remote6, Keyed: true, Key: 7})
	}
	return s
}

func TestTunnelsPingVM(t *testing.T) {
	nstest.RequireVM(t)
	loadTunnelModules(t)
	mag := nstest.New(t, "mag")
	lma := nstest.New(t, "lma")
	nstest.Veth(t, mag, "veth0", lma, "veth0")
	ctx := context.Background()
	for _, side := range []struct {
		ns   *nstest.NS
		want *dataplane.State
	}{
		{mag, tunnelEnds("2", "1", true)},
		{lma, tunnelEnds("1", "2", false)},
	} {
		r, _, k := open(t, side.ns)
		if err := r.Set(ctx, side.want); err != nil {
			t.Fatalf("%s: %v", side.ns.Name, err)
		}
		got, err := k.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := side.want.Clone()
		if !k.KeepsAddressProtocol() {
			want.Addresses = nil // Linux < 6.1: not recognisable
		}
		// The kernel chooses the MTUs; compare without them.
		for i := range got.Tunnels {
			got.Tunnels[i].MTU = 0
		}
		if diff := cmp.Diff(want.String(), got.String()); diff != "" {
			t.Errorf("%s: dump (-want +got):\n%s", side.ns.Name, diff)
		}
	}
	t.Log(mag.Run(t, "ip", "-d", "link", "show"))
	for i, dev := range []string{"pmip-t6", "pmip-g6", "pmip-t4", "pmip-g4", "pmip-x6"} {
		n := string(rune('a' + i))
		for _, dst := range []string{"2001:db8:" + n + "::1", "10.0." + string(rune('1'+i)) + ".1"} {
			t.Run(dev+"/"+dst, func(t *testing.T) {
				// Two echoes, each its own ping: iputils' -W bounds the wait
				// only until a first reply, then ping waits two round trips
				// for the rest, which a TCG guest overruns (on Malta,
				// pmip-x6 "lost" a second reply so, its first taking 21 ms).
				for i := range 2 {
					out, err := mag.Output(pingCmd(), "-c", "1", "-W", "10", dst)
					if err != nil || !strings.Contains(out, " 0% packet loss") {
						t.Errorf("ping %d of 2 to %s through %s: %v\n%s\n%s", i+1, dst, dev, err, out, mag.Run(t, "ip", "-s", "link", "show", dev))
					}
				}
			})
		}
	}
}

// TestLMAShapeVM: after the Set of a registration the LMA's kernel holds
// exactly the expected tunnels and routes; after the Set of the empty
// state, none of them.
//
//	ns lma: eth0 2001:db8:ff::1/64, 192.0.2.1/24 (a veth to ns peer)
//	  pmip-mag2 ip6tnl → MAG 2001:db8:ff::2   HNP 2001:db8:1::/64, HoA 10.1.0.5
//	  pmip-mag3 sit    → MAG 192.0.2.3        HNP 2001:db8:3::/64, HoA 10.1.0.7
//	  pmip-gre6 ip6gre external               HNP 2001:db8:4::/64 key 100 → MAG ::4
//	  pmip-gre4 gre external                  HoA 10.1.0.9 key 101 → MAG 192.0.2.5
func TestLMAShapeVM(t *testing.T) {
	nstest.RequireVM(t)
	loadTunnelModules(t)
	lma := nstest.New(t, "lma")
	peer := nstest.New(t, "peer")
	nstest.Veth(t, lma, "eth0", peer, "eth0")
	lma.Run(t, "ip", "addr", "add", "2001:db8:ff::1/64", "dev", "eth0", "nodad")
	lma.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	if err := lma.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/conf/default/rp_filter", []byte("1"), 0)
	}); err != nil {
		t.Fatal(err)
	}
	lma6, lma4 := addr("2001:db8:ff::1"), addr("192.0.2.1")
	registered := &dataplane.State{
		Tunnels: []dataplane.Tunnel{
			{Name: "pmip-mag2", Kind: dataplane.IP6, Local: lma6, Remote: addr("2001:db8:ff::2")},
			{Name: "pmip-mag3", Kind: dataplane.IP4, Local: lma4, Remote: addr("192.0.2.3")},
			{Name: "pmip-gre6", Kind: dataplane.IP6GRE, External: true},
			{Name: "pmip-gre4", Kind: dataplane.IP4GRE, External: true},
		},
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-mag2"},
			{Dst: pfx("10.1.0.5/32"), Dev: "pmip-mag2"},
			{Dst: pfx("2001:db8:3::/64"), Dev: "pmip-mag3"},
			{Dst: pfx("10.1.0.7/32"), Dev: "pmip-mag3"},
			{Dst: pfx("2001:db8:4::/64"), Dev: "pmip-gre6", Encap: dataplane.Encap{Dst: addr("2001:db8:ff::4"), Src: lma6, Keyed: true, Key: 100}},
			{Dst: pfx("10.1.0.9/32"), Dev: "pmip-gre4", Encap: dataplane.Encap{Dst: addr("192.0.2.5"), Src: lma4, Keyed: true, Key: 101}},
		},
	}
	ctx := context.Background()
	r, c, k := open(t, lma)
	if err := r.Set(ctx, registered); err != nil {
		t.Fatal(err)
	}
	got, err := k.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Tunnels {
		got.Tunnels[i].MTU = 0
	}
	const want = `tunnel pmip-gre4 gre external
tunnel pmip-gre6 ip6gre external
tunnel pmip-mag2 ip6tnl local 2001:db8:ff::1 remote 2001:db8:ff::2 hoplimit 64
tunnel pmip-mag3 sit local 192.0.2.1 remote 192.0.2.3 hoplimit 64
route 10.1.0.5/32 dev pmip-mag2 table 254
route 10.1.0.7/32 dev pmip-mag3 table 254
route 10.1.0.9/32 encap ip id 101 key dst 192.0.2.5 src 192.0.2.1 hoplimit 64 dev pmip-gre4 table 254
route 2001:db8:1::/64 dev pmip-mag2 table 254 metric 1024
route 2001:db8:3::/64 dev pmip-mag3 table 254 metric 1024
route 2001:db8:4::/64 encap ip6 id 100 key dst 2001:db8:ff::4 src 2001:db8:ff::1 hoplimit 64 dev pmip-gre6 table 254 metric 1024
`
	if diff := cmp.Diff(want, got.String()); diff != "" {
		t.Errorf("LMA kernel after registration (-want +got):\n%s", diff)
	}
	// Every tunnel of ours has its IPv4 reverse-path filter off, whatever
	// the default (set strict here, as OpenWrt's is).
	for _, dev := range []string{"pmip-mag2", "pmip-mag3", "pmip-gre6", "pmip-gre4"} {
		if err := lma.Do(func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + dev + "/rp_filter")
			if err == nil && strings.TrimSpace(string(b)) != "0" {
				t.Errorf("%s: rp_filter %s, want 0", dev, b)
			}
			return err
		}); err != nil {
			t.Error(err)
		}
	}
	// iproute2's reading of the same, for the log and as a cross-check.
	for _, check := range []struct{ args []string }{
		{[]string{"ip", "-d", "link", "show", "pmip-mag2"}},
		{[]string{"ip", "-d", "link", "show", "pmip-gre6"}},
		{[]string{"ip", "-6", "route", "show", "proto", "158"}},
		{[]string{"ip", "route", "show", "proto", "158"}},
	} {
		t.Log(lma.Run(t, check.args[0], check.args[1:]...))
	}
	if out := lma.Run(t, "ip", "-6", "route", "show", "2001:db8:4::/64"); !strings.Contains(out, "id 100") || !strings.Contains(out, "dst 2001:db8:ff::4") {
		t.Errorf("iproute2 does not see the key and MAG of the encap route:\n%s", out)
	}
	if out := lma.Run(t, "ip", "-d", "link", "show", "pmip-mag2"); !strings.Contains(out, "ip6tnl ip6ip6") && !strings.Contains(out, "any") {
		t.Logf("ip6tnl mode as iproute2 shows it:\n%s", out)
	}

	c.take()
	if err := r.Set(ctx, registered); err != nil {
		t.Fatal(err)
	}
	if ops := c.take(); len(ops) != 0 {
		t.Errorf("second Set applied %q", ops)
	}

	if err := r.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err = k.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.String(); s != "" {
		t.Errorf("after deregistration the kernel holds:\n%s", s)
	}
	if out := lma.Run(t, "ip", "link", "show"); strings.Contains(out, "pmip") {
		t.Errorf("a tunnel of ours survived:\n%s", out)
	}
}
