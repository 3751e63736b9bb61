package lma

import (
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// The loop decodes every message into one reused mh.Decoder; a request
// kept past its message must keep its own options. A PBU parked for
// MaxDelayBeforeNewBCEAssign (RFC 5213 5.4.1.3) while other PBUs are
// handled is answered, when the wait ends, with its own identifier,
// sequence number and timestamp (RFC 5213 5.3.6), not the last message's.
//
//	ap1: alice registered; ap2: alice, HI 4 (parked); ap1: bob registered;
//	MaxDelayBeforeNewBCEAssign later: ap2 gets alice's PBA
func TestParkedPBUKeepsItsOptions(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	parked := parkAliceThenRegisterBob(t, h)
	h.advance(h.cfg.MaxDelayBeforeNewBCEAssign)
	a := h.pba(h.ap2)
	checkAnswers(t, a, parked)
}

// The receiver reads every message into the same buffers, so a parked
// PBU keeps a copy of its bytes as well as of its options: when the wait
// ends with a failing store, its rejection (built from those bytes off
// the loop) carries its own identifier, sequence number and timestamp,
// not those of the PBU read into the buffer since.
//
//	ap1: alice registered; ap2: alice, HI 4 (parked); ap1: bob registered;
//	the store fails; MaxDelayBeforeNewBCEAssign later: ap2 gets 128 for alice
func TestParkedPBURefusedWithItsOwnBytes(t *testing.T) {
	h := newHarnessWith(t, testCfg(t, true, ""), true)
	parked := parkAliceThenRegisterBob(t, h)
	h.st.mu.Lock()
	h.st.fail = errDisk
	h.st.mu.Unlock()
	h.advance(h.cfg.MaxDelayBeforeNewBCEAssign)
	a := h.pba(h.ap2)
	if a.Status != mh.StatusReasonUnspecified {
		t.Fatalf("status %v with a failing store", a.Status)
	}
	checkAnswers(t, a, parked)
}

// parkAliceThenRegisterBob registers alice at ap1, parks her PBU from
// ap2 (Handoff Indicator 4: state unknown, RFC 5213 5.4.1.3) and returns
// it, then registers bob at ap1: a later message through the loop's
// Decoder and the receiver's buffers.
func parkAliceThenRegisterBob(t *testing.T, h *harness) *mh.ProxyBindingUpdate {
	t.Helper()
	h.register(h.ap1, h.newPBU("alice@example.net"))
	parked := h.newPBU("alice@example.net", hi(mh.HandoffStateUnknown))
	h.send(h.ap2, parked)
	h.nothing(h.ap2)
	h.advance(time.Millisecond)
	bob := h.newPBU("bob@example.net", replace(mh.TimestampFromTime(h.clk.Now())))
	if a := h.register(h.ap1, bob); a.Status != mh.StatusAccepted {
		t.Fatalf("bob: %v", a)
	}
	return parked
}

// When the store fails, each PBU of a batch is refused with a PBA built
// off the loop, after the Decoder has moved on and the receiver has read
// the next PBUs into the buffer this one was read into (each is sent once
// the last was handled, so each is read on its own): each carries its own
// PBU's identifier, sequence number and timestamp.
func TestStoreFailureAnswersEachPBU(t *testing.T) {
	h := newHarnessWith(t, testCfg(t, true, ""), true)
	sub := h.e.st.(*subStore)
	release := sub.hold() // the writes wait: the PBUs are all handled first
	h.st.mu.Lock()
	h.st.fail = errDisk
	h.st.mu.Unlock()
	var sent []*mh.ProxyBindingUpdate
	for _, n := range []string{"a@example.net", "b@example.net", "c@example.net"} {
		p := h.newPBU(n)
		sent = append(sent, p)
		h.send(h.ap1, p)
		h.handledAll()
	}
	release()
	for _, p := range sent {
		a := h.pba(h.ap1)
		if a.Status != mh.StatusReasonUnspecified {
			t.Fatalf("status %v with a failing store", a.Status)
		}
		checkAnswers(t, a, p)
	}
}

// checkAnswers checks that a answers p: sequence number, identifier and
// timestamp copied (RFC 5213 5.3.6).
func checkAnswers(t *testing.T, a *mh.ProxyBindingAck, p *mh.ProxyBindingUpdate) {
	t.Helper()
	want, _ := mh.FirstOption[*mh.MobileNodeIdentifier](p.Options)
	wantTS, _ := mh.FirstOption[*mh.Timestamp](p.Options)
	got := opt[*mh.MobileNodeIdentifier](t, a.Options)
	gotTS := opt[*mh.Timestamp](t, a.Options)
	if a.Sequence != p.Sequence || string(got.Identifier) != string(want.Identifier) || gotTS.Value != wantTS.Value {
		t.Errorf("PBA sequence %d, %q, timestamp %x; want the PBU's %d, %q, %x",
			a.Sequence, got.Identifier, gotTS.Value, p.Sequence, want.Identifier, wantTS.Value)
	}
}
