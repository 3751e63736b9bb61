package pool

import (
	"math/bits"
	"slices"
)

// indexSet is the set of used indices in [0, n), n <= 2^32. It is a
// two-level structure in the manner of a Roaring bitmap: the index space is
// cut into chunks of 2^16 indices, and each chunk that holds anything is
// either a sorted array of its low 16 bits (while it holds at most
// arrayMax members, 2 bytes a member) or a 65,536-bit bitmap (8 KiB).
// Empty chunks cost one nil pointer. A bitmap over chunks marks the full
// ones, and each bitmap chunk keeps a summary of its full words, so finding a
// free index skips full regions 64 words at a time.
//
// Costs: contains, add and remove are O(log 4096) for array chunks plus a
// memmove of at most 8 KiB, O(1) for bitmap chunks; nextFree is O(log) inside
// a chunk plus a scan of the full-chunk bitmap (at most 1,024 words for 2^32
// indices). Memory: about 0.13 byte per member when members are dense (the
// unhinted allocation pattern), about 2 bytes plus a share of the chunk
// header when they are scattered (hints spread over a huge pool).
//
// indexSet is not safe for concurrent use; the pools lock around it.
type indexSet struct {
	n      uint64   // size of the index space
	chunks []*chunk // chunk i covers [i<<16, (i+1)<<16); nil means empty
	full   []uint64 // bit i set: chunk i is full
	used   uint64
}

const (
	chunkBits  = 16
	chunkSize  = 1 << chunkBits
	chunkWords = chunkSize / 64
	// arrayMax is the largest array container: beyond it a bitmap (8 KiB)
	// is no bigger than the array (2 bytes a member).
	arrayMax = chunkWords * 64 / 16
	// arrayMin is where a bitmap container goes back to an array; the gap
	// to arrayMax stops a chunk flapping between the two forms.
	arrayMin = arrayMax / 2
)

type chunk struct {
	card int      // members
	cap  int      // indices this chunk covers (the last one may be short)
	arr  []uint16 // sorted members, when bm == nil
	bm   *bitmapContainer
}

type bitmapContainer struct {
	words    [chunkWords]uint64
	fullWord [chunkWords / 64]uint64 // bit w set: words[w] is all ones
}

func newIndexSet(n uint64) *indexSet {
	nc := (n + chunkSize - 1) / chunkSize
	return &indexSet{
		n:      n,
		chunks: make([]*chunk, nc),
		full:   make([]uint64, (nc+63)/64),
	}
}

func (s *indexSet) chunkCap(c uint64) int {
	if rest := s.n - c*chunkSize; rest < chunkSize {
		return int(rest)
	}
	return chunkSize
}

// contains reports whether i is a member. i must be < s.n.
func (s *indexSet) contains(i uint64) bool {
	c := s.chunks[i>>chunkBits]
	return c != nil && c.contains(uint16(i))
}

// add inserts i and reports whether it was absent. i must be < s.n.
func (s *indexSet) add(i uint64) bool {
	ci := i >> chunkBits
	c := s.chunks[ci]
	if c == nil {
		c = &chunk{cap: s.chunkCap(ci)}
		s.chunks[ci] = c
	}
	if !c.add(uint16(i)) {
		return false
	}
	s.used++
	if c.card == c.cap {
		s.full[ci/64] |= 1 << (ci % 64)
	}
	return true
}

// remove deletes i and reports whether it was present. i must be < s.n.
func (s *indexSet) remove(i uint64) bool {
	ci := i >> chunkBits
	c := s.chunks[ci]
	if c == nil || !c.remove(uint16(i)) {
		return false
	}
	s.used--
	s.full[ci/64] &^= 1 << (ci % 64)
	if c.card == 0 {
		s.chunks[ci] = nil
	}
	return true
}

// nextFree returns the smallest index >= from that is not a member, or
// false if there is none below s.n.
func (s *indexSet) nextFree(from uint64) (uint64, bool) {
	if from >= s.n {
		return 0, false
	}
	ci := from >> chunkBits
	if s.full[ci/64]&(1<<(ci%64)) == 0 {
		if c := s.chunks[ci]; c == nil {
			return from, true
		} else if off, ok := c.nextFree(int(from & (chunkSize - 1))); ok {
			return ci<<chunkBits | uint64(off), true
		}
	}
	// Next chunk that is not full, skipping 64 full chunks a word.
	nc := uint64(len(s.chunks))
	for ci++; ci < nc; {
		w := ^s.full[ci/64] >> (ci % 64)
		if w == 0 {
			ci = (ci/64 + 1) * 64
			continue
		}
		ci += uint64(bits.TrailingZeros64(w))
		if ci >= nc {
			break
		}
		c := s.chunks[ci]
		if c == nil {
			return ci << chunkBits, true
		}
		off, ok := c.nextFree(0)
		if !ok {
			// Unreachable while the full bitmap is right; stay safe.
			ci++
			continue
		}
		return ci<<chunkBits | uint64(off), true
	}
	return 0, false
}

