package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// testOpts keeps preallocated segments small: the default 64 MiB would
// make every test write 128 MiB of zeros.
var testOpts = Options{SegmentBytes: 1 << 20}

func open(t testing.TB, dir string, opts Options) *WAL {
	t.Helper()
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// contents returns everything ForEach yields, failing on a key seen twice.
func contents(t testing.TB, s Store) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := s.ForEach(func(k, v []byte) error {
		if _, dup := got[string(k)]; dup {
			return fmt.Errorf("key %q yielded twice", k)
		}
		got[string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantContents(t testing.TB, s Store, want map[string]string) {
	t.Helper()
	got := contents(t, s)
	if !maps.Equal(got, want) {
		t.Fatalf("ForEach yields %d keys, want %d\ngot  %v\nwant %v", len(got), len(want), trim(got), trim(want))
	}
}

func trim(m map[string]string) string {
	if len(m) > 10 {
		return fmt.Sprintf("(%d entries)", len(m))
	}
	return fmt.Sprint(m)
}

func TestPutDeleteReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w := open(t, dir, testOpts)
	want := map[string]string{}
	for i := range 100 {
		k, v := fmt.Sprintf("mn-%03d", i), fmt.Sprintf("binding %d", i)
		if err := w.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	for i := 0; i < 100; i += 3 {
		k := fmt.Sprintf("mn-%03d", i)
		if err := w.Delete(ctx, []byte(k)); err != nil {
			t.Fatal(err)
		}
		delete(want, k)
	}
	if err := w.Put(ctx, []byte("mn-001"), []byte("moved")); err != nil {
		t.Fatal(err)
	}
	want["mn-001"] = "moved"
	if err := w.Delete(ctx, []byte("never-written")); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	if err := w.Put(ctx, []byte("empty-value"), nil); err != nil {
		t.Fatal(err)
	}
	want["empty-value"] = ""
	wantContents(t, w, want)
	if st := w.Stats(); st.Puts != 102 || st.Deletes != 35 {
		t.Fatalf("Stats() = %+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir, testOpts)
	defer w.Close()
	wantContents(t, w, want)
	// A second ForEach (no recovery index cached any more) agrees.
	wantContents(t, w, want)
}

func TestInvalidInput(t *testing.T) {
	w := open(t, t.TempDir(), testOpts)
	defer w.Close()
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"empty key", w.Put(ctx, nil, []byte("x"))},
		{"long key", w.Put(ctx, make([]byte, MaxKeySize+1), nil)},
		{"long value", w.Put(ctx, []byte("k"), make([]byte, MaxValueSize+1))},
		{"delete empty key", w.Delete(ctx, nil)},
	} {
		if !errors.Is(tt.err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, tt.err)
		}
	}
	// The largest accepted record round-trips.
	big := bytes.Repeat([]byte{0xa5}, MaxValueSize)
	if err := w.Put(ctx, bytes.Repeat([]byte("k"), MaxKeySize), big); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, w); len(got) != 1 || got[string(bytes.Repeat([]byte("k"), MaxKeySize))] != string(big) {
		t.Fatal("largest record did not round-trip")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Put(cctx, []byte("k"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v", err)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{
		{SegmentBytes: 100},
		{SegmentBytes: 2 << 30},
		{CompactRatio: -1},
		{CompactMinBytes: -1},
		{MaxBatchBytes: -1},
	} {
		if w, err := Open(t.TempDir(), o); err == nil {
			w.Close()
			t.Errorf("Open with %+v succeeded", o)
		}
	}
}

func TestCloseAndLock(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, testOpts)
	if w2, err := Open(dir, testOpts); err == nil {
		w2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Put(ctx, []byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	if err := w.ForEach(func(_, _ []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("ForEach after Close = %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	// The lock went with Close.
	open(t, dir, testOpts).Close()
}

func TestForEachStopsAtError(t *testing.T) {
	w := open(t, t.TempDir(), testOpts)
	defer w.Close()
	for i := range 10 {
		if err := w.Put(context.Background(), fmt.Appendf(nil, "k%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := w.ForEach(func(_, _ []byte) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("ForEach = %v after %d calls, want stop after 3", err, n)
	}
}

// TestGroupCommit checks that concurrent Puts share syncs.
func TestGroupCommit(t *testing.T) {
	w := open(t, t.TempDir(), testOpts)
	defer w.Close()
	const writers, each = 64, 50
	var wg sync.WaitGroup
	want := map[string]string{}
	for g := range writers {
		for i := range each {
			want[fmt.Sprintf("g%d-%d", g, i)] = fmt.Sprint(i)
		}
		wg.Go(func() {
			for i := range each {
				if err := w.Put(context.Background(), fmt.Appendf(nil, "g%d-%d", g, i), fmt.Append(nil, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := w.Stats()
	if st.Puts != writers*each {
		t.Fatalf("Puts = %d", st.Puts)
	}
	if st.Commits >= st.Puts/2 {
		t.Errorf("%d commits for %d concurrent Puts: syncs are not shared", st.Commits, st.Puts)
	}
	t.Logf("%d Puts in %d commits", st.Puts, st.Commits)
	wantContents(t, w, want)
}

// TestTornTail damages the end of the log as a crash during a write
// leaves it (a record cut short, garbage or zeros over it, a flipped bit,
// garbage after it): the store opens without the damaged record, keeps
// the rest, clears the damage and takes new writes after it.
func TestTornTail(t *testing.T) {
	for _, damage := range []string{"cut", "zeros", "flipped", "garbage-after", "truncated-file"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			w := open(t, dir, testOpts)
			for i := range 10 {
				if err := w.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("value")); err != nil {
					t.Fatal(err)
				}
			}
			end := w.activeSize
			w.Close()
			seg := filepath.Join(dir, segmentName(1))
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			recLen := int64(len(appendRecord(nil, kindPut, []byte("k9"), []byte("value"))))
			last := b[end-recLen : end]
			switch damage {
			case "cut": // the record's last bytes never reached the disk
				clear(last[recLen-3:])
			case "zeros": // a page of zeros over its body
				clear(last[recordHeader:])
			case "flipped":
				last[recLen-1] ^= 1
			case "garbage-after": // the next batch, half written
				copy(b[end:], "\x55\x01\x00\x00garbage that is not a record")
			case "truncated-file":
				b = b[:end-3]
			}
			if err := os.WriteFile(seg, b, 0o600); err != nil {
				t.Fatal(err)
			}
			w = open(t, dir, testOpts)
			want := map[string]string{}
			for i := range 10 {
				want[fmt.Sprintf("k%d", i)] = "value"
			}
			if damage != "garbage-after" {
				delete(want, "k9")
			}
			wantContents(t, w, want)
			if damage != "truncated-file" && w.Stats().RecoveredTornTail == 0 {
				t.Error("RecoveredTornTail = 0")
			}
			if err := w.Put(ctx, []byte("after"), []byte("crash")); err != nil {
				t.Fatal(err)
			}
			want["after"] = "crash"
			w.Close()
			w = open(t, dir, testOpts)
			defer w.Close()
			wantContents(t, w, want)
			if got := w.Stats().RecoveredTornTail; got != 0 {
				t.Errorf("second recovery cleared %d bytes: the first left damage behind", got)
			}
		})
	}
}

// TestTornSegmentHeader: the process died while creating a segment.
func TestTornSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, testOpts)
	if err := w.Put(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, segmentName(2)), []byte("PMIPW"), 0o600); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir, testOpts)
	defer w.Close()
	wantContents(t, w, map[string]string{"k": "v"})
	if err := w.Put(context.Background(), []byte("k2"), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	wantContents(t, w, map[string]string{"k": "v", "k2": "v2"})
}
