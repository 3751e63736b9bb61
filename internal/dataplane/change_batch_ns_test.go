package dataplane

import (
	"context"
	"net"
	"testing"
)

// recordingBatcher counts the runs a Reconciler hands to ApplyBatch.
type recordingBatcher struct {
	*Netlink
	runs [][]Op
}

func (b *recordingBatcher) ApplyBatch(ctx context.Context, ops []Op) []error {
	b.runs = append(b.runs, append([]Op(nil), ops...))
	return b.Netlink.ApplyBatch(ctx, ops)
}

// A MAG client's sources, routes and rules, as Change gets them on a PBA,
// go to the kernel as one run (one nftables transaction for the two
// sources, one sendmsg for the routes and rules); adding them again and
// deleting them twice succeed, as one request at a time would.
//
//	ns "batch": wlan0 ──veth── peer0 (ns "batchpeer")
func TestChangeBatchesRoutesAndRules(t *testing.T) {
	_, k := batchNS(t)
	rb := &recordingBatcher{Netlink: k}
	r := NewReconciler(rb, Options{})
	ctx := context.Background()
	if err := k.Apply(ctx, Op{Add, FilterTable{}}); err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	client := []Op{
		{Add, Source{MAC: mac, Prefix: pfx("2001:db8:1::/64")}},
		{Add, Source{MAC: mac, Prefix: pfx("10.1.0.5/32")}},
		{Add, Route{Dst: pfx("2001:db8:1::/64"), Dev: "wlan0"}},
		{Add, Route{Dst: pfx("10.1.0.5/32"), Dev: "wlan0"}},
		{Add, Rule{Priority: 1000, Src: pfx("2001:db8:1::/64"), IIf: "wlan0", Table: 100}},
		{Add, Rule{Priority: 1000, Src: pfx("10.1.0.5/32"), IIf: "wlan0", Table: 100}},
	}
	for round := range 2 {
		if err := r.Change(ctx, client...); err != nil {
			t.Fatalf("add, round %d: %v", round, err)
		}
	}
	if len(rb.runs) != 2 || len(rb.runs[0]) != len(client) {
		t.Fatalf("runs handed to ApplyBatch: %v, want two of %d", rb.runs, len(client))
	}
	got, err := k.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Routes) != 2 || len(got.Rules) != 2 || got.Filter == nil || len(got.Filter.Sources) != 2 {
		t.Fatalf("kernel holds routes %v, rules %v and filter %+v, want 2 of each", got.Routes, got.Rules, got.Filter)
	}
	del := make([]Op, len(client))
	for i, op := range client {
		del[len(client)-1-i] = Op{Del, op.Obj}
	}
	for round := range 2 {
		if err := r.Change(ctx, del...); err != nil {
			t.Fatalf("delete, round %d: %v", round, err)
		}
	}
	if got, err = k.Dump(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got.Routes)+len(got.Rules)+len(got.Filter.Sources) != 0 {
		t.Fatalf("left behind: routes %v rules %v sources %v", got.Routes, got.Rules, got.Filter.Sources)
	}
}
