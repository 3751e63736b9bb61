package dataplane_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestNetlinkKernelLinkLocalRemoved, on the host kernel:
//
//	ns "ll": br-lan ── wlan0 ──veth── cl0 (ns "llpeer")
//
// A MAG that starts on an access bridge that is up already finds the
// link-local the kernel made from its MAC (addr_gen_mode was eui64 when
// it came up; setting none does not remove it). RFC 5213 6.8, 6.9.3: the
// fixed link-local must be the only one on the access link, or the
// kernel sources its neighbour solicitations from a per-MAG address
// (docs/handover.md 9.9). After Set, br-lan has exactly the fixed one;
// the bridge port's own link-local and br-lan's global address, which are
// not the MAG's to manage, stay; a second Set changes nothing.
func TestNetlinkKernelLinkLocalRemoved(t *testing.T) {
	if !haveTool(t, "ip") {
		t.Skip("needs iproute2's ip to make the bridge")
	}
	ns := nstest.New(t, "ll")
	peer := nstest.New(t, "llpeer")
	nstest.Veth(t, ns, "wlan0", peer, "cl0")
	ns.Run(t, "ip", "link", "add", "br-lan", "type", "bridge")
	ns.Run(t, "ip", "link", "set", "wlan0", "master", "br-lan")
	ns.Run(t, "ip", "link", "set", "br-lan", "up")
	ns.Run(t, "ip", "addr", "add", "2001:db8:5::1/64", "dev", "br-lan", "nodad")

	linkLocals := func(dev string) []string {
		t.Helper()
		var ll []string
		for _, f := range strings.Fields(ns.Run(t, "ip", "-6", "-o", "addr", "show", "dev", dev)) {
			if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
				ll = append(ll, p.String())
			}
		}
		slices.Sort(ll)
		return ll
	}
	// The kernel makes br-lan's link-local once the bridge has a carrier
	// (a port up); generous wait on a shared host.
	deadline := time.Now().Add(10 * time.Second)
	for len(linkLocals("br-lan")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the kernel made no link-local on br-lan:\n%s", ns.Run(t, "ip", "-6", "addr"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	kernelMade := linkLocals("br-lan")
	portLL := linkLocals("wlan0")
	if len(portLL) == 0 {
		t.Fatalf("wlan0 has no link-local:\n%s", ns.Run(t, "ip", "-6", "addr"))
	}

	fixed := netip.MustParsePrefix("fe80::1/64")
	s := &dataplane.State{
		AddrGenModes: []dataplane.AddrGenMode{{Dev: "br-lan", Mode: dataplane.AddrGenNone}},
		Addresses:    []dataplane.Address{{Dev: "br-lan", Prefix: fixed, NoDAD: true, NoPrefixRoute: true}},
	}
	ctx := context.Background()
	r, c, _ := open(t, ns)
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	ops := c.take()
	for _, ll := range kernelMade {
		if !slices.ContainsFunc(ops, func(o string) bool {
			return strings.HasPrefix(o, "del address "+ll+" dev br-lan")
		}) {
			t.Errorf("first Set did not remove %s: %q", ll, ops)
		}
	}
	check := func(when string) {
		t.Helper()
		if got := linkLocals("br-lan"); !slices.Equal(got, []string{fixed.String()}) {
			t.Errorf("%s: br-lan link-locals %q, want only %s", when, got, fixed)
		}
		if got := linkLocals("wlan0"); !slices.Equal(got, portLL) {
			t.Errorf("%s: wlan0 link-locals %q, want untouched %q", when, got, portLL)
		}
		if out := ns.Run(t, "ip", "-6", "addr", "show", "dev", "br-lan"); !strings.Contains(out, "2001:db8:5::1/64") {
			t.Errorf("%s: br-lan lost its global address:\n%s", when, out)
		}
	}
	check("after Set")

	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := c.take(); len(ops) != 0 {
		t.Errorf("second Set: %q", ops)
	}
	// A restarted reconciler dumps the kernel: nothing foreign is left
	// to remove, and the fixed one is kept.
	r2, c2, _ := open(t, ns)
	if err := r2.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, o := range c2.take() {
		if strings.HasPrefix(o, "del address") {
			t.Errorf("restarted reconciler: %s", o)
		}
	}
	check("after a restart")
}