// bytes estimates the heap held by the set, for the benchmark's
// bytes-per-allocation figure and for operators sizing pools.
func (s *indexSet) bytes() uint64 {
	b := uint64(len(s.chunks))*8 + uint64(len(s.full))*8
	for _, c := range s.chunks {
		if c == nil {
			continue
		}
		b += 64 // chunk header
		if c.bm != nil {
			b += uint64(chunkWords*8 + chunkWords/64*8)
		} else {
			b += uint64(cap(c.arr)) * 2
		}
	}
	return b
}

func (c *chunk) contains(v uint16) bool {
	if c.bm != nil {
		return c.bm.words[v/64]&(1<<(v%64)) != 0
	}
	_, found := slices.BinarySearch(c.arr, v)
	return found
}

func (c *chunk) add(v uint16) bool {
	if c.bm != nil {
		w := v / 64
		if c.bm.words[w]&(1<<(v%64)) != 0 {
			return false
		}
		c.bm.words[w] |= 1 << (v % 64)
		if c.bm.words[w] == ^uint64(0) {
			c.bm.fullWord[w/64] |= 1 << (w % 64)
		}
		c.card++
		return true
	}
	pos, found := slices.BinarySearch(c.arr, v)
	if found {
		return false
	}
	if len(c.arr) >= arrayMax {
		c.toBitmap()
		return c.add(v)
	}
	c.arr = slices.Insert(c.arr, pos, v)
	c.card++
	return true
}

func (c *chunk) remove(v uint16) bool {
	if c.bm != nil {
		w := v / 64
		if c.bm.words[w]&(1<<(v%64)) == 0 {
			return false
		}
		c.bm.words[w] &^= 1 << (v % 64)
		c.bm.fullWord[w/64] &^= 1 << (w % 64)
		c.card--
		if c.card < arrayMin {
			c.toArray()
		}
		return true
	}
	pos, found := slices.BinarySearch(c.arr, v)
	if !found {
		return false
	}
	c.arr = slices.Delete(c.arr, pos, pos+1)
	c.card--
	if cap(c.arr) > 64 && len(c.arr) < cap(c.arr)/4 {
		c.arr = slices.Clip(slices.Clone(c.arr))
	}
	return true
}

func (c *chunk) toBitmap() {
	bm := new(bitmapContainer)
	for _, v := range c.arr {
		bm.words[v/64] |= 1 << (v % 64)
	}
	for w := range bm.words {
		if bm.words[w] == ^uint64(0) {
			bm.fullWord[w/64] |= 1 << (w % 64)
		}
	}
	c.bm, c.arr = bm, nil
}

func (c *chunk) toArray() {
	arr := make([]uint16, 0, c.card)
	for w, word := range c.bm.words {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			arr = append(arr, uint16(w*64+b))
			word &= word - 1
		}
	}
	c.arr, c.bm = arr, nil
}

// nextFree returns the smallest offset >= off and < c.cap that is not a
// member.
func (c *chunk) nextFree(off int) (int, bool) {
	if off >= c.cap {
		return 0, false
	}
	if c.bm != nil {
		return c.bm.nextFree(off, c.cap)
	}
	// In a sorted array of distinct values arr[j]-j never decreases, so
	// the end of the run of consecutive members starting at off is found
	// by binary search.
	pos, found := slices.BinarySearch(c.arr, uint16(off))
	if !found {
		return off, true
	}
	run := pos + 1 + searchRunEnd(c.arr[pos+1:], off+1)
	v := off + (run - pos)
	if v >= c.cap {
		return 0, false
	}
	return v, true
}

// searchRunEnd returns the length of the prefix of arr that continues the
// run first, first+1, first+2, ...
func searchRunEnd(arr []uint16, first int) int {
	lo, hi := 0, len(arr)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(arr[m]) == first+m {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (b *bitmapContainer) nextFree(off, limit int) (int, bool) {
	w := off / 64
	if x := ^b.words[w] & (^uint64(0) << (off % 64)); x != 0 {
		v := w*64 + bits.TrailingZeros64(x)
		return v, v < limit
	}
	for w++; w < chunkWords; {
		s := ^b.fullWord[w/64] >> (w % 64)
		if s == 0 {
			w = (w/64 + 1) * 64
			continue
		}
		w += bits.TrailingZeros64(s)
		if w >= chunkWords {
			break
		}
		v := w*64 + bits.TrailingZeros64(^b.words[w])
		return v, v < limit
	}
	return 0, false
}
