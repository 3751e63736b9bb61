package dataplane_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
)

// batching is the fake kernel with ApplyBatch, recording the runs it is
// handed.
type batching struct {
	*dataplanetest.Kernel
	runs []string
}

func (b *batching) ApplyBatch(ctx context.Context, ops []dataplane.Op) []error {
	b.runs = append(b.runs, fmt.Sprintf("%d %T", len(ops), ops[0].Obj))
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = b.Apply(ctx, op)
	}
	return errs
}

// Set hands a Batcher the runs of routes of its plan, in plan order, and
// reports a failure inside a run against its own operation.
func TestSetBatchesRoutes(t *testing.T) {
	k := &batching{Kernel: dataplanetest.NewKernel("wlan0")}
	r := dataplane.NewReconciler(k, dataplane.Options{})
	s := &dataplane.State{
		Addresses: []dataplane.Address{{Dev: "wlan0", Prefix: pfx("fe80::1/64"), NoDAD: true}},
		Rules:     []dataplane.Rule{{Priority: 10, Src: pfx("::/0"), Table: 5}},
	}
	for i := range 5000 {
		s.Routes = append(s.Routes, dataplane.Route{Dst: pfx(fmt.Sprintf("2001:db8:%x::/48", i)), Dev: "wlan0"})
	}
	k.Fail("2001:db8:7::/48", syscall.ENOBUFS)
	err := r.Set(context.Background(), s)
	if !errors.Is(err, syscall.ENOBUFS) || !strings.Contains(err.Error(), "replace route 2001:db8:7::/48 dev wlan0") || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("Set: %v", err)
	}
	// The address alone, then the routes in runs of at most 4096, then
	// the rule alone (runs of one go to Apply).
	if diff := cmp.Diff([]string{"4096 dataplane.Route", "904 dataplane.Route"}, k.runs); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	ops := k.Ops()
	if len(ops) != 5002 || !strings.HasPrefix(ops[0], "add address") || !strings.HasPrefix(ops[5001], "add rule") {
		t.Errorf("%d ops, first %q, last %q", len(ops), ops[0], ops[len(ops)-1])
	}
}
