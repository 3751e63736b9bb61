package dataplane_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestGRESourcesVM: the LMA's check of keyed GRE on the real flow-based
// ip6gre device (RFC 5845 3, RFC 5213 5.6.2). One MAG with two keyed
// sessions, each through its own point-to-point ip6gre with the session's
// uplink key; a client of session A sending with session B's key, or the
// other way round, passes the inner check alone (both sources are GRE
// sessions' home addresses on pmip-gre6) and is dropped once the
// (MAG . key . inner source) check is on:
//
//	ns mag                                             ns lma
//	veth0 2001:db8:ff::2/64 ────────────────────────── veth0 2001:db8:ff::1/64
//	pmip-k1 ip6gre key 100 ═╗                          ╔═ pmip-gre6 ip6gre external
//	pmip-k2 ip6gre key 101 ═╝                          ╚  2001:db8:1::/64, 10.1.0.5 key 100
//	lo 2001:db8:1::10, 10.1.0.5 (session A, key 100)      2001:db8:3::/64 key 101
//	   2001:db8:3::10 (session B, key 101)             lo 2001:db8:cc::1, ::2,
//	to cc::1 and 198.51.100.1 by pmip-k1,                 198.51.100.1, .2, UDP :5000
//	to cc::2 and 198.51.100.2 by pmip-k2
func TestGRESourcesVM(t *testing.T) {
	nstest.RequireVM(t)
	loadTunnelModules(t)
	mag := nstest.New(t, "mag")
	lma := nstest.New(t, "lma")
	nstest.Veth(t, mag, "veth0", lma, "veth0")
	for _, a := range []string{"2001:db8:1::10/128", "2001:db8:3::10/128", "10.1.0.5/32"} {
		mag.Run(t, "ip", "addr", "add", a, "dev", "lo")
	}
	for _, a := range []string{"2001:db8:cc::1/128", "2001:db8:cc::2/128", "198.51.100.1/32", "198.51.100.2/32"} {
		lma.Run(t, "ip", "addr", "add", a, "dev", "lo")
	}
	m6, l6 := addr("2001:db8:ff::2"), addr("2001:db8:ff::1")
	ms := &dataplane.State{
		Tunnels: []dataplane.Tunnel{
			{Name: "pmip-k1", Kind: dataplane.IP6GRE, Local: m6, Remote: l6, Keyed: true, Key: 100},
			{Name: "pmip-k2", Kind: dataplane.IP6GRE, Local: m6, Remote: l6, Keyed: true, Key: 101},
		},
		Addresses: []dataplane.Address{{Dev: "veth0", Prefix: pfx("2001:db8:ff::2/64"), NoDAD: true}},
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:cc::1/128"), Dev: "pmip-k1"}, {Dst: pfx("198.51.100.1/32"), Dev: "pmip-k1"},
			{Dst: pfx("2001:db8:cc::2/128"), Dev: "pmip-k2"}, {Dst: pfx("198.51.100.2/32"), Dev: "pmip-k2"},
		},
	}
	enc := func(key uint32) dataplane.Encap { return dataplane.Encap{Dst: m6, Src: l6, Keyed: true, Key: key} }
	ls := &dataplane.State{
		Tunnels:   []dataplane.Tunnel{{Name: "pmip-gre6", Kind: dataplane.IP6GRE, External: true}},
		Addresses: []dataplane.Address{{Dev: "veth0", Prefix: pfx("2001:db8:ff::1/64"), NoDAD: true}},
		Sysctls:   append(dataplane.ForwardingSysctls(), dataplane.Sysctl{Family: 4, Dev: "all", Name: "rp_filter", Value: 0}),
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-gre6", Encap: enc(100)},
			{Dst: pfx("10.1.0.5/32"), Dev: "pmip-gre6", Encap: enc(100)},
			{Dst: pfx("2001:db8:3::/64"), Dev: "pmip-gre6", Encap: enc(101)},
		},
		// The inner check alone, as before.
		Filter: &dataplane.Filter{
			Tunnels: []string{"pmip-gre6"},
			TunnelSources: []dataplane.TunnelSource{
				{Dev: "pmip-gre6", Prefix: pfx("2001:db8:1::/64")},
				{Dev: "pmip-gre6", Prefix: pfx("10.1.0.5/32")},
				{Dev: "pmip-gre6", Prefix: pfx("2001:db8:3::/64")},
			},
		},
	}
	ctx := context.Background()
	rm, _, _ := open(t, mag)
	if err := rm.Set(ctx, ms); err != nil {
		t.Fatal(err)
	}
	rl, _, _ := open(t, lma)
	if err := rl.Set(ctx, ls); err != nil {
		t.Fatal(err)
	}
	var c6, c4 *net.UDPConn
	if err := lma.Do(func() (err error) {
		if c6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: 5000}); err != nil {
			return err
		}
		c4, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero, Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c6.Close()
	defer c4.Close()
	arrives := func(src, dst string, tries int) bool {
		d := netip.MustParseAddr(dst)
		l := c6
		if d.Is4() {
			l = c4
		}
		return udpArrives(t, mag, l, netip.MustParseAddr(src), d, tries, 1500*time.Millisecond)
	}
	type flow struct{ src, dst string }
	right := []flow{{"2001:db8:1::10", "2001:db8:cc::1"}, {"10.1.0.5", "198.51.100.1"}, {"2001:db8:3::10", "2001:db8:cc::2"}}
	crossed := []flow{{"2001:db8:1::10", "2001:db8:cc::2"}, {"10.1.0.5", "198.51.100.2"}, {"2001:db8:3::10", "2001:db8:cc::1"}}
	check := func(t *testing.T, fs []flow, pass bool) {
		t.Helper()
		for _, f := range fs {
			tries := 1
			if pass {
				tries = 5
			}
			if got := arrives(f.src, f.dst, tries); got != pass {
				t.Errorf("%s -> %s: arrived %v, want %v", f.src, f.dst, got, pass)
			}
		}
	}
	t.Run("inner check alone lets another session's key through", func(t *testing.T) {
		check(t, right, true)
		check(t, crossed, true)
	})
	ls.Filter.GREPeers = []netip.Addr{m6}
	ls.Filter.GRESources = []dataplane.GRESource{
		{Peer: m6, Key: 100, Prefix: pfx("2001:db8:1::/64")},
		{Peer: m6, Key: 100, Prefix: pfx("10.1.0.5/32")},
		{Peer: m6, Key: 101, Prefix: pfx("2001:db8:3::/64")},
	}
	if err := rl.Set(ctx, ls); err != nil {
		t.Fatal(err)
	}
	t.Run("with the GRE check each source passes with its own key only", func(t *testing.T) {
		check(t, right, true)
		check(t, crossed, false)
	})
	if haveTool(t, "nft") {
		t.Log(lma.Run(t, "nft", "list", "chain", "inet", "pmip", "grespoof1"))
	}
}
