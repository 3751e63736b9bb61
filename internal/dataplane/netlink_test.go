package dataplane_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// counting wraps a Kernel and counts the operations applied, to prove
// that a repeated Set changes nothing.
type counting struct {
	dataplane.Kernel
	mu  sync.Mutex
	ops []string
}

func (c *counting) Apply(ctx context.Context, op dataplane.Op) error {
	c.mu.Lock()
	c.ops = append(c.ops, op.String())
	c.mu.Unlock()
	return c.Kernel.Apply(ctx, op)
}

func (c *counting) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = nil
	return ops
}

// open opens the netlink kernel inside ns.
func open(t *testing.T, ns *nstest.NS) (*dataplane.Reconciler, *counting, *dataplane.Netlink) {
	t.Helper()
	var k *dataplane.Netlink
	if err := ns.Do(func() (err error) {
		k, err = dataplane.OpenNetlink(dataplane.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	c := &counting{Kernel: k}
	return dataplane.NewReconciler(c, dataplane.Options{}), c, k
}

// magLike is the MAG's state without tunnels (the host kernel has none):
// routes to clients on wlan0, a per-LMA table whose default route leaves
// by uplink0, reverse-tunnelling rules and the anti-spoofing filter.
func magLike() *dataplane.State {
	return &dataplane.State{
		Addresses: []dataplane.Address{
			{Dev: "wlan0", Prefix: pfx("fe80::1/64"), NoDAD: true},
			{Dev: "wlan0", Prefix: pfx("10.1.0.1/24"), NoPrefixRoute: true},
			{Dev: "uplink0", Prefix: pfx("2001:db8:ff::2/64"), NoDAD: true},
		},
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:1::/64"), Dev: "wlan0"},
			{Dst: pfx("10.1.0.5/32"), Dev: "wlan0"},
			{Dst: pfx("2001:db8:2::/64"), Dev: "wlan0", Metric: 10},
			{Table: 100, Dst: pfx("::/0"), Dev: "uplink0", Gateway: addr("2001:db8:ff::1")},
			{Table: 100000, Dst: pfx("0.0.0.0/0"), Dev: "uplink0"},
		},
		Rules: []dataplane.Rule{
			{Priority: 1000, Src: pfx("2001:db8:1::/64"), IIf: "wlan0", Table: 100},
			{Priority: 1000, Src: pfx("10.1.0.5/32"), IIf: "wlan0", Table: 100000},
			{Priority: 1001, Src: pfx("::/0"), Mark: 0x10, Mask: 0xff, Table: 100},
		},
		Filter: &dataplane.Filter{
			AccessIfaces: []string{"wlan0"},
			Sources: []dataplane.Source{
				{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("2001:db8:1::/64")},
				{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("10.1.0.5/32")},
				{MAC: mac("02:00:00:00:00:02"), Prefix: pfx("2001:db8:2::/64")},
			},
			Flows: []dataplane.Flow{
				{Src: pfx("::/0"), Dst: pfx("2001:db8:1::/64"), Proto: 6, DstPortFrom: 80, DstPortTo: 80, Mark: 0x10},
				{Src: pfx("192.0.2.0/24"), Dst: pfx("10.1.0.5/32"), Mark: 0x11},
			},
		},
	}
}

// TestNetlinkRoundTrip, on the host kernel:
//
//	ns "dp": wlan0 ──veth── cl0 (ns "peer")
//	         uplink0 ──veth── up0 (ns "peer")
//
// Set writes the state, a dump reads back exactly it, the same Set again
// changes nothing, a new reconciler (a restarted daemon) adopts it, a
// smaller state removes only the difference, and Set(nil) leaves nothing
// of ours while objects of others survive.
func TestNetlinkRoundTrip(t *testing.T) {
	ns := nstest.New(t, "dp")
	peer := nstest.New(t, "peer")
	nstest.Veth(t, ns, "wlan0", peer, "cl0")
	nstest.Veth(t, ns, "uplink0", peer, "up0")
	// Objects of others, which we must never touch.
	ns.Run(t, "ip", "-6", "route", "add", "2001:db8:99::/64", "dev", "wlan0")
	ns.Run(t, "ip", "rule", "add", "from", "10.9.0.0/16", "lookup", "100", "priority", "1000")
	ns.Run(t, "ip", "link", "add", "pmipfoo", "type", "veth", "peer", "name", "pmipbar")
	ns.Run(t, "ip", "addr", "add", "10.9.9.9/32", "dev", "wlan0")
	if err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.AddTable(&nftables.Table{Name: "other", Family: nftables.TableFamilyINet})
		return c.Flush()
	}); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	r, c, k := open(t, ns)
	want := magLike()
	if err := r.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	if ops := c.take(); len(ops) != 3+5+3+1+1+3+2 {
		t.Errorf("first Set applied %d operations:\n%s", len(ops), strings.Join(ops, "\n"))
	}
	// Without IFA_PROTO (Linux < 6.1) addresses
	// are not recognisable as ours in a dump.
	visible := func(s *dataplane.State) string {
		if !k.KeepsAddressProtocol() {
			s = s.Clone()
			s.Addresses = nil
		}
		return s.String()
	}
	got, err := k.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(visible(want), got.String()); diff != "" {
		t.Fatalf("kernel dump after Set (-want +got):\n%s", diff)
	}
	// Cross-check with iproute2 and nft, which do not share our codecs.
	for _, check := range []struct {
		args []string
		want string
	}{
		{[]string{"ip", "-6", "route", "show", "table", "all", "proto", "158"}, "2001:db8:1::/64 dev wlan0 metric 1024"},
		{[]string{"ip", "-6", "route", "show", "table", "100"}, "default via 2001:db8:ff::1 dev uplink0 proto 158 metric 1024"},
		{[]string{"ip", "route", "show", "table", "100000"}, "default dev uplink0 proto 158 scope link"},
		{[]string{"ip", "rule", "show"}, "1000:\tfrom 10.1.0.5 iif wlan0 lookup 100000 proto 158"},
		{[]string{"ip", "-6", "rule", "show"}, "1001:\tfrom all fwmark 0x10/0xff lookup 100 proto 158"},
		{[]string{"ip", "-6", "addr", "show", "dev", "wlan0"}, "inet6 fe80::1/64 scope link nodad"},
		{[]string{"nft", "list", "set", "inet", "pmip", "src6h"}, "02:00:00:00:00:01 . 2001:db8:1::"}, // a /64: its network in the hash set
		{[]string{"nft", "list", "table", "inet", "pmip"}, "ether saddr . ip6 saddr & ffff:ffff:ffff:ffff:: @src6h return"},
		{[]string{"nft", "list", "table", "inet", "pmip"}, "iifname != @access return"},
	} {
		if !haveTool(t, check.args[0]) {
			continue
		}
		if out := ns.Run(t, check.args[0], check.args[1:]...); !strings.Contains(out, check.want) {
			t.Errorf("%s: no %q in\n%s", strings.Join(check.args, " "), check.want, out)
		}
	}

	// Idempotent: the same state again applies nothing.
	if err := r.Set(ctx, magLike()); err != nil {
		t.Fatal(err)
	}
	if ops := c.take(); len(ops) != 0 {
		t.Errorf("second Set applied %q", ops)
	}

	// Restart: a new reconciler and socket adopt everything, change
	// nothing.
	r2, c2, k2 := open(t, ns)
	if err := r2.Set(ctx, magLike()); err != nil {
		t.Fatal(err)
	}
	ops := c2.take()
	if !k.KeepsAddressProtocol() {
		// Only the (idempotent) re-adding of the addresses.
		ops = slices.DeleteFunc(ops, func(op string) bool { return strings.HasPrefix(op, "add address ") })
	}
	if len(ops) != 0 {
		t.Errorf("Set after restart applied %q", ops)
	}

	// A client leaves: exactly its objects go.
	smaller := magLike()
	smaller.Routes = slicesDelete(smaller.Routes, 2)
	smaller.Filter.Sources = smaller.Filter.Sources[:2]
	smaller.Filter.Flows = smaller.Filter.Flows[1:]
	if err := r2.Set(ctx, smaller); err != nil {
		t.Fatal(err)
	}
	wantOps := []string{
		"del filter source 02:00:00:00:00:02 2001:db8:2::/64",
		"del filter flow ::/0 -> 2001:db8:1::/64 proto 6 dport 80-80 mark 0x10",
		"del route 2001:db8:2::/64 dev wlan0 table 254 metric 10",
	}
	if diff := cmp.Diff(wantOps, c2.take()); diff != "" {
		t.Errorf("ops for a leaving client (-want +got):\n%s", diff)
	}
	got, err = k2.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(visible(smaller), got.String()); diff != "" {
		t.Errorf("kernel after removal (-want +got):\n%s", diff)
	}

	// Teardown.
	if err := r2.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err = k2.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.String(); s != "" {
		t.Errorf("after Set(nil) the kernel holds:\n%s", s)
	}
	for _, check := range []struct {
		args []string
		want string
	}{
		{[]string{"ip", "-6", "route", "show"}, "2001:db8:99::/64 dev wlan0"},
		{[]string{"ip", "rule", "show"}, "1000:\tfrom 10.9.0.0/16 lookup 100"},
		{[]string{"ip", "link", "show", "pmipfoo"}, "pmipfoo@pmipbar"},
		{[]string{"ip", "addr", "show", "dev", "wlan0"}, "10.9.9.9/32"},
		{[]string{"nft", "list", "tables"}, "table inet other"},
	} {
		if !haveTool(t, check.args[0]) {
			continue
		}
		if out := ns.Run(t, check.args[0], check.args[1:]...); !strings.Contains(out, check.want) {
			t.Errorf("someone else's object is gone: %s: no %q in\n%s", strings.Join(check.args, " "), check.want, out)
		}
	}
	// Our table is gone, the other stays (read through nf_tables
	// directly: the QEMU image has no nft).
	if err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
		if err != nil {
			return err
		}
		var names []string
		for _, tb := range tables {
			names = append(names, tb.Name)
		}
		if !slices.Equal(names, []string{"other"}) {
			t.Errorf("inet tables after Set(nil): %q, want [other]", names)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// haveTool reports whether the command exists here; the QEMU guest lacks
// some of the host's (nft), and the checks that use them are extra.
func haveTool(t *testing.T, name string) bool {
	if _, err := exec.LookPath(name); err != nil {
		t.Logf("no %s here: check skipped", name)
		return false
	}
	return true
}

// pingCmd is iputils ping; the guest's busybox has a cut-down one first in
// some PATHs.
func pingCmd() string {
	if _, err := os.Stat("/bin/ping"); err == nil {
		return "/bin/ping"
	}
	return "ping"
}

func slicesDelete[T any](s []T, i int) []T { return append(s[:i:i], s[i+1:]...) }
