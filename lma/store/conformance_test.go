package store_test

import (
	"testing"

	"github.com/openpmip/pmip/lma/store"
	"github.com/openpmip/pmip/lma/store/storetest"
)

func TestWALConformance(t *testing.T) {
	storetest.Conformance(t, func(t *testing.T) (store.Store, func() store.Store) {
		dir := t.TempDir()
		opts := store.Options{SegmentBytes: 1 << 20}
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
