package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWritesEndOnBlocks: every log write into a preallocated segment ends
// on a 4 KiB boundary (or the segment's end), starts where the data
// ended, and never grows the file; the padding changes nothing a reader
// or a restart sees.
func TestWritesEndOnBlocks(t *testing.T) {
	for _, d := range []Durability{OnDisk, InKernel} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := testOpts
			opts.Durability = d
			w := open(t, dir, opts)
			type write struct {
				off           int64
				data, written int
			}
			var writes []write
			w.onWrite = func(off int64, data, written int) { writes = append(writes, write{off, data, written}) }
			ctx := context.Background()
			want := map[string]string{}
			// Values of odd lengths, ~2.5 segments of them: rotations,
			// and writes ending anywhere in a block.
			for i := range 3500 {
				k := fmt.Sprintf("mn-%04d", i%700)
				v := fmt.Sprintf("%0*d", 300+i%997, i)
				if err := w.Put(ctx, []byte(k), []byte(v)); err != nil {
					t.Fatal(err)
				}
				want[k] = v
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if len(writes) < 100 {
				t.Fatalf("%d writes seen, want one per Put or batch", len(writes))
			}
			var padded, rotations int
			for i, wr := range writes {
				end := wr.off + int64(wr.written)
				if end%padTo != 0 && end != opts.SegmentBytes {
					t.Fatalf("write %d: [%d, %d) ends inside a block", i, wr.off, end)
				}
				if wr.written < wr.data || wr.written-wr.data >= padTo {
					t.Fatalf("write %d: %d bytes written for %d of data", i, wr.written, wr.data)
				}
				if wr.written > wr.data {
					padded++
				}
				if i > 0 {
					prev := writes[i-1]
					switch {
					case wr.off == prev.off+int64(prev.data):
					case wr.off == fileHeader:
						rotations++
					default:
						t.Fatalf("write %d starts at %d; the previous one's data ended at %d", i, wr.off, prev.off+int64(prev.data))
					}
				}
			}
			if padded == 0 || rotations < 2 {
				t.Fatalf("%d padded writes, %d rotations: the test did not exercise padding across segments", padded, rotations)
			}
			segs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
			for _, s := range segs {
				fi, err := os.Stat(s)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != opts.SegmentBytes {
					t.Errorf("%s has %d bytes, want its preallocated %d", s, fi.Size(), opts.SegmentBytes)
				}
			}
			w = open(t, dir, opts)
			defer w.Close()
			wantContents(t, w, want)
			// The padding wrote zeros: anything else after the last
			// record would be cleared as a torn tail.
			if torn := w.Stats().RecoveredTornTail; torn != 0 {
				t.Errorf("recovery cleared %d bytes after the last record", torn)
			}
		})
	}
}

// TestPaddedStopsAtFileEnd: padding never goes past the active file's
// size, so a plain (unpreallocated) segment, whose size is its data's
// end, is never padded.
func TestPaddedStopsAtFileEnd(t *testing.T) {
	for _, c := range []struct {
		size, cap int64
		n, want   int
	}{
		{size: 100, cap: 1 << 20, n: 50, want: padTo - 100},
		{size: 4000, cap: 1 << 20, n: 96, want: 96},             // ends on a boundary
		{size: 4000, cap: 1 << 20, n: 97, want: 2*padTo - 4000}, // one past it
		{size: 100, cap: 1000, n: 50, want: 900},                // a file end inside the block
		{size: 100, cap: 100, n: 50, want: 50},                  // plain file: its end is the data's
		{size: 100, cap: 150, n: 50, want: 50},
	} {
		w := &WAL{activeSize: c.size, activeCap: c.cap}
		if got := c.n + w.padding(c.n); got != c.want {
			t.Errorf("size %d, cap %d, %d bytes: padded to %d, want %d", c.size, c.cap, c.n, got, c.want)
		}
	}
}
