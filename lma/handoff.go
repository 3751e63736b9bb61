package lma

import (
	"net/netip"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/transport"
)

// handoffAck is the PBA of a handoff between MAGs, held until both
// conditions for its departure hold, whichever comes last:
//
//   - the binding's write is durable (issue 3, "Nothing lost": a session
//     acknowledged as accepted survives a crash), told by the writer
//     through its pendingAck on the store's goroutine;
//   - the downlink route of every home prefix and of the IPv4 home address
//     points into the new MAG's tunnel, the tunnel created first when it
//     is the MAG's first session (dpSwitch), told by the applier on its
//     goroutine.
//
// RFC 5213 5.3.4 (and 5.3.2 for a first tunnel): on accepting the PBU of
// a handoff the LMA establishes the tunnel to the new MAG if there is
// none, moves the mobile node's routes from the previous MAG's tunnel
// into it, and sends the PBA; RFC 5213 5.6.1 has the bi-directional
// tunnel in place for the MAG's first mobile node. Sent before the route,
// the PBA would let the new MAG serve a client whose downlink still went
// to the old MAG: the uplink flows at once (harmless), the downlink is
// lost until the route moves.
//
// Then the revocation of the previous MAG (RFC 5846 8.1: the LMA may send
// it a Binding Revocation Indication when the session has moved), which
// is housekeeping: it never goes before the PBA that opens the new path.
type handoffAck struct {
	e *Engine
	// The PBU's carrier and arrival, copied: the packet's memory is the
	// receiver's again once the loop has handled it.
	conn transport.Conn
	from netip.AddrPort
	recv time.Time
	data []byte // the PBA, in a buffer of its own
	// silent: accepted without the A flag, no PBA (RFC 6275 11.7.1).
	silent bool
	// bri is the previous MAG's revocation, held (holdBRI); nil if none
	// (the session was deregistered there already).
	bri *revocation

	// For the debug line: the handoff (binding, previous MAG, Handoff
	// Indicator) and its timeline on the engine's clock: decided (the
	// loop accepted it), issued (route switch queued, write in the
	// turn's batch; only with debug on).
	what            string
	decided, issued time.Time
	// atDecision is the process's CPU use at the decision (debug only;
	// ok false when not measured).
	atDecision   usage
	atDecisionOK bool

	mu         sync.Mutex
	isDurable  bool
	isSwitched bool
	durableAt  time.Time
	switchedAt time.Time
	dp         dpResult
}

// durable is the writer's news (finishAck): the binding is stored.
func (h *handoffAck) durable() {
	now := h.e.clk.Now()
	h.mu.Lock()
	h.isDurable, h.durableAt = true, now
	ready := h.isSwitched
	h.mu.Unlock()
	if ready {
		h.send(now)
	}
}

// switched is the applier's news: the route switch is applied. A failed
// switch still releases the PBA: the binding is accepted and durable, and
// the failure schedules a whole-state resynchronisation that puts the
// routes in (tunnels.go); refusing the PBA now would leave the stored
// session at the new MAG anyway.
func (h *handoffAck) switched(r dpResult) {
	now := h.e.clk.Now()
	h.mu.Lock()
	h.isSwitched, h.switchedAt, h.dp = true, now, r
	ready := h.isDurable
	h.mu.Unlock()
	if ready {
		h.send(now)
	}
}

// send releases the PBA, then the held revocation (once: exactly one of
// durable and switched sees the other done).
func (h *handoffAck) send(now time.Time) {
	e := h.e
	if !h.silent {
		e.send(h.conn, h.from, h.data)
	}
	e.observeLatency(h.recv)
	if h.bri != nil {
		e.releaseBRI(h.bri)
	}
	if e.debug() {
		// From the PBU's arrival (its decision when injected without one).
		base := h.recv
		if base.IsZero() {
			base = h.decided
		}
		since := func(t time.Time) time.Duration { return t.Sub(base) }
		args := []any{"handoff", h.what,
			"to", h.from, "decided", since(h.decided), "issued", since(h.issued), "durable", since(h.durableAt),
			"switch_start", since(h.switchedAt.Add(-h.dp.took)), "route_switched", since(h.switchedAt),
			"switch_ops", h.dp.ops, "switch_took", h.dp.took, "switch_err", h.dp.err,
			"pba_sent", since(now), "bri_sent", h.bri != nil}
		if u, ok := processUsage(); ok && h.atDecisionOK {
			// What the process computed between the decision and the
			// PBA, and how often a thread of it was made to wait for
			// a CPU: the rest of that time it waited.
			args = append(args, "cpu", u.cpu-h.atDecision.cpu, "preempted", u.preempted-h.atDecision.preempted)
		}
		e.log.Debug("lma: handoff acknowledged", args...)
	}
}

// usage is a process's CPU time and involuntary context switches so far
// (processUsage).
type usage struct {
	cpu       time.Duration
	preempted int64
}
