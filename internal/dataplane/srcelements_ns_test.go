package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
)

// TestSourceElementTime measures what a handover waits for on the new MAG
// after the PBA: the client's two anti-spoofing sources (its /64 and its
// IPv4 home address) added in one nftables transaction, with 64 other
// clients in the sets (docs/handover.md 8.4: until they are in, the
// client's uplink is dropped).
//
//	ns "batch": wlan0 ──veth── peer0 (ns "batchpeer"), table inet pmip
func TestSourceElementTime(t *testing.T) {
	ns, k := batchNS(t)
	r := NewReconciler(k, Options{})
	ctx := context.Background()
	const others = 64
	client := func(i int) []Source {
		m := net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}
		return []Source{
			{MAC: m, Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, byte(i >> 8), byte(i)}), 64)},
			{MAC: m, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32)},
		}
	}
	s := &State{Filter: &Filter{AccessIfaces: []string{"wlan0"}}}
	for i := range others {
		s.Filter.Sources = append(s.Filter.Sources, client(i)...)
	}
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	n := 100
	if nstest.InVM() {
		n = 20
	}
	var adds, dels []time.Duration
	for i := range n {
		c := client(others + i)
		ops := []Op{{Add, c[0]}, {Add, c[1]}}
		t0 := time.Now()
		errs := k.ApplyBatch(ctx, ops)
		adds = append(adds, time.Since(t0))
		if i%10 == 0 {
			var got *State
			if err := ns.Do(func() (err error) { got, err = k.Dump(ctx); return err }); err != nil {
				t.Fatal(err)
			}
			if n := len(got.Filter.Sources); n != 2*others+2 {
				t.Fatalf("iteration %d: %d sources in the kernel after the add, want %d", i, n, 2*others+2)
			}
		}
		for j := range ops {
			ops[j].Action = Del
		}
		t0 = time.Now()
		errs = append(errs, k.ApplyBatch(ctx, ops)...)
		dels = append(dels, time.Since(t0))
		for _, err := range errs {
			if err != nil {
				t.Fatalf("iteration %d: %v", i, err)
			}
		}
	}
	t.Logf("a client's two source elements, %d runs with %d clients in the sets: add %s; delete %s", n, others, quantiles(adds), quantiles(dels))
	var got *State
	if err := ns.Do(func() (err error) { got, err = k.Dump(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if got.String() != s.String() {
		t.Errorf("after the runs the kernel holds\n%s\nwant\n%s", got, s)
	}
}

func quantiles(d []time.Duration) string {
	d = slices.Clone(d)
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[int(f*float64(len(d)-1))].Round(time.Microsecond) }
	return fmt.Sprintf("median %v p90 %v max %v", q(0.5), q(0.9), d[len(d)-1].Round(time.Microsecond))
}
