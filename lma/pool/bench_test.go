package pool

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
)

// BenchmarkPrefixPool measures Allocate and Free with a million prefixes
// already allocated from a /32 of /64s (2^32 entries), and reports the
// memory the used set takes per allocation, both for the dense layout of
// unhinted allocation and for hints scattered over the whole pool.
//
//	go test -run '^$' -bench PrefixPool -benchtime 2000000x ./lma/pool/
func BenchmarkPrefixPool(b *testing.B) {
	const preload = 1_000_000
	agg := netip.MustParsePrefix("2001:db8::/32")
	for _, layout := range []string{"dense", "scattered"} {
		b.Run(layout, func(b *testing.B) {
			p, err := NewPrefixPool(agg, 64)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			hint := func() netip.Prefix {
				if layout == "dense" {
					return netip.Prefix{}
				}
				return p.prefix(rng.Uint64N(p.size))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range preload {
				if _, err := p.Allocate(hint()); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			u := p.Usage()

			b.ResetTimer()
			for range b.N {
				pfx, err := p.Allocate(hint())
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Free(pfx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// After the loop: ResetTimer discards metrics reported
			// before it.
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(u.Used), "heapB/alloc")
			b.ReportMetric(float64(u.Bytes)/float64(u.Used), "setB/alloc")
		})
	}
}

// BenchmarkIPv4Pool measures Allocate and Free of single addresses in a
// /12 with a million addresses already allocated.
func BenchmarkIPv4Pool(b *testing.B) {
	p, err := NewIPv4Pool(netip.MustParsePrefix("10.16.0.0/12"), netip.Addr{})
	if err != nil {
		b.Fatal(err)
	}
	for range 1_000_000 {
		if _, err := p.Allocate(netip.Prefix{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		a, err := p.Allocate(netip.Prefix{})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Free(a); err != nil {
			b.Fatal(err)
		}
	}
}
