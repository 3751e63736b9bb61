package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/openpmip/pmip/internal/nstest"
)

// routesOn is n IPv6 /64 routes on dev, as an LMA's home network prefixes.
func routesOn(dev string, n int) []Route {
	rs := make([]Route, n)
	for i := range rs {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		rs[i] = Route{Dst: netip.PrefixFrom(a, 64), Dev: dev}
	}
	return rs
}

// batchNS is a namespace with a veth "wlan0" and a netlink kernel in it.
//
//	ns "batch": wlan0 ──veth── peer0 (ns "batchpeer")
func batchNS(tb testing.TB) (*nstest.NS, *Netlink) {
	ns := nstest.New(tb, "batch")
	peer := nstest.New(tb, "batchpeer")
	nstest.Veth(tb, ns, "wlan0", peer, "peer0")
	var k *Netlink
	if err := ns.Do(func() (err error) { k, err = OpenNetlink(Options{}); return err }); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { k.Close() })
	return ns, k
}

// A batch applies every route it can and reports each failure against its
// own operation, as one request at a time would.
func TestApplyBatch(t *testing.T) {
	_, k := batchNS(t)
	ctx := context.Background()
	rs := routesOn("wlan0", 200)
	var ops []Op
	for _, r := range rs {
		ops = append(ops, Op{Replace, r})
	}
	// Failures inside a batch: the kernel refuses a gateway of another
	// family (Validate would have; Apply does not check), and a missing
	// device is known before anything is sent.
	ops[70] = Op{Replace, Route{Dst: pfx("2001:db8:ffff::/64"), Dev: "wlan0", Gateway: addr("10.0.0.1")}}
	ops[130] = Op{Replace, Route{Dst: pfx("2001:db8:fffe::/64"), Dev: "nosuch0"}}
	errs := k.ApplyBatch(ctx, ops)
	for i, err := range errs {
		switch i {
		case 70, 130:
			if err == nil {
				t.Errorf("op %d (%s) succeeded", i, ops[i])
			}
		default:
			if err != nil {
				t.Errorf("op %d (%s): %v", i, ops[i], err)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(errs[130]), "nosuch0") {
		t.Errorf("missing device: %v", errs[130])
	}
	got, err := k.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Routes) != 198 {
		t.Errorf("kernel holds %d routes of ours, want 198", len(got.Routes))
	}
	// Deleting, also routes that are gone already, succeeds; the socket
	// is still in step for single requests afterwards.
	for i := range ops {
		ops[i].Action = Del
	}
	for i, err := range k.ApplyBatch(ctx, ops) {
		if err != nil && i != 70 && i != 130 {
			t.Errorf("delete op %d: %v", i, err)
		}
	}
	if err := k.Apply(ctx, Op{Replace, rs[0]}); err != nil {
		t.Errorf("single request after batches: %v", err)
	}
	if got, _ := k.Dump(ctx); len(got.Routes) != 1 {
		t.Errorf("kernel holds %d routes, want 1", len(got.Routes))
	}
}

// BenchmarkSetRoutes is the Set of a restarted LMA: N routes into an empty
// kernel. "apply" times the kernel's share alone (ApplyBatch of the planned
// operations, batch requests per sendmsg; 1 is one request and one
// acknowledgement at a time, as before batching), "set" the whole Set
// (dump, plan, apply), "dump" the Dump of N routes. Root only (tier 2).
// Each iteration installs N routes and removes them untimed; the host is
// shared, so compare figures of one run, e.g. -benchtime 1x -count 3.
func BenchmarkSetRoutes(b *testing.B) {
	const n = 100000
	want := &State{Routes: routesOn("wlan0", n)}
	ops := Plan(nil, want)
	clear := func(b *testing.B, k *Netlink) {
		b.StopTimer()
		if err := NewReconciler(k, Options{}).Set(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	for _, batch := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("apply/routes=%d/batch=%d", n, batch), func(b *testing.B) {
			_, k := batchNS(b)
			k.batchSize = batch
			for b.Loop() {
				for i, err := range k.ApplyBatch(context.Background(), ops) {
					if err != nil {
						b.Fatalf("%s: %v", ops[i], err)
					}
				}
				clear(b, k)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "µs/route")
		})
	}
	b.Run(fmt.Sprintf("set/routes=%d", n), func(b *testing.B) {
		_, k := batchNS(b)
		for b.Loop() {
			if err := NewReconciler(k, Options{}).Set(context.Background(), want); err != nil {
				b.Fatal(err)
			}
			clear(b, k)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "µs/route")
	})
	b.Run(fmt.Sprintf("dump/routes=%d", n), func(b *testing.B) {
		_, k := batchNS(b)
		ctx := context.Background()
		if err := NewReconciler(k, Options{}).Set(ctx, want); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			s, err := k.Dump(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(s.Routes) != n {
				b.Fatalf("dump: %d routes", len(s.Routes))
			}
		}
	})
}
