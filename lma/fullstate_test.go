package lma

import (
	"context"
	"testing"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// The whole data plane state of many sessions is built in one slice sized
// once, without a view per session: at a million bindings the old way
// (append growth plus a view each) was most of the restart's peak memory.
func TestFullStateAllocations(t *testing.T) {
	nw := transporttest.NewNetwork()
	c6, _ := nw.Listen(lmaAddr)
	cfg := testCfg(t, false, "")
	cfg.Pools[0].Prefix = mustPrefix("2001:db8::/32")
	e, err := New(Options{Config: cfg, Conns: []transport.Conn{c6}, Dataplane: &nullDataplane{}, Store: newMemStore(), Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const n = 20_000
	preload(t, e, n)
	var allocs float64
	var routes, capacity int
	if err := e.call(context.Background(), func() {
		allocs = testing.AllocsPerRun(3, func() {
			s := e.fullState()
			routes, capacity = len(s.Routes), cap(s.Routes)
		})
	}); err != nil {
		t.Fatal(err)
	}
	if routes != n || capacity != n {
		t.Errorf("%d routes in a slice of capacity %d, want %d in %d", routes, capacity, n, n)
	}
	if allocs > 64 {
		t.Errorf("fullState of %d sessions: %.0f allocations, want a few (not one per session)", n, allocs)
	}
}

// Without a data plane (Options.Dataplane nil: signalling only) the
// engine recovers its bindings and serves, building no data plane state.
func TestNoDataplane(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.register(h.ap1, h.newPBU("alice@example.net"))
	h.stop()
	nw := transporttest.NewNetwork()
	c6, _ := nw.Listen(lmaAddr)
	e, err := New(Options{Config: testCfg(t, true, ""), Conns: []transport.Conn{c6}, Store: h.st, Clock: h.clk})
	if err != nil {
		t.Fatalf("New without a data plane: %v", err)
	}
	defer e.Close()
	bs, err := e.Bindings(context.Background(), BindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].MobileNode != "alice@example.net" {
		t.Fatalf("recovered %+v", bs)
	}
	if e.Counters().DataplaneErrors != 0 {
		t.Error("data plane errors without a data plane")
	}
}
