package pool

import (
	"errors"
	"net/netip"
	"testing"
)

// FuzzAllocator runs a random sequence of Allocate, Reserve and Free on a
// home prefix pool and an IPv4 pool and checks them against a model: no
// prefix or address is ever handed out twice, hints are honoured when free,
// errors are the documented ones, and Usage agrees.
//
// Each pair of input bytes is one operation: the first picks the operation
// and the pool, the second the entry (or hint) it names.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 5, 2, 5, 2, 5})
	f.Add([]byte{3, 7, 4, 7, 5, 7, 5, 7, 3, 0, 3, 255})
	f.Fuzz(func(t *testing.T, ops []byte) {
		p6, err := NewPrefixPool(netip.MustParsePrefix("2001:db8:0:ff00::/56"), 64) // 256 entries
		if err != nil {
			t.Fatal(err)
		}
		p4, err := NewIPv4Pool(netip.MustParsePrefix("192.0.2.0/26"), netip.Addr{}) // 61 entries
		if err != nil {
			t.Fatal(err)
		}
		pools := []struct {
			a     Allocator
			entry func(byte) netip.Prefix
			model map[netip.Prefix]bool
		}{
			{p6, func(b byte) netip.Prefix {
				if b == 0 {
					return netip.MustParsePrefix("::/64") // ALL_ZERO: no hint
				}
				a := netip.MustParseAddr("2001:db8:0:ff00::").As16()
				a[7] = b
				return netip.PrefixFrom(netip.AddrFrom16(a), 64)
			}, map[netip.Prefix]bool{}},
			{p4, func(b byte) netip.Prefix {
				// 192.0.2.0/26 plus addresses beyond it.
				return netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, b}), 32)
			}, map[netip.Prefix]bool{}},
		}
		// canon maps either IPv4 form to one model key.
		canon := func(p netip.Prefix) netip.Prefix { return netip.PrefixFrom(p.Addr(), 128) }
		for len(ops) >= 2 {
			op, arg := ops[0], ops[1]
			ops = ops[2:]
			pl := &pools[int(op/3)%2]
			x := pl.entry(arg)
			switch op % 3 {
			case 0:
				got, err := pl.a.Allocate(x)
				if errors.Is(err, ErrNoAddrAvail) {
					if u := pl.a.Usage(); uint64(len(pl.model)) != u.Size {
						t.Fatalf("ErrNoAddrAvail with %d of %d used", len(pl.model), u.Size)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Allocate(%v): %v", x, err)
				}
				if pl.model[canon(got)] {
					t.Fatalf("Allocate(%v) = %v, which is already allocated", x, got)
				}
				if !pl.a.Contains(got) {
					t.Fatalf("Allocate(%v) = %v, outside the pool", x, got)
				}
				if pl.a.Contains(x) && !pl.model[canon(x)] && canon(got) != canon(x) {
					t.Fatalf("Allocate(%v) = %v, but the hint was free", x, got)
				}
				pl.model[canon(got)] = true
			case 1:
				err := pl.a.Reserve(x)
				switch {
				case !pl.a.Contains(x):
					if !errors.Is(err, ErrNotInPool) {
						t.Fatalf("Reserve(%v) outside = %v", x, err)
					}
				case pl.model[canon(x)]:
					if !errors.Is(err, ErrInUse) {
						t.Fatalf("Reserve(%v) in use = %v", x, err)
					}
				case err != nil:
					t.Fatalf("Reserve(%v) free = %v", x, err)
				default:
					pl.model[canon(x)] = true
				}
			case 2:
				err := pl.a.Free(x)
				switch {
				case !pl.a.Contains(x):
					if !errors.Is(err, ErrNotInPool) {
						t.Fatalf("Free(%v) outside = %v", x, err)
					}
				case !pl.model[canon(x)]:
					if !errors.Is(err, ErrDoubleFree) {
						t.Fatalf("Free(%v) unallocated = %v", x, err)
					}
				case err != nil:
					t.Fatalf("Free(%v) allocated = %v", x, err)
				default:
					delete(pl.model, canon(x))
				}
			}
			if u := pl.a.Usage(); u.Used != uint64(len(pl.model)) {
				t.Fatalf("Usage().Used = %d, model holds %d", u.Used, len(pl.model))
			}
		}
	})
}
