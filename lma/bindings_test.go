package lma

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// Bindings with a Limit answers the first entries of a stable order (by
// mobile node, then interface), the same at every call: not whichever
// the cache's map yields first.
func TestBindingsLimitStableOrder(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	const n = 40
	// Registered in reverse order, so that the order by id is not the
	// order by mobile node.
	for i := n - 1; i >= 0; i-- {
		h.register(h.ap1, h.newPBU(fmt.Sprintf("user%02d@example.net", i)))
	}
	ctx := context.Background()
	all, err := h.e.Bindings(ctx, BindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range all {
		names = append(names, b.MobileNode)
	}
	if len(names) != n || !slices.IsSorted(names) {
		t.Fatalf("listing not in mobile node order: %v", names)
	}
	for try := range 10 {
		for _, f := range []BindingFilter{{Limit: 7}, {Limit: 7, MAG: "ap1"}, {Limit: 7, Prefix: mustPrefix("2001:db8:100::/48")}} {
			got, err := h.e.Bindings(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var gotNames []string
			for _, b := range got {
				gotNames = append(gotNames, b.MobileNode)
			}
			if !slices.Equal(gotNames, names[:7]) {
				t.Fatalf("try %d, filter %+v: %v, want the first seven %v", try, f, gotNames, names[:7])
			}
		}
	}
	if got, _ := h.e.Bindings(ctx, BindingFilter{Limit: n + 5}); len(got) != n {
		t.Errorf("limit above the count: %d entries, want %d", len(got), n)
	}
}
