package dataplanetest_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
)

// A Set after a Set trusts what it made; Resync reads the kernel again and
// puts back what was removed behind the reconciler's back.
func TestResync(t *testing.T) {
	ctx := context.Background()
	f := dataplanetest.New()
	tun := dataplane.Tunnel{Name: "pmip-m1", Kind: dataplane.IP6, Local: addr("2001:db8:ff::1"), Remote: addr("2001:db8:ff::2")}
	route := dataplane.Route{Dst: pfx("2001:db8:1::/64"), Dev: "pmip-m1"}
	src := dataplane.TunnelSource{Dev: "pmip-m1", Prefix: pfx("2001:db8:1::/64")}
	s := &dataplane.State{
		Tunnels: []dataplane.Tunnel{tun},
		Routes:  []dataplane.Route{route},
		Filter:  &dataplane.Filter{Tunnels: []string{"pmip-m1"}, TunnelSources: []dataplane.TunnelSource{src}},
	}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := f.String()
	// An operator removes the route and the allowed source by hand.
	// (The kernel's route, with its table and metric.)
	kroute := route
	kroute.Table, kroute.Metric = 254, 1024
	for _, o := range []dataplane.Object{kroute, src} {
		if err := f.Kernel.Apply(ctx, dataplane.Op{Action: dataplane.Del, Obj: o}); err != nil {
			t.Fatal(err)
		}
	}
	f.Kernel.Ops()
	dumps := f.Kernel.Dumps()
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := f.Kernel.Ops(); len(ops) != 0 || f.Kernel.Dumps() != dumps {
		t.Fatalf("a second Set read the kernel or changed it: %v", ops)
	}
	var r dataplane.Resyncer = f
	if err := r.Resync(ctx, s); err != nil {
		t.Fatal(err)
	}
	if f.Kernel.Dumps() != dumps+1 {
		t.Error("Resync did not read the kernel")
	}
	wantOps := []string{"replace route 2001:db8:1::/64 dev pmip-m1 table 254 metric 1024", "add filter tunnel-source pmip-m1 2001:db8:1::/64"}
	if diff := cmp.Diff(wantOps, f.Kernel.Ops()); diff != "" {
		t.Errorf("Resync ops (-want +got):\n%s", diff)
	}
	if got := f.String(); got != want {
		t.Errorf("after Resync:\n%s\nwant:\n%s", got, want)
	}
}
