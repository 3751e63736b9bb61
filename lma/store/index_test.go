package store

import (
	"bytes"
	"testing"
)

// The index tells keys apart whatever their length, across the boundary
// between its pointer-free map and the plain one, including keys that
// are prefixes of one another and keys padded with zeros.
func TestIndexKeys(t *testing.T) {
	keys := [][]byte{
		[]byte("b"), []byte("b\x00"), []byte("b/1"), []byte("b/10"),
		bytes.Repeat([]byte("k"), shortKeyLen-1), bytes.Repeat([]byte("k"), shortKeyLen),
		bytes.Repeat([]byte("k"), shortKeyLen+1), bytes.Repeat([]byte("k"), MaxKeySize),
		append(bytes.Repeat([]byte("k"), shortKeyLen), 0),
	}
	x := newIndex()
	for i, k := range keys {
		x.add(record{kind: kindPut, key: k}, 1, int64(100+i))
	}
	x.add(record{kind: kindDelete, key: keys[2]}, 2, 7)
	if x.len() != len(keys) {
		t.Fatalf("len %d, want %d", x.len(), len(keys))
	}
	for i, k := range keys {
		want := pos(1, int64(100+i))
		if i == 2 {
			want = pos(2, 7) | tombBit
		}
		if got, ok := x.get(k); !ok || got != want {
			t.Errorf("key %q (%d octets): %x, %v; want %x", k, len(k), got, ok, want)
		}
	}
	for _, k := range [][]byte{[]byte("b/2"), {}, bytes.Repeat([]byte("k"), shortKeyLen+2)} {
		if _, ok := x.get(k); ok {
			t.Errorf("key %q found, never added", k)
		}
	}
}

// Indexing a binding's record again allocates nothing: no string per
// record, as map[string]uint64 needed.
func TestIndexNoAllocation(t *testing.T) {
	x := newIndex()
	rec := record{kind: kindPut, key: []byte("b/12345abcdef")}
	x.add(rec, 1, 16)
	if a := testing.AllocsPerRun(1000, func() {
		x.add(rec, 1, 32)
		x.get(rec.key)
	}); a != 0 {
		t.Errorf("%v allocations per add and get", a)
	}
}
