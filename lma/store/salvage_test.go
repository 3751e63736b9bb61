package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSalvage(t *testing.T) {
	build := func(t *testing.T) (string, map[string]string) {
		dir := t.TempDir()
		w := open(t, dir, Options{SegmentBytes: 4096, CompactMinBytes: 1 << 40})
		want := map[string]string{}
		for i := range 300 {
			k, v := fmt.Sprintf("mn-%03d", i), fmt.Sprintf("binding %d", i)
			if err := w.Put(context.Background(), []byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
		w.Close()
		return dir, want
	}

	t.Run("healthy store unchanged", func(t *testing.T) {
		dir, want := build(t)
		rep, err := Salvage(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Keys != len(want) || rep.SkippedBytes != 0 || len(rep.Damaged) != 0 {
			t.Fatalf("report %+v", rep)
		}
		w := open(t, dir, testOpts)
		defer w.Close()
		wantContents(t, w, want)
	})

	t.Run("damaged sealed segment", func(t *testing.T) {
		dir, want := build(t)
		seg := filepath.Join(dir, segmentName(1))
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		b[fileHeader+batchHeaderSize+recordHeader+3] ^= 0xff // inside the first record's body (after its batch header)
		if err := os.WriteFile(seg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if w, err := Open(dir, testOpts); !errors.Is(err, ErrCorrupt) {
			if w != nil {
				w.Close()
			}
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
		rep, err := Salvage(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.SkippedBytes == 0 || !slices.Contains(rep.Damaged, segmentName(1)) {
			t.Fatalf("report %+v: damage not reported", rep)
		}
		// Only the damaged record is lost.
		delete(want, "mn-000")
		if rep.Keys != len(want) {
			t.Fatalf("salvaged %d keys, want %d", rep.Keys, len(want))
		}
		if _, err := os.Stat(filepath.Join(rep.MovedTo, segmentName(1))); err != nil {
			t.Fatalf("old segment not kept for inspection: %v", err)
		}
		w := open(t, dir, testOpts)
		defer w.Close()
		wantContents(t, w, want)
		if err := w.Put(context.Background(), []byte("after"), []byte("salvage")); err != nil {
			t.Fatal(err)
		}
	})
}
