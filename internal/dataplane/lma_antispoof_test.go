package dataplane_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestLMAAntiSpoofing sends real packets through the LMA's uplink check
// (veths stand in for the tunnels, which the host kernel lacks; the check
// keys on the input device, whatever its kind):
//
//	ns mag1                             ns lma                            ns cn
//	t1 2001:db8:ff:1::2, 192.0.2.2 ── pmip-m1 2001:db8:ff:1::1      cn0 ── cn0 2001:db8:cc::2
//	lo 2001:db8:1::10 (its client's)      192.0.2.1                 2001:db8:cc::1   198.51.100.2
//	   2001:db8:2::10 (mag2's client's)  (pmip-m2: mag2's tunnel,   198.51.100.1     UDP :5000
//	   2001:db8:9::10 (nobody's)          named in the filter only)
//	   10.1.0.5 (its), 10.1.0.7 (mag2's)
//
// With pmip-m1 not in the filter's tunnels every source is forwarded (so
// the filter alone makes the difference); with it, only the home
// addresses of the sessions on pmip-m1 are (RFC 5213 5.6.1, RFC 5844
// 3.1.3), and a session that leaves takes its sources with it.
func TestLMAAntiSpoofing(t *testing.T) {
	mag := nstest.New(t, "mag1")
	lma := nstest.New(t, "lma")
	cn := nstest.New(t, "cn")
	nstest.Veth(t, mag, "t1", lma, "pmip-m1")
	nstest.Veth(t, lma, "cn0", cn, "cn0")
	mag.Run(t, "ip", "addr", "add", "2001:db8:ff:1::2/64", "dev", "t1", "nodad")
	mag.Run(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "t1")
	for _, a := range []string{"2001:db8:1::10/128", "2001:db8:2::10/128", "2001:db8:9::10/128", "10.1.0.5/32", "10.1.0.7/32"} {
		mag.Run(t, "ip", "addr", "add", a, "dev", "lo", "nodad")
	}
	mag.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:ff:1::1")
	mag.Run(t, "ip", "route", "add", "default", "via", "192.0.2.1")
	cn.Run(t, "ip", "addr", "add", "2001:db8:cc::2/64", "dev", "cn0", "nodad")
	cn.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "cn0")
	cn.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:cc::1")
	cn.Run(t, "ip", "route", "add", "default", "via", "198.51.100.1")

	m1 := []dataplane.TunnelSource{
		{Dev: "pmip-m1", Prefix: pfx("2001:db8:1::/64")},
		{Dev: "pmip-m1", Prefix: pfx("10.1.0.5/32")},
	}
	m2 := []dataplane.TunnelSource{
		{Dev: "pmip-m2", Prefix: pfx("2001:db8:2::/64")},
		{Dev: "pmip-m2", Prefix: pfx("10.1.0.7/32")},
	}
	state := func(tunnels []string, sources ...[]dataplane.TunnelSource) *dataplane.State {
		s := &dataplane.State{
			Sysctls: append(dataplane.ForwardingSysctls(),
				// Reverse-path filtering off, so that only our check
				// decides (the host's default may be strict).
				dataplane.Sysctl{Family: 4, Dev: "all", Name: "rp_filter", Value: 0},
				dataplane.Sysctl{Family: 4, Dev: "pmip-m1", Name: "rp_filter", Value: 0}),
			Addresses: []dataplane.Address{
				{Dev: "pmip-m1", Prefix: pfx("2001:db8:ff:1::1/64"), NoDAD: true},
				{Dev: "pmip-m1", Prefix: pfx("192.0.2.1/24")},
				{Dev: "cn0", Prefix: pfx("2001:db8:cc::1/64"), NoDAD: true},
				{Dev: "cn0", Prefix: pfx("198.51.100.1/24")},
			},
			Routes: []dataplane.Route{
				{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-m1", Gateway: addr("2001:db8:ff:1::2")},
				{Dst: pfx("10.1.0.5/32"), Dev: "pmip-m1", Gateway: addr("192.0.2.2")},
			},
			Filter: &dataplane.Filter{Tunnels: tunnels},
		}
		for _, src := range sources {
			s.Filter.TunnelSources = append(s.Filter.TunnelSources, src...)
		}
		return s
	}

	var l6, l4 *net.UDPConn
	if err := cn.Do(func() (err error) {
		if l6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP("2001:db8:cc::2"), Port: 5000}); err != nil {
			return err
		}
		l4, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 2), Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	defer l4.Close()
	// arrives sends from src to the correspondent and reports whether the
	// datagram got there; an expected one gets five tries (the first
	// waits for neighbour discovery on two links).
	arrives := func(t *testing.T, src string, tries int) bool {
		t.Helper()
		a := netip.MustParseAddr(src)
		if a.Is4() {
			return udpArrives(t, mag, l4, a, netip.MustParseAddr("198.51.100.2"), tries, 1500*time.Millisecond)
		}
		return udpArrives(t, mag, l6, a, netip.MustParseAddr("2001:db8:cc::2"), tries, 1500*time.Millisecond)
	}
	check := func(t *testing.T, want map[string]bool) {
		t.Helper()
		for src, pass := range want {
			tries := 1
			if pass {
				tries = 5
			}
			if got := arrives(t, src, tries); got != pass {
				t.Errorf("from %s: forwarded %v, want %v", src, got, pass)
			}
		}
	}

	ctx := context.Background()
	r, c, k := open(t, lma)
	t.Run("filter off", func(t *testing.T) {
		if err := r.Set(ctx, state(nil, m1, m2)); err != nil {
			t.Fatal(err)
		}
		check(t, map[string]bool{"2001:db8:1::10": true, "2001:db8:2::10": true, "2001:db8:9::10": true, "10.1.0.5": true, "10.1.0.7": true})
	})
	t.Run("filter on", func(t *testing.T) {
		c.take()
		if err := r.Set(ctx, state([]string{"pmip-m1", "pmip-m2"}, m1, m2)); err != nil {
			t.Fatal(err)
		}
		// Checking the MAGs' tunnels is one element each.
		want := []string{"add filter tunnel pmip-m1", "add filter tunnel pmip-m2"}
		if diff := cmp.Diff(want, c.take()); diff != "" {
			t.Errorf("ops (-want +got):\n%s", diff)
		}
		check(t, map[string]bool{"2001:db8:1::10": true, "2001:db8:2::10": false, "2001:db8:9::10": false, "10.1.0.5": true, "10.1.0.7": false})
		got, err := k.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got.String(), "filter tunnel-source pmip-m1 2001:db8:1::/64\n") {
			t.Errorf("dump:\n%s", got)
		}
		if haveTool(t, "nft") {
			out := lma.Run(t, "nft", "list", "chain", "inet", "pmip", "tunspoof1")
			if !strings.Contains(out, "counter packets") || strings.Contains(out, "counter packets 0 ") {
				t.Errorf("drop counter did not count:\n%s", out)
			}
		}
	})
	t.Run("session leaves", func(t *testing.T) {
		c.take()
		if err := r.Set(ctx, state([]string{"pmip-m1", "pmip-m2"}, m2)); err != nil {
			t.Fatal(err)
		}
		want := []string{"del filter tunnel-source pmip-m1 10.1.0.5/32", "del filter tunnel-source pmip-m1 2001:db8:1::/64"}
		if diff := cmp.Diff(want, c.take()); diff != "" {
			t.Errorf("ops (-want +got):\n%s", diff)
		}
		check(t, map[string]bool{"2001:db8:1::10": false, "10.1.0.5": false})
	})
	t.Run("a session added by Change", func(t *testing.T) {
		if err := r.Change(ctx, dataplane.Op{Action: dataplane.Add, Obj: m1[0]}); err != nil {
			t.Fatal(err)
		}
		check(t, map[string]bool{"2001:db8:1::10": true, "10.1.0.5": false})
	})
}
