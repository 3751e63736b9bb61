package pool

import (
	"math/rand/v2"
	"testing"
)

// TestIndexSetAgainstModel drives the set with random adds, removes and
// nextFree queries and checks every answer against a plain []bool. The
// index space is two and a bit chunks, so the short last chunk, chunk
// skipping and the array/bitmap conversions in both directions all run.
func TestIndexSetAgainstModel(t *testing.T) {
	const n = 2*chunkSize + 777
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 99))
		s := newIndexSet(n)
		model := make([]bool, n)
		used := uint64(0)
		// Phases bias towards filling then emptying so chunks cross
		// arrayMax and arrayMin many times.
		for phase := range 6 {
			addBias := 0.8
			if phase%2 == 1 {
				addBias = 0.2
			}
			for range 60000 {
				// Cluster ops in one chunk most of the time so a
				// chunk's density really moves.
				var i uint64
				if rng.IntN(4) > 0 {
					i = uint64(rng.IntN(chunkSize))
				} else {
					i = uint64(rng.IntN(n))
				}
				if rng.Float64() < addBias {
					if got, want := s.add(i), !model[i]; got != want {
						t.Fatalf("seed %d: add(%d) = %v, want %v", seed, i, got, want)
					}
					if !model[i] {
						used++
					}
					model[i] = true
				} else {
					if got, want := s.remove(i), model[i]; got != want {
						t.Fatalf("seed %d: remove(%d) = %v, want %v", seed, i, got, want)
					}
					if model[i] {
						used--
					}
					model[i] = false
				}
				if s.used != used {
					t.Fatalf("seed %d: used = %d, want %d", seed, s.used, used)
				}
				if rng.IntN(16) == 0 {
					from := uint64(rng.IntN(n + 10))
					got, ok := s.nextFree(from)
					want, wok := bruteNextFree(model, from)
					if ok != wok || got != want {
						t.Fatalf("seed %d: nextFree(%d) = %d,%v, want %d,%v", seed, from, got, ok, want, wok)
					}
				}
			}
			for i := range uint64(n) {
				if s.contains(i) != model[i] {
					t.Fatalf("seed %d phase %d: contains(%d) = %v, want %v", seed, phase, i, !model[i], model[i])
				}
			}
		}
	}
}

func bruteNextFree(model []bool, from uint64) (uint64, bool) {
	for i := from; i < uint64(len(model)); i++ {
		if !model[i] {
			return i, true
		}
	}
	return 0, false
}

// TestIndexSetFullChunks fills whole chunks, including the short last one,
// and checks nextFree skips them and reports exhaustion.
func TestIndexSetFullChunks(t *testing.T) {
	const n = 3*chunkSize + 5
	s := newIndexSet(n)
	for i := range uint64(n) {
		if !s.add(i) {
			t.Fatalf("add(%d) = false on a fresh index", i)
		}
	}
	if _, ok := s.nextFree(0); ok {
		t.Fatal("nextFree found a free index in a full set")
	}
	for _, hole := range []uint64{n - 1, 2 * chunkSize, chunkSize + 4000, 3} {
		s.remove(hole)
		if got, ok := s.nextFree(0); !ok || got != hole {
			t.Fatalf("nextFree(0) = %d,%v, want %d", got, ok, hole)
		}
		if got, ok := s.nextFree(hole + 1); ok {
			t.Fatalf("nextFree(%d) = %d, want none", hole+1, got)
		}
		s.add(hole)
	}
	if s.bytes() > 4*(chunkWords*8+256)+1024 {
		t.Errorf("bytes() = %d for 4 full chunks", s.bytes())
	}
}
