package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMidLogDamageIsCorrupt: one flipped byte in the middle of the active
// segment, with acknowledged batches after it, is damage a crash cannot
// leave (a crash tears only the last batch): Open must refuse with
// ErrCorrupt rather than clear the acknowledged records after it as a
// torn tail. Salvage then keeps everything but the damaged record.
func TestMidLogDamageIsCorrupt(t *testing.T) {
	for _, where := range []string{"record body", "record length", "batch header"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			w := open(t, dir, testOpts)
			// 200 Puts one after another: 200 batches, each acknowledged.
			var mid int64
			for i := range 200 {
				if i == 100 {
					mid = w.activeSize
				}
				if err := w.Put(ctx, fmt.Appendf(nil, "mn-%03d", i), []byte("binding value")); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			seg := filepath.Join(dir, segmentName(1))
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			switch where {
			case "record body":
				b[mid+batchHeaderSize+recordHeader+3] ^= 0x10
			case "record length":
				b[mid+batchHeaderSize+5] ^= 0x01
			case "batch header":
				b[mid+recordHeader+2] ^= 0x01
			}
			if err := os.WriteFile(seg, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if w, err := Open(dir, testOpts); !errors.Is(err, ErrCorrupt) {
				if w != nil {
					t.Errorf("Open kept %d of 200 acknowledged records", len(contents(t, w)))
					w.Close()
				}
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			rep, err := Salvage(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			w = open(t, dir, testOpts)
			defer w.Close()
			got := contents(t, w)
			want := 200
			if where != "batch header" {
				want = 199 // the damaged record is lost
			}
			if len(got) != want {
				t.Fatalf("after Salvage (%+v): %d keys, want %d", rep, len(got), want)
			}
		})
	}
}

// TestTornBatchWithLaterRecords: a power cut may persist a later page of
// the last batch but not an earlier one, leaving valid records of that
// batch after a bad one. That is still a torn tail (nothing in the batch
// was acknowledged): Open clears it and keeps everything before.
func TestTornBatchWithLaterRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w := open(t, dir, testOpts)
	for i := range 5 {
		if err := w.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// The last batch: three records in one commit, by hand (the
	// committer is idle: no Put is in flight).
	start := w.activeSize
	buf := make([]byte, batchHeaderSize)
	for i := range 3 {
		buf = appendRecord(buf, kindPut, fmt.Appendf(nil, "torn%d", i), []byte("never acknowledged"))
	}
	putBatchHeader(buf, 3)
	if err := w.commit(buf); err != nil {
		t.Fatal(err)
	}
	w.Close()
	seg := filepath.Join(dir, segmentName(1))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// The batch's first record lost, its later ones on disk.
	clear(b[start+batchHeaderSize : start+batchHeaderSize+20])
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir, testOpts)
	defer w.Close()
	wantContents(t, w, map[string]string{"k0": "v", "k1": "v", "k2": "v", "k3": "v", "k4": "v"})
	if w.Stats().RecoveredTornTail == 0 {
		t.Error("RecoveredTornTail = 0")
	}
}
