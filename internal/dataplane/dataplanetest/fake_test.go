package dataplanetest_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
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

// magState is a MAG with one LMA and two clients on wlan0:
//
//	client1 (HNP 2001:db8:1::/64, HoA 10.1.0.5) ─┐
//	                                           wlan0 MAG ══pmip-lma0══ LMA
//	client2 (HNP 2001:db8:2::/64)              ─┘
func magState() *dataplane.State {
	return &dataplane.State{
		Tunnels: []dataplane.Tunnel{{Name: "pmip-lma0", Kind: dataplane.IP6, Local: addr("2001:db8:ff::2"), Remote: addr("2001:db8:ff::1")}},
		Addresses: []dataplane.Address{
			{Dev: "wlan0", Prefix: pfx("fe80::1/64"), NoDAD: true},
			{Dev: "wlan0", Prefix: pfx("10.1.0.1/32")},
		},
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:1::/64"), Dev: "wlan0"},
			{Dst: pfx("10.1.0.5/32"), Dev: "wlan0"},
			{Dst: pfx("2001:db8:2::/64"), Dev: "wlan0"},
			{Table: 100, Dst: pfx("::/0"), Dev: "pmip-lma0"},
			{Table: 100, Dst: pfx("0.0.0.0/0"), Dev: "pmip-lma0"},
		},
		Rules: []dataplane.Rule{
			{Priority: 1000, Src: pfx("2001:db8:1::/64"), IIf: "wlan0", Table: 100},
			{Priority: 1000, Src: pfx("10.1.0.5/32"), IIf: "wlan0", Table: 100},
			{Priority: 1000, Src: pfx("2001:db8:2::/64"), IIf: "wlan0", Table: 100},
		},
		Filter: &dataplane.Filter{
			AccessIfaces: []string{"wlan0"},
			Sources: []dataplane.Source{
				{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("2001:db8:1::/64")},
				{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("10.1.0.5/32")},
				{MAC: mac("02:00:00:00:00:02"), Prefix: pfx("2001:db8:2::/64")},
			},
		},
	}
}

const magText = `tunnel pmip-lma0 ip6tnl local 2001:db8:ff::2 remote 2001:db8:ff::1 hoplimit 64
address 10.1.0.1/32 dev wlan0
address fe80::1/64 dev wlan0 nodad
route 0.0.0.0/0 dev pmip-lma0 table 100
route 10.1.0.5/32 dev wlan0 table 254
route 2001:db8:1::/64 dev wlan0 table 254 metric 1024
route 2001:db8:2::/64 dev wlan0 table 254 metric 1024
route ::/0 dev pmip-lma0 table 100 metric 1024
rule 1000 from 10.1.0.5/32 iif wlan0 lookup 100
rule 1000 from 2001:db8:1::/64 iif wlan0 lookup 100
rule 1000 from 2001:db8:2::/64 iif wlan0 lookup 100
filter table
filter access wlan0
filter source 02:00:00:00:00:01 10.1.0.5/32
filter source 02:00:00:00:00:01 2001:db8:1::/64
filter source 02:00:00:00:00:02 2001:db8:2::/64
`

