package lma

import (
	"context"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// RFC 5213 5.5: a PBU's timestamp is checked against the LMA's clock when
// the PBU arrived, not when a busy loop got round to it: a PBU that was
// within TimestampValidityWindow on arrival is accepted even if it waited
// longer than the window in the LMA's queue.
//
//	ap1 ── PBU (timestamp t0) ──► LMA reads it at t0, loop busy until t0+1s
func TestTimestampCheckedAtArrival(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	window := h.cfg.TimestampValidityWindow
	// Hold the loop, as a burst of work would.
	busy, release := make(chan struct{}), make(chan struct{})
	go h.e.call(context.Background(), func() { close(busy); <-release })
	<-busy
	h.send(h.ap1, h.newPBU("alice@example.net"))
	// Wait until the receiver has read it (stamped its arrival) and
	// queued it for the loop.
	deadline := time.Now().Add(5 * time.Second)
	for len(h.e.events) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the PBU never reached the loop's queue")
		}
		time.Sleep(time.Millisecond)
	}
	h.clk.Advance(window + time.Second)
	close(release)
	a := h.pba(h.ap1)
	if a.Status != mh.StatusAccepted {
		t.Fatalf("PBU within the window on arrival, processed %v later: status %v, want accepted", window+time.Second, a.Status)
	}

	// A PBU whose timestamp was already outside the window on arrival is
	// still refused, and the PBA carries the LMA's time at arrival.
	late := h.newPBU("bob@example.net", replace(mh.TimestampFromTime(h.clk.Now().Add(-2*window))))
	h.send(h.ap1, late)
	a = h.pba(h.ap1)
	if a.Status != mh.StatusTimestampMismatch {
		t.Fatalf("stale timestamp: status %v, want %v", a.Status, mh.StatusTimestampMismatch)
	}
	if got := opt[*mh.Timestamp](t, a.Options).Time(); got.Sub(h.clk.Now()).Abs() > time.Millisecond {
		t.Errorf("TIMESTAMP_MISMATCH carries %v, want the LMA's time %v", got, h.clk.Now())
	}
}
