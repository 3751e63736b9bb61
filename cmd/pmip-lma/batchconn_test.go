package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// Test topology: writers on a batchConn over one end of an in-memory
// pair, a reader on the other.
//
//	8 writers ─WriteTo─► batchConn(lma) ══transporttest══► mag ─ReadFrom─► test
func TestBatchConn(t *testing.T) {
	lmaEnd, magEnd := transporttest.Pipe("[2001:db8::1]:0", "[2001:db8::2]:0")
	b := newBatchConn(lmaEnd, discardLogger())
	to := netip.MustParseAddrPort("[2001:db8::2]:0")
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for i := range each {
				n := copy(buf, fmt.Sprintf("%d/%d", w, i))
				if err := b.WriteTo(buf[:n], to); err != nil {
					t.Error(err)
					return
				}
				clear(buf) // the caller may reuse its buffer at once
			}
		}()
	}
	got := map[string]bool{}
	last := make([]int, writers)
	for i := range last {
		last[i] = -1
	}
	buf := make([]byte, transport.MaxMessageLen)
	for range writers * each {
		n, from, err := magEnd.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.Addr() != netip.MustParseAddr("2001:db8::1") {
			t.Fatalf("from %v", from)
		}
		var w, i int
		if _, err := fmt.Sscanf(string(buf[:n]), "%d/%d", &w, &i); err != nil {
			t.Fatalf("message %q: %v", buf[:n], err)
		}
		// One writer's messages keep their order.
		if i != last[w]+1 {
			t.Errorf("writer %d: message %d after %d", w, i, last[w])
		}
		last[w] = i
		got[string(buf[:n])] = true
	}
	wg.Wait()
	if len(got) != writers*each {
		t.Errorf("%d distinct messages, want %d", len(got), writers*each)
	}
	if err := b.WriteTo(make([]byte, transport.MaxMessageLen+1), to); !errors.Is(err, transport.ErrMessageTooLong) {
		t.Errorf("oversized write: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteTo([]byte("late"), to); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