func TestMAGSetIdempotentAndTeardown(t *testing.T) {
	ctx := context.Background()
	fake := dataplanetest.New("wlan0", "eth0")
	if err := fake.Set(ctx, magState()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(magText, fake.String()); diff != "" {
		t.Fatalf("kernel after Set (-want +got):\n%s", diff)
	}
	ops := fake.Kernel.Ops()
	// The tunnel comes before the route into it, the table before its
	// elements.
	if i, j := index(ops, "add tunnel pmip-lma0"), index(ops, "replace route ::/0 dev pmip-lma0"); i < 0 || j < i {
		t.Errorf("tunnel at %d, its route at %d:\n%s", i, j, strings.Join(ops, "\n"))
	}
	if i, j := index(ops, "add filter table"), index(ops, "add filter source"); i < 0 || j < i {
		t.Errorf("table at %d, element at %d", i, j)
	}

	// Same state again: nothing to do, and no second dump.
	if err := fake.Set(ctx, magState()); err != nil {
		t.Fatal(err)
	}
	if ops := fake.Kernel.Ops(); len(ops) != 0 {
		t.Errorf("second Set of the same state applied %q", ops)
	}
	if n := fake.Kernel.Dumps(); n != 1 {
		t.Errorf("dumps = %d, want 1", n)
	}

	// Client 2 leaves: exactly its route, rule and source go, O(1) each.
	s := magState()
	s.Routes = s.Routes[:2:2]
	s.Routes = append(s.Routes, magState().Routes[3:]...)
	s.Rules = s.Rules[:2]
	s.Filter.Sources = s.Filter.Sources[:2]
	if err := fake.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"del filter source 02:00:00:00:00:02 2001:db8:2::/64",
		"del rule 1000 from 2001:db8:2::/64 iif wlan0 lookup 100",
		"del route 2001:db8:2::/64 dev wlan0 table 254 metric 1024",
	}
	if diff := cmp.Diff(want, fake.Kernel.Ops()); diff != "" {
		t.Errorf("ops for a leaving client (-want +got):\n%s", diff)
	}

	if err := fake.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := fake.String(); got != "" {
		t.Errorf("after Set(nil) the kernel still holds:\n%s", got)
	}
}

// TestLMAShape: one ip6tnl per MAG shared by its clients, and one
// flow-based ip6gre for every keyed client:
//
//	MAG1 2001:db8:ff::2 ══pmip-mag1══╗
//	MAG2 2001:db8:ff::3 ══pmip-gre6══╣ LMA 2001:db8:ff::1
//	                (key 7, key 8)   ║
func TestLMAShape(t *testing.T) {
	ctx := context.Background()
	lma := addr("2001:db8:ff::1")
	s := &dataplane.State{
		Tunnels: []dataplane.Tunnel{
			{Name: "pmip-mag1", Kind: dataplane.IP6, Local: lma, Remote: addr("2001:db8:ff::2")},
			{Name: "pmip-gre6", Kind: dataplane.IP6GRE, External: true},
		},
		Routes: []dataplane.Route{
			{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-mag1"},
			{Dst: pfx("10.1.0.5/32"), Dev: "pmip-mag1"},
			{Dst: pfx("2001:db8:7::/64"), Dev: "pmip-gre6", Encap: dataplane.Encap{Dst: addr("2001:db8:ff::3"), Src: lma, Keyed: true, Key: 7}},
			{Dst: pfx("2001:db8:8::/64"), Dev: "pmip-gre6", Encap: dataplane.Encap{Dst: addr("2001:db8:ff::3"), Src: lma, Keyed: true, Key: 8}},
		},
	}
	fake := dataplanetest.New("eth0")
	if err := fake.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	const want = `tunnel pmip-gre6 ip6gre external
tunnel pmip-mag1 ip6tnl local 2001:db8:ff::1 remote 2001:db8:ff::2 hoplimit 64
route 10.1.0.5/32 dev pmip-mag1 table 254
route 2001:db8:1::/64 dev pmip-mag1 table 254 metric 1024
route 2001:db8:7::/64 encap ip6 id 7 key dst 2001:db8:ff::3 src 2001:db8:ff::1 hoplimit 64 dev pmip-gre6 table 254 metric 1024
route 2001:db8:8::/64 encap ip6 id 8 key dst 2001:db8:ff::3 src 2001:db8:ff::1 hoplimit 64 dev pmip-gre6 table 254 metric 1024
`
	if diff := cmp.Diff(want, fake.String()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	fake.Kernel.Ops()

	// Handover of the key-7 client to MAG1: one route replaced in place.
	s.Routes[2] = dataplane.Route{Dst: pfx("2001:db8:7::/64"), Dev: "pmip-mag1"}
	if err := fake.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"replace route 2001:db8:7::/64 dev pmip-mag1 table 254 metric 1024"}, fake.Kernel.Ops()); diff != "" {
		t.Errorf("handover ops (-want +got):\n%s", diff)
	}
}

