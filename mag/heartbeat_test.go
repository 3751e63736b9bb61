package mag

import (
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// nextHeartbeat returns the next message, which must be a heartbeat.
func (h *harness) nextHeartbeat() *mh.Heartbeat {
	h.t.Helper()
	m := h.next()
	hb, ok := m.(*mh.Heartbeat)
	if !ok {
		h.t.Fatalf("engine sent %v, want a heartbeat", m)
	}
	return hb
}

func hbResponse(req *mh.Heartbeat, counter uint32) *mh.Heartbeat {
	return &mh.Heartbeat{Flags: mh.HeartbeatResponse, Sequence: req.Sequence,
		Options: []mh.Option{&mh.RestartCounter{Counter: counter}}}
}

// RFC 5847 5.1, 5.2, 6: requests every HEARTBEAT_INTERVAL while the MAG
// has bindings; a changed restart counter means the LMA restarted, and
// every client is registered again.
func TestHeartbeatLMARestart(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	h.clk.Advance(time.Minute)
	h.quiet() // no bindings, no heartbeats

	h.register1(time.Hour)
	h.clk.Advance(time.Minute)
	req := h.nextHeartbeat()
	if req.Flags != 0 {
		t.Errorf("request flags %v, want none (RFC 5847 5.1)", req.Flags)
	}
	h.deliver(hbResponse(req, 1))
	h.quiet()
	h.clk.Advance(time.Minute)
	req2 := h.nextHeartbeat()
	if req2.Sequence != req.Sequence+1 {
		t.Errorf("sequence %d after %d", req2.Sequence, req.Sequence)
	}
	h.deliver(hbResponse(req2, 1)) // same counter: nothing
	h.quiet()

	h.clk.Advance(time.Minute)
	h.deliver(hbResponse(h.nextHeartbeat(), 2)) // the LMA restarted
	p := h.nextPBU()
	hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](p.Options)
	hnp, _ := mh.FirstOption[*mh.HomeNetworkPrefix](p.Options)
	if p.Lifetime != time.Hour || hi.HI != mh.HandoffStateNotChanged || hnp.Prefix != hnp1 {
		t.Errorf("re-registration after the restart: %v", p)
	}
	h.quiet()
	if s := h.e.Stats(); s.LMARestarts != 1 {
		t.Errorf("restarts %d", s.LMARestarts)
	}
	// An unsolicited response (U) with yet another counter: again.
	h.deliver(&mh.Heartbeat{Flags: mh.HeartbeatResponse | mh.HeartbeatUnsolicited, Sequence: 99,
		Options: []mh.Option{&mh.RestartCounter{Counter: 3}}})
	h.nextPBU()
	// A response that matches no request is ignored.
	h.deliver(hbResponse(&mh.Heartbeat{Sequence: 12345}, 4))
	h.quiet()
}

// RFC 5847 5: MISSING_HEARTBEATS_ALLOWED unanswered requests declare the
// LMA failed; when it answers again, every client is registered again.
func TestHeartbeatLMAFailure(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	h.register1(time.Hour)
	for range 3 {
		h.clk.Advance(time.Minute)
		h.nextHeartbeat() // unanswered
	}
	if s := h.e.Stats(); s.LMAFailures != 0 {
		t.Fatalf("declared failed after 2 misses")
	}
	h.clk.Advance(time.Minute)
	req := h.nextHeartbeat()
	if s := h.e.Stats(); s.LMAFailures != 1 {
		t.Fatalf("not declared failed after 3 misses: %+v", s)
	}
	h.deliver(hbResponse(req, 1))
	if p := h.nextPBU(); p.Lifetime != time.Hour {
		t.Errorf("recovery re-registration %v", p)
	}
}

// RFC 5847 5.1, 5.2: the LMA's requests are answered with R set, the same
// sequence number, and this MAG's restart counter, to the sender.
func TestHeartbeatAnswer(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	h.deliver(&mh.Heartbeat{Sequence: 4242})
	resp := h.nextHeartbeat()
	rc, ok := mh.FirstOption[*mh.RestartCounter](resp.Options)
	if resp.Flags != mh.HeartbeatResponse || resp.Sequence != 4242 || !ok || rc.Counter != 7 {
		t.Errorf("response %v", resp)
	}
}
