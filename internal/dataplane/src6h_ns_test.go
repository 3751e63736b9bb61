package dataplane

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/openpmip/pmip/internal/nft"
)

// TestSourceSetsByLength: a MAG client's /64 goes to the hash set src6h
// (its key the prefix's network), any other IPv6 length and a single
// address to the interval set src6, an IPv4 home address to src4; the
// dump reads each back as the same Source, so that a restarted daemon
// adopts the table as it is and a Resync puts back an element removed
// behind its back.
//
//	ns "batch": wlan0 ──veth── peer0 (ns "batchpeer"), table inet pmip
func TestSourceSetsByLength(t *testing.T) {
	ns, k := batchNS(t)
	ctx := context.Background()
	m1, m2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	s64 := Source{MAC: m1, Prefix: pfx("2001:db8:1::/64")}
	s := &State{Filter: &Filter{
		AccessIfaces: []string{"wlan0"},
		Sources: []Source{
			s64,
			{MAC: m1, Prefix: pfx("2001:db8:100::/56")},
			{MAC: m1, Prefix: pfx("10.1.0.5/32")},
			{MAC: m2, Prefix: pfx("2001:db8:2::10/128")},
		},
	}}
	r := NewReconciler(k, Options{})
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	keys := func(set string) [][]byte {
		t.Helper()
		es, err := k.nft.conn.Elements(nft.FamilyINet, k.nft.table, set)
		if err != nil {
			t.Fatal(err)
		}
		var ks [][]byte
		for _, e := range es {
			if e.Flags&nft.ElemIntervalEnd == 0 { // an interval set lists each end on its own in some kernels
				ks = append(ks, e.Key)
			}
		}
		return ks
	}
	key := func(m []byte, a string) []byte {
		return append(append(append([]byte(nil), m...), 0, 0), addr(a).AsSlice()...)
	}
	has := func(ks [][]byte, k []byte) bool {
		for _, x := range ks {
			if bytes.Equal(x, k) {
				return true
			}
		}
		return false
	}
	h, i := keys(setSrc6H), keys(setSrc6)
	if len(h) != 1 || !has(h, key(m1, "2001:db8:1::")) {
		t.Errorf("src6h holds %x, want the /64 alone", h)
	}
	if len(i) != 2 || !has(i, key(m1, "2001:db8:100::")) || !has(i, key(m2, "2001:db8:2::10")) {
		t.Errorf("src6 holds %x, want the /56 and the /128", i)
	}

	dump := func() string {
		t.Helper()
		var got *State
		if err := ns.Do(func() (err error) { got, err = k.Dump(ctx); return err }); err != nil {
			t.Fatal(err)
		}
		return got.String()
	}
	if got := dump(); got != s.String() {
		t.Fatalf("dump\n%s\nwant\n%s", got, s)
	}
	// A restarted daemon: a new reconciler plans nothing against the
	// table it finds.
	c := &countOps{Kernel: k}
	if err := NewReconciler(c, Options{}).Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if c.n != 0 {
		t.Errorf("a restart re-applied %d operations", c.n)
	}
	// Behind our back (as `nft delete element inet pmip src6h {...}`):
	// the dump sees it, a Resync puts it back.
	_, e := encodeSource(s64)
	if err := k.nft.element(Del, setSrc6H, e); err != nil {
		t.Fatal(err)
	}
	if got := dump(); got == s.String() {
		t.Fatal("the element removed by hand still shows in the dump")
	}
	if err := r.Resync(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := dump(); got != s.String() {
		t.Errorf("after the Resync\n%s\nwant\n%s", got, s)
	}
	// A /64 element with host bits is not ours to decode: the table is
	// stale, and a Set rebuilds it.
	bad := nft.Element{Key: key(m2, "2001:db8:3::1")}
	if err := k.nft.element(Add, setSrc6H, bad); err != nil {
		t.Fatal(err)
	}
	var f *Filter
	if err := ns.Do(func() (err error) { f, err = k.nft.dump(); return err }); err != nil {
		t.Fatal(err)
	}
	if f == nil || !f.stale {
		t.Errorf("a src6h element with host bits decoded as %+v", f)
	}
}

// countOps counts the operations that reach the kernel.
type countOps struct {
	Kernel
	n int
}

func (c *countOps) Apply(ctx context.Context, op Op) error {
	c.n++
	return c.Kernel.Apply(ctx, op)
}

func (c *countOps) ApplyBatch(ctx context.Context, ops []Op) []error {
	c.n += len(ops)
	return c.Kernel.(Batcher).ApplyBatch(ctx, ops)
}