// A tunnel whose endpoint changes is recreated, and the routes the kernel
// dropped with it are put back.
func TestTunnelRecreatedRestoresRoutes(t *testing.T) {
	ctx := context.Background()
	fake := dataplanetest.New()
	s := &dataplane.State{
		Tunnels: []dataplane.Tunnel{{Name: "pmip-mag1", Kind: dataplane.IP6, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2")}},
		Routes:  []dataplane.Route{{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-mag1"}},
	}
	if err := fake.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	fake.Kernel.Ops()
	s.Tunnels[0].Remote = addr("2001:db8::3")
	if err := fake.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"del tunnel pmip-mag1 ip6tnl local 2001:db8::1 remote 2001:db8::2 hoplimit 64",
		"add tunnel pmip-mag1 ip6tnl local 2001:db8::1 remote 2001:db8::3 hoplimit 64",
		"replace route 2001:db8:1::/64 dev pmip-mag1 table 254 metric 1024",
	}
	if diff := cmp.Diff(want, fake.Kernel.Ops()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// An MTU change is made in place.
	s.Tunnels[0].MTU = 1400
	if err := fake.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"replace tunnel pmip-mag1 ip6tnl local 2001:db8::1 remote 2001:db8::3 hoplimit 64 mtu 1400"}, fake.Kernel.Ops()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Per-object failures are joined with their object named, the objects
// that do not depend on them are still applied, and the next Set rereads
// the kernel and finishes the job.
func TestFailuresJoinedAndRetried(t *testing.T) {
	ctx := context.Background()
	fake := dataplanetest.New("wlan0")
	fake.Kernel.Fail("route 2001:db8:1::/64", syscall.ENOBUFS)
	err := fake.Set(ctx, magState())
	if !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("err = %v, want ENOBUFS", err)
	}
	if !strings.Contains(err.Error(), "replace route 2001:db8:1::/64 dev wlan0") {
		t.Errorf("error does not name its object: %v", err)
	}
	if !strings.Contains(fake.String(), "route 2001:db8:2::/64 dev wlan0") {
		t.Errorf("a failure stopped independent objects:\n%s", fake.String())
	}
	fake.Kernel.Fail("route 2001:db8:1::/64", nil)
	if err := fake.Set(ctx, magState()); err != nil {
		t.Fatal(err)
	}
	if fake.Kernel.Dumps() != 2 {
		t.Errorf("dumps = %d, want 2 (the failure made the state unknown)", fake.Kernel.Dumps())
	}
	if diff := cmp.Diff(magText, fake.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A route on a device that does not exist fails like the kernel's ENODEV.
func TestMissingDevice(t *testing.T) {
	fake := dataplanetest.New()
	err := fake.Set(context.Background(), &dataplane.State{Routes: []dataplane.Route{{Dst: pfx("10.0.0.0/8"), Dev: "wlan9"}}})
	if !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("err = %v, want ENODEV", err)
	}
}

// An invalid state changes nothing.
func TestInvalidStateChangesNothing(t *testing.T) {
	fake := dataplanetest.New("wlan0")
	s := magState()
	s.Routes = append(s.Routes, dataplane.Route{Dst: pfx("2001:db8:1::1/64"), Dev: "wlan0"})
	err := fake.Set(context.Background(), s)
	if !errors.Is(err, dataplane.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if ops := fake.Kernel.Ops(); len(ops) != 0 {
		t.Errorf("invalid state applied %q", ops)
	}
}

// Restart: a new reconciler over a kernel that already holds a previous
// run's objects adopts what is still wanted and removes the rest.
func TestRestartAdopts(t *testing.T) {
	ctx := context.Background()
	k := dataplanetest.NewKernel("wlan0")
	first := dataplane.NewReconciler(k, dataplane.Options{})
	if err := first.Set(ctx, magState()); err != nil {
		t.Fatal(err)
	}
	k.Ops()
	second := dataplane.NewReconciler(k, dataplane.Options{})
	s := magState()
	s.Rules = s.Rules[1:]
	if err := second.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"del rule 1000 from 2001:db8:1::/64 iif wlan0 lookup 100"}, k.Ops()); diff != "" {
		t.Errorf("restart ops (-want +got):\n%s", diff)
	}
}

func index(ops []string, prefix string) int {
	for i, op := range ops {
		if strings.HasPrefix(op, prefix) {
			return i
		}
	}
	return -1
}

// Change: one binding at a time at LMA scale, then a Set resynchronises.
func TestChangeThenSet(t *testing.T) {
	ctx := context.Background()
	fake := dataplanetest.New()
	base := &dataplane.State{Tunnels: []dataplane.Tunnel{{Name: "pmip-gre6", Kind: dataplane.IP6GRE, External: true}}}
	if err := fake.Set(ctx, base); err != nil {
		t.Fatal(err)
	}
	fake.Kernel.Ops()
	r := dataplane.Route{Dst: pfx("2001:db8:7::/64"), Dev: "pmip-gre6", Encap: dataplane.Encap{Dst: addr("2001:db8:ff::3"), Keyed: true, Key: 7}}
	if err := fake.Change(ctx, dataplane.Op{Action: dataplane.Add, Obj: r}); err != nil {
		t.Fatal(err)
	}
	want := []string{"replace route 2001:db8:7::/64 encap ip6 id 7 key dst 2001:db8:ff::3 hoplimit 64 dev pmip-gre6 table 254 metric 1024"}
	if diff := cmp.Diff(want, fake.Kernel.Ops()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// An invalid object changes nothing.
	bad := dataplane.Route{Dst: pfx("10.0.0.1/8"), Dev: "pmip-gre6"}
	if err := fake.Change(ctx, dataplane.Op{Action: dataplane.Add, Obj: bad}); !errors.Is(err, dataplane.ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
	if ops := fake.Kernel.Ops(); len(ops) != 0 {
		t.Errorf("invalid change applied %q", ops)
	}
	// The next Set reads the kernel again and removes what it does not
	// want.
	dumps := fake.Kernel.Dumps()
	if err := fake.Set(ctx, base); err != nil {
		t.Fatal(err)
	}
	if fake.Kernel.Dumps() != dumps+1 {
		t.Errorf("Set after Change did not reread the kernel")
	}
	if diff := cmp.Diff([]string{"del " + strings.TrimPrefix(want[0], "replace ")}, fake.Kernel.Ops()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Sysctls and address generation modes render, are never undone, need
// their device, and go with a device of ours.
func TestFakeLinkSettings(t *testing.T) {
	ctx := context.Background()
	f := dataplanetest.New("wlan0")
	tun := dataplane.Tunnel{Name: "pmip0", Kind: dataplane.IP6, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2")}
	s := &dataplane.State{
		Tunnels:      []dataplane.Tunnel{tun},
		AddrGenModes: []dataplane.AddrGenMode{{Dev: "wlan0", Mode: dataplane.AddrGenNone}},
		Sysctls: append(dataplane.ForwardingSysctls(),
			dataplane.Sysctl{Family: 6, Dev: "wlan0", Name: "accept_ra", Value: 0},
			dataplane.Sysctl{Family: 4, Dev: "pmip0", Name: "accept_local", Value: 1}),
	}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := `tunnel pmip0 ip6tnl local 2001:db8::1 remote 2001:db8::2 hoplimit 64
link wlan0 addrgenmode none
sysctl net.ipv4.conf.all.forwarding=1
sysctl net.ipv4.conf.pmip0.accept_local=1
sysctl net.ipv6.conf.all.forwarding=1
sysctl net.ipv6.conf.wlan0.accept_ra=0
`
	if diff := cmp.Diff(want, f.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := f.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want = `link wlan0 addrgenmode none
sysctl net.ipv4.conf.all.forwarding=1
sysctl net.ipv6.conf.all.forwarding=1
sysctl net.ipv6.conf.wlan0.accept_ra=0
`
	if diff := cmp.Diff(want, f.String()); diff != "" {
		t.Errorf("after tear-down (-want +got):\n%s", diff)
	}
	err := f.Set(ctx, &dataplane.State{Sysctls: []dataplane.Sysctl{{Family: 6, Dev: "eth9", Name: "accept_ra"}}})
	if !errors.Is(err, syscall.ENODEV) {
		t.Errorf("sysctl of a missing device: %v", err)
	}
}

// The LMA's tunnel sources render and are one element each.
func TestFakeTunnelSources(t *testing.T) {
	ctx := context.Background()
	f := dataplanetest.New()
	s := &dataplane.State{Filter: &dataplane.Filter{
		Tunnels:       []string{"pmip6abc"},
		TunnelSources: []dataplane.TunnelSource{{Dev: "pmip6abc", Prefix: pfx("2001:db8:1::/64")}, {Dev: "pmip6abc", Prefix: pfx("10.1.0.5/32")}},
	}}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := `filter table
filter tunnel pmip6abc
filter tunnel-source pmip6abc 10.1.0.5/32
filter tunnel-source pmip6abc 2001:db8:1::/64
`
	if diff := cmp.Diff(want, f.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	f.Kernel.Ops()
	if err := f.Change(ctx, dataplane.Op{Action: dataplane.Del, Obj: s.Filter.TunnelSources[1]}); err != nil {
		t.Fatal(err)
	}
	if ops := f.Kernel.Ops(); len(ops) != 1 || ops[0] != "del filter tunnel-source pmip6abc 10.1.0.5/32" {
		t.Errorf("ops %q", ops)
	}
}

// RFC 5213 6.8, 6.9.3: on an access link whose address generation mode
// is none, Set removes the link-locals the kernel made before, and only
// those: not another device's, not one the desired state holds, and not
// on a device whose mode is left alone.
func TestFakeKernelLinkLocalsRemoved(t *testing.T) {
	ctx := context.Background()
	f := dataplanetest.New("br-lan", "wlan1", "eth0")
	for _, ll := range []struct{ dev, p string }{
		{"br-lan", "fe80::a8bb:ccff:fedd:1/64"},
		{"br-lan", "fe80::1/64"}, // the fixed one, made by hand before the MAG started
		{"wlan1", "fe80::a8bb:ccff:fedd:2/64"},
		{"eth0", "fe80::a8bb:ccff:fedd:3/64"},
	} {
		if err := f.Kernel.KernelLinkLocal(ll.dev, pfx(ll.p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Kernel.KernelLinkLocal("eth0", pfx("2001:db8::1/64")); err == nil {
		t.Error("a global address taken as a kernel link-local")
	}
	if err := f.Kernel.KernelLinkLocal("nosuch0", pfx("fe80::9/64")); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("link-local on a missing device: %v", err)
	}
	s := &dataplane.State{
		AddrGenModes: []dataplane.AddrGenMode{
			{Dev: "br-lan", Mode: dataplane.AddrGenNone},
			{Dev: "wlan1", Mode: dataplane.AddrGenEUI64},
		},
		Addresses: []dataplane.Address{{Dev: "br-lan", Prefix: pfx("fe80::1/64"), NoDAD: true, NoPrefixRoute: true}},
	}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"replace link br-lan addrgenmode none",
		"replace link wlan1 addrgenmode eui64",
		"del address fe80::a8bb:ccff:fedd:1/64 dev br-lan",
		"add address fe80::1/64 dev br-lan nodad noprefixroute",
	}
	if diff := cmp.Diff(want, f.Kernel.Ops()); diff != "" {
		t.Errorf("first Set (-want +got):\n%s", diff)
	}
	wantLL := []dataplane.Address{
		{Dev: "br-lan", Prefix: pfx("fe80::1/64")},
		{Dev: "wlan1", Prefix: pfx("fe80::a8bb:ccff:fedd:2/64")},
		{Dev: "eth0", Prefix: pfx("fe80::a8bb:ccff:fedd:3/64")},
	}
	if diff := cmp.Diff(wantLL, f.Kernel.KernelLinkLocals(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("kernel link-locals (-want +got):\n%s", diff)
	}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := f.Kernel.Ops(); len(ops) != 0 {
		t.Errorf("second Set: %q", ops)
	}
	// A resynchronisation reads the kernel again: nothing left to remove.
	if err := f.Resync(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, o := range f.Kernel.Ops() {
		if strings.HasPrefix(o, "del") {
			t.Errorf("resync: %s", o)
		}
	}
}
