package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openpmip/pmip/lma/store"
)

func TestMemConformance(t *testing.T) {
	Conformance(t, func(t *testing.T) (store.Store, func() store.Store) {
		m := New()
		return m, func() store.Store { return m.Reopen() }
	})
}

func TestMemHoldAndFail(t *testing.T) {
	m := New()
	ctx := context.Background()
	release := m.Hold()
	done := make(chan error, 1)
	go func() { done <- m.Put(ctx, []byte("k"), []byte("v")) }()
	// A held write neither returns nor is visible; nothing else to wait
	// for, so give the goroutine a moment to block before checking.
	select {
	case err := <-done:
		t.Fatalf("Put returned %v while held", err)
	case <-time.After(20 * time.Millisecond):
	}
	if _, ok := m.Get("k"); ok {
		t.Fatal("held write visible")
	}
	lost := m.Reopen()
	if lost.Len() != 0 {
		t.Fatal("held write survived Reopen")
	}
	release()
	if err := <-done; !errors.Is(err, store.ErrClosed) {
		t.Fatalf("held Put on a reopened (crashed) store = %v, want ErrClosed", err)
	}

	m = New()
	boom := errors.New("disk on fire")
	m.Fail(boom)
	if err := m.Put(ctx, []byte("k"), nil); !errors.Is(err, boom) {
		t.Fatalf("Put after Fail = %v", err)
	}
	m.Fail(nil)
	if err := m.Put(ctx, []byte("k"), nil); err != nil {
		t.Fatal(err)
	}
	if p, d := m.Counts(); p != 1 || d != 0 {
		t.Fatalf("Counts() = %d, %d", p, d)
	}
}
