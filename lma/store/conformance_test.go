package store_test

import (
	"testing"

	"github.com/openpmip/pmip/lma/store"
	"github.com/openpmip/pmip/lma/store/storetest"
)

func TestWALConformance(t *testing.T) {
	for _, d := range []store.Durability{store.OnDisk, store.InKernel} {
		t.Run(d.String(), func(t *testing.T) { conformance(t, d) })
	}
}

func conformance(t *testing.T, d store.Durability) {
	storetest.Conformance(t, func(t *testing.T) (store.Store, func() store.Store) {
		dir := t.TempDir()
		opts := store.Options{SegmentBytes: 1 << 20, Durability: d}
		w, err := store.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return w, func() store.Store {
			w, err := store.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
	})
}
