package dataplane_test

import (
	"context"
	"strings"
	"testing"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestResyncNS: what an operator removes by hand comes back at the next
// Resync, not at a Set (which trusts what it made). A veth stands in for
// the LMA's tunnel (the host kernel has no tunnel modules; routes, sets
// and the dump do not care about the device's kind):
//
//	ns lma                                   ns mag
//	t1 2001:db8:ff:1::1/64 ───────────────── t1 2001:db8:ff:1::2/64
//	route 2001:db8:1::/64 via 2001:db8:ff:1::2 (proto 0x9e)
//	route 10.1.0.5/32 dev t1 (proto 0x9e)
//	filter: tunnel t1, sources 2001:db8:1::/64 and 10.1.0.5 on t1
func TestResyncNS(t *testing.T) {
	lma := nstest.New(t, "lma")
	mag := nstest.New(t, "mag")
	nstest.Veth(t, lma, "t1", mag, "t1")
	lma.Run(t, "ip", "addr", "add", "2001:db8:ff:1::1/64", "dev", "t1", "nodad")
	s := &dataplane.State{
		Sysctls: []dataplane.Sysctl{{Family: 4, Dev: "all", Name: "rp_filter", Value: 0}},
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:1::/64"), Dev: "t1", Gateway: addr("2001:db8:ff:1::2")},
			{Dst: pfx("10.1.0.5/32"), Dev: "t1"},
		},
		Filter: &dataplane.Filter{
			Tunnels: []string{"t1"},
			TunnelSources: []dataplane.TunnelSource{
				{Dev: "t1", Prefix: pfx("2001:db8:1::/64")},
				{Dev: "t1", Prefix: pfx("10.1.0.5/32")},
			},
		},
	}
	ctx := context.Background()
	r, c, k := open(t, lma)
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	dump := func() string {
		t.Helper()
		var got *dataplane.State
		if err := lma.Do(func() (err error) {
			got, err = k.Dump(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got.Sysctls = nil // a dump does not report them
		return got.String()
	}
	want := dump()
	for _, line := range []string{"route 2001:db8:1::/64 via", "route 10.1.0.5/32 dev t1", "filter tunnel t1", "filter tunnel-source t1 2001:db8:1::/64", "filter tunnel-source t1 10.1.0.5/32"} {
		if !strings.Contains(want, line) {
			t.Fatalf("after Set, no %q in:\n%s", line, want)
		}
	}
	// By hand: a route deleted (ip), a set element deleted (straight
	// through the kernel, behind the reconciler's back, as `nft delete
	// element` would; the guest has no nft).
	lma.Run(t, "ip", "-6", "route", "del", "2001:db8:1::/64")
	if err := k.Apply(ctx, dataplane.Op{Action: dataplane.Del, Obj: dataplane.TunnelSource{Dev: "t1", Prefix: pfx("10.1.0.5/32")}}); err != nil {
		t.Fatal(err)
	}
	c.take()
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := c.take(); len(ops) != 0 {
		t.Fatalf("a Set after a Set changed %v", ops)
	}
	if got := dump(); got == want {
		t.Fatal("the hand-made changes did not show in the dump")
	}
	if err := r.Resync(ctx, s); err != nil {
		t.Fatal(err)
	}
	ops := c.take()
	wantOps := []string{
		// A dump does not report sysctls: set again (written only
		// when the value differs, so one changed by hand comes back).
		"replace sysctl net.ipv4.conf.all.rp_filter=0",
		"replace route 2001:db8:1::/64 via 2001:db8:ff:1::2 dev t1 table 254 metric 1024",
		"add filter tunnel-source t1 10.1.0.5/32",
	}
	if strings.Join(ops, "\n") != strings.Join(wantOps, "\n") {
		t.Errorf("Resync applied:\n%s\nwant:\n%s", strings.Join(ops, "\n"), strings.Join(wantOps, "\n"))
	}
	if got := dump(); got != want {
		t.Errorf("after Resync the kernel holds:\n%s\nwant:\n%s", got, want)
	}
}
