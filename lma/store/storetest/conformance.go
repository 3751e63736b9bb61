package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/openpmip/pmip/lma/store"
)

// Opener opens a fresh store for one conformance subtest. reopen, given
// after the first store was closed, opens the same state again, as a
// restarted process would.
type Opener func(t *testing.T) (s store.Store, reopen func() store.Store)

// Conformance checks the behaviour the engine relies on from any Store:
// the embedded WAL today, an etcd-backed one later.
func Conformance(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("PutOverwriteDelete", func(t *testing.T) {
		s, reopen := open(t)
		want := map[string]string{}
		for i := range 50 {
			k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
			mustOK(t, s.Put(ctx, []byte(k), []byte(v)))
			want[k] = v
		}
		mustOK(t, s.Put(ctx, []byte("k07"), []byte("again")))
		want["k07"] = "again"
		mustOK(t, s.Delete(ctx, []byte("k08")))
		delete(want, "k08")
		mustOK(t, s.Delete(ctx, []byte("absent")))
		mustOK(t, s.Put(ctx, []byte("empty"), nil))
		want["empty"] = ""
		check(t, s, want)
		mustOK(t, s.Close())
		s = reopen()
		defer s.Close()
		check(t, s, want)
	})
	t.Run("DoesNotKeepCallerBuffers", func(t *testing.T) {
		s, _ := open(t)
		defer s.Close()
		k, v := []byte("key"), []byte("value")
		mustOK(t, s.Put(ctx, k, v))
		copy(k, "XXX")
		copy(v, "XXXXX")
		check(t, s, map[string]string{"key": "value"})
	})
	t.Run("Invalid", func(t *testing.T) {
		s, _ := open(t)
		defer s.Close()
		for name, err := range map[string]error{
			"empty key":  s.Put(ctx, nil, []byte("v")),
			"long key":   s.Put(ctx, make([]byte, store.MaxKeySize+1), nil),
			"long value": s.Put(ctx, []byte("k"), make([]byte, store.MaxValueSize+1)),
			"delete nil": s.Delete(ctx, nil),
		} {
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		check(t, s, map[string]string{})
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s, _ := open(t)
		defer s.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, []byte("k"), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context = %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s, _ := open(t)
		defer s.Close()
		var wg sync.WaitGroup
		want := map[string]string{}
		for g := range 32 {
			for i := range 20 {
				want[fmt.Sprintf("g%d/%d", g, i)] = fmt.Sprint(g * i)
			}
			wg.Go(func() {
				for i := range 20 {
					if err := s.Put(ctx, fmt.Appendf(nil, "g%d/%d", g, i), fmt.Append(nil, g*i)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		check(t, s, want)
	})
	t.Run("ForEachStops", func(t *testing.T) {
		s, _ := open(t)
		defer s.Close()
		for i := range 5 {
			mustOK(t, s.Put(ctx, fmt.Appendf(nil, "k%d", i), nil))
		}
		stop := errors.New("stop")
		calls := 0
		err := s.ForEach(func(_, _ []byte) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("ForEach = %v after %d calls, want stop after 1", err, calls)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		s, _ := open(t)
		mustOK(t, s.Close())
		if err := s.Put(ctx, []byte("k"), nil); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Put after Close = %v", err)
		}
		if err := s.Delete(ctx, []byte("k")); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Delete after Close = %v", err)
		}
		if err := s.ForEach(func(_, _ []byte) error { return nil }); !errors.Is(err, store.ErrClosed) {
			t.Errorf("ForEach after Close = %v", err)
		}
	})
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, s store.Store, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	err := s.ForEach(func(k, v []byte) error {
		if _, dup := got[string(k)]; dup {
			return fmt.Errorf("key %q yielded twice", k)
		}
		got[string(k)] = string(bytes.Clone(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("ForEach yields %v, want %v", got, want)
	}
}
