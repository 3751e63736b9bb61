package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// smallOpts makes segments of 4 KiB and compacts as soon as anything is
// sealed, so a few hundred Puts go through many rotations and compactions.
var smallOpts = Options{SegmentBytes: 4096, CompactMinBytes: 1, CompactRatio: 0.01}

// Both ways of compacting (a child process, the default; a goroutine)
// keep each key's latest write and nothing deleted.
func TestCompactionKeepsLatest(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		t.Run(fmt.Sprintf("inProcess=%v", inProcess), func(t *testing.T) {
			opts := smallOpts
			opts.CompactInProcess = inProcess
			testCompactionKeepsLatest(t, opts)
		})
	}
}

func testCompactionKeepsLatest(t *testing.T, smallOpts Options) {
	dir := t.TempDir()
	ctx := context.Background()
	w := open(t, dir, smallOpts)
	rng := rand.New(rand.NewPCG(7, 7))
	want := map[string]string{}
	for i := range 1200 {
		k := fmt.Sprintf("mn-%d", rng.IntN(200))
		if rng.IntN(4) == 0 {
			if err := w.Delete(ctx, []byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(want, k)
			continue
		}
		v := fmt.Sprintf("v%d-%s", i, make([]byte, rng.IntN(100)))
		if err := w.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[k] = v
		if i%300 == 0 {
			// Also compact in step, racing the background one.
			if err := w.maybeCompact(ctx); err != nil {
				t.Fatal(err)
			}
			wantContents(t, w, want)
		}
	}
	if err := w.maybeCompact(ctx); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Compactions == 0 || st.CompactionErrors != 0 {
		t.Fatalf("Stats() = %+v: want compactions and no errors", st)
	}
	if inChild := w.stats.compactionsInChild.Load(); smallOpts.CompactInProcess != (inChild == 0) || w.noChild {
		t.Errorf("%d of %d compactions in a child process (in process: %v, fell back: %v)", inChild, st.Compactions, smallOpts.CompactInProcess, w.noChild)
	}
	if st.SegmentsOnDisk > 3 {
		t.Errorf("%d segments left after compaction", st.SegmentsOnDisk)
	}
	wantContents(t, w, want)
	w.Close()

	ents, _ := os.ReadDir(dir)
	var snaps int
	for _, e := range ents {
		if _, ok := parseName(e.Name(), "snap-", ".snap"); ok {
			snaps++
		}
	}
	if snaps != 1 {
		t.Fatalf("%d snapshots on disk, want 1", snaps)
	}
	w = open(t, dir, smallOpts)
	defer w.Close()
	wantContents(t, w, want)
}

// TestRecoveryRemovesLeftovers: a crash between installing a snapshot and
// removing what it replaced, and one during a compaction, leave files that
// recovery removes without changing the contents.
func TestRecoveryRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w := open(t, dir, smallOpts)
	want := map[string]string{}
	for i := range 400 {
		k, v := fmt.Sprintf("k%d", i%50), fmt.Sprintf("v%d", i)
		if err := w.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	if err := w.maybeCompact(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// An older snapshot, an old segment and a half-written snapshot.
	for _, name := range []string{snapshotName(1), segmentName(1), snapshotName(99) + ".tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("stale"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w = open(t, dir, smallOpts)
	defer w.Close()
	wantContents(t, w, want)
	for _, name := range []string{snapshotName(1), segmentName(1), snapshotName(99) + ".tmp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", name, err)
		}
	}
}

// TestCorruptionIsReported: damage to acknowledged data (a sealed segment,
// a snapshot, a missing segment) fails with ErrCorrupt, never a store
// that silently lost bindings.
func TestCorruptionIsReported(t *testing.T) {
	build := func(t *testing.T, compact bool) string {
		dir := t.TempDir()
		ctx := context.Background()
		w := open(t, dir, Options{SegmentBytes: 4096, CompactMinBytes: 1 << 40})
		for i := range 300 {
			if err := w.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("some binding value")); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		if compact {
			w = open(t, dir, Options{SegmentBytes: 4096, CompactMinBytes: 1})
			if err := w.maybeCompact(ctx); err != nil {
				t.Fatal(err)
			}
			if w.Stats().Compactions == 0 {
				t.Fatal("no compaction")
			}
			w.Close()
		}
		return dir
	}
	flip := func(t *testing.T, path string, off int64) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if off < 0 {
			off += int64(len(b))
		}
		b[off] ^= 0x40
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		compact bool
		damage  func(t *testing.T, dir string)
		atOpen  bool
	}{
		{"sealed segment record", false, func(t *testing.T, dir string) { flip(t, filepath.Join(dir, segmentName(1)), 100) }, true},
		{"sealed segment header", false, func(t *testing.T, dir string) { flip(t, filepath.Join(dir, segmentName(2)), 3) }, true},
		{"missing segment", false, func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, segmentName(2))) }, true},
		{"snapshot trailer", true, func(t *testing.T, dir string) { flip(t, filepath.Join(dir, snapshotPath(t, dir)), -2) }, true},
		{"snapshot record", true, func(t *testing.T, dir string) { flip(t, filepath.Join(dir, snapshotPath(t, dir)), 200) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := build(t, tt.compact)
			tt.damage(t, dir)
			w, err := Open(dir, testOpts)
			if tt.atOpen {
				if !errors.Is(err, ErrCorrupt) {
					if w != nil {
						w.Close()
					}
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.ForEach(func(_, _ []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ForEach = %v, want ErrCorrupt", err)
			}
		})
	}
}

func snapshotPath(t *testing.T, dir string) string {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if _, ok := parseName(e.Name(), "snap-", ".snap"); ok {
			return e.Name()
		}
	}
	t.Fatal("no snapshot")
	return ""
}

// dutyCycle keeps a busy loop to about its share of the time: at a half,
// the loop takes at least about twice its own running time.
func TestDutyCycle(t *testing.T) {
	d := newDutyCycle(0.5)
	start := time.Now()
	var busy time.Duration
	for range 8 * 1024 {
		s := time.Now()
		for time.Since(s) < 2*time.Microsecond {
		}
		busy += time.Since(s)
		d.tick()
	}
	if took := time.Since(start); took < busy*18/10 {
		t.Errorf("%v of work took %v, want at least ~%v", busy, took, 2*busy)
	}
}
