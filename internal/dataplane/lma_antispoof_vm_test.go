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

// TestLMAAntiSpoofingVM: the LMA's uplink check on a real ip6tnl tunnel,
// IPv6 and IPv4 inside (RFC 5213 5.6.1, RFC 5844 3.1.3):
//
//	ns mag                                          ns lma
//	veth0 2001:db8:ff::2 ─────────────── veth0 2001:db8:ff::1
//	pmip-t6 ip6tnl ═══════════════════════ pmip-t6 ip6tnl
//	lo 2001:db8:1::10, 10.1.0.5 (its client's)      lo 2001:db8:cc::1, 198.51.100.1
//	   2001:db8:2::10, 10.1.0.7 (not)                  UDP :5000
//	default routes into the tunnel                  filter: pmip-t6 allows 2001:db8:1::/64, 10.1.0.5
func TestLMAAntiSpoofingVM(t *testing.T) {
	nstest.RequireVM(t)
	loadTunnelModules(t)
	mag := nstest.New(t, "mag")
	lma := nstest.New(t, "lma")
	nstest.Veth(t, mag, "veth0", lma, "veth0")
	for _, a := range []string{"2001:db8:1::10/128", "2001:db8:2::10/128", "10.1.0.5/32", "10.1.0.7/32"} {
		mag.Run(t, "ip", "addr", "add", a, "dev", "lo")
	}
	lma.Run(t, "ip", "addr", "add", "2001:db8:cc::1/128", "dev", "lo")
	lma.Run(t, "ip", "addr", "add", "198.51.100.1/32", "dev", "lo")
	ends := func(self, peer string) *dataplane.State {
		return &dataplane.State{
			Tunnels: []dataplane.Tunnel{{Name: "pmip-t6", Kind: dataplane.IP6, Local: addr("2001:db8:ff::" + self), Remote: addr("2001:db8:ff::" + peer)}},
			Addresses: []dataplane.Address{
				{Dev: "veth0", Prefix: pfx("2001:db8:ff::" + self + "/64"), NoDAD: true},
			},
		}
	}
	ms := ends("2", "1")
	ms.Routes = []dataplane.Route{{Dst: pfx("::/0"), Dev: "pmip-t6"}, {Dst: pfx("0.0.0.0/0"), Dev: "pmip-t6"}}
	ls := ends("1", "2")
	ls.Sysctls = []dataplane.Sysctl{{Family: 4, Dev: "all", Name: "rp_filter", Value: 0}}
	// The other sources are routed somewhere, as on a real LMA (a
	// default route); reverse-path filtering is off on our tunnel and in
	// all, so only our check decides.
	ls.Routes = []dataplane.Route{{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-t6"}, {Dst: pfx("10.1.0.5/32"), Dev: "pmip-t6"},
		{Dst: pfx("10.1.0.0/16"), Dev: "veth0"}, {Dst: pfx("2001:db8::/40"), Dev: "veth0"}}
	ls.Filter = &dataplane.Filter{
		TunnelSources: []dataplane.TunnelSource{
			{Dev: "pmip-t6", Prefix: pfx("2001:db8:1::/64")},
			{Dev: "pmip-t6", Prefix: pfx("10.1.0.5/32")},
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

	var l6, l4 *net.UDPConn
	if err := lma.Do(func() (err error) {
		if l6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP("2001:db8:cc::1"), Port: 5000}); err != nil {
			return err
		}
		l4, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	defer l4.Close()
	arrives := func(src string, tries int) bool {
		a := netip.MustParseAddr(src)
		if a.Is4() {
			return udpArrives(t, mag, l4, a, netip.MustParseAddr("198.51.100.1"), tries, 2*time.Second)
		}
		return udpArrives(t, mag, l6, a, netip.MustParseAddr("2001:db8:cc::1"), tries, 2*time.Second)
	}
	check := func(want map[string]bool) {
		t.Helper()
		for src, pass := range want {
			tries := 1
			if pass {
				tries = 5
			}
			if got := arrives(src, tries); got != pass {
				t.Errorf("from %s through the tunnel: arrived %v, want %v", src, got, pass)
			}
		}
	}
	// The tunnel not checked yet: everything arrives, so the check alone
	// makes the difference below.
	check(map[string]bool{"2001:db8:1::10": true, "10.1.0.5": true, "2001:db8:2::10": true, "10.1.0.7": true})
	ls.Filter.Tunnels = []string{"pmip-t6"}
	if err := rl.Set(ctx, ls); err != nil {
		t.Fatal(err)
	}
	check(map[string]bool{"2001:db8:1::10": true, "10.1.0.5": true, "2001:db8:2::10": false, "10.1.0.7": false})
}
