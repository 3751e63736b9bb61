package dataplane

import (
	"context"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
)

// The LMA's filter elements, one per home address and per GRE triple, go
// to nftables in transactions of elementBatch; a transaction the kernel
// refuses (here: deleting an element that is gone) is applied element by
// element, so that every operation gets its own result as Apply gives it.
//
//	ns "batch": wlan0 ──veth── peer0 (ns "batchpeer"), table inet pmip
func TestSetBatchesElements(t *testing.T) {
	ns, k := batchNS(t)
	r := NewReconciler(k, Options{})
	ctx := context.Background()
	n := 3000
	if nstest.InVM() {
		n = 600 // TCG, and the Malta guest's slow clock: two transactions still
	}
	peer := addr("2001:db8:ff::2")
	s := &State{Filter: &Filter{Tunnels: []string{"wlan0"}, GREPeers: nil}}
	for i, rt := range routesOn("wlan0", n) {
		s.Filter.TunnelSources = append(s.Filter.TunnelSources, TunnelSource{Dev: "wlan0", Prefix: rt.Dst})
		s.Filter.GRESources = append(s.Filter.GRESources, GRESource{Peer: peer, Key: uint32(i), Prefix: rt.Dst})
	}
	t0 := time.Now()
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("Set of %d filter elements: %v", 2*n, time.Since(t0))
	var got *State
	if err := ns.Do(func() (err error) { got, err = k.Dump(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if got.String() != s.String() {
		t.Fatalf("dump differs from the state (%d and %d tunnel sources)", len(got.Filter.TunnelSources), len(s.Filter.TunnelSources))
	}
	// A run with a deletion of an element that is gone: the transaction
	// fails, the fallback makes each succeed.
	ops := []Op{
		{Del, TunnelSource{Dev: "wlan0", Prefix: pfx("2001:db8:ffff::/64")}},
		{Del, s.Filter.TunnelSources[0]},
		{Add, TunnelSource{Dev: "wlan0", Prefix: pfx("2001:db8:fffe::/64")}},
		{Del, s.Filter.GRESources[1]},
	}
	for i, err := range k.ApplyBatch(ctx, ops) {
		if err != nil {
			t.Errorf("op %d (%s): %v", i, ops[i], err)
		}
	}
	if err := ns.Do(func() (err error) { got, err = k.Dump(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if len(got.Filter.TunnelSources) != n || len(got.Filter.GRESources) != n-1 {
		t.Errorf("after the fallback: %d tunnel sources, %d GRE sources", len(got.Filter.TunnelSources), len(got.Filter.GRESources))
	}
}
