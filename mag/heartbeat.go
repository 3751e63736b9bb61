package mag

import (
	"net/netip"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/mh"
)

// heartbeatState is the RFC 5847 failure detection towards the LMA.
type heartbeatState struct {
	timer       clock.Timer
	seq         uint32 // of the last request sent
	outstanding bool   // the last request has not been answered
	missed      int    // consecutive requests unanswered
	down        bool   // declared failed: MISSING_HEARTBEATS_ALLOWED missed
	counter     uint32 // the LMA's restart counter (RFC 5847 5.2)
	known       bool   // counter has been seen
}

func (e *Engine) startHeartbeat() {
	if e.cfg.HeartbeatInterval <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hb.seq = e.rnd.Uint32()
	e.armHeartbeatLocked()
}

func (e *Engine) armHeartbeatLocked() {
	e.hb.timer = e.clk.AfterFunc(e.cfg.HeartbeatInterval, e.onHeartbeatInterval)
}

// onHeartbeatInterval runs every HEARTBEAT_INTERVAL (RFC 5847 5): it
// counts an unanswered request as missed, declares the LMA failed after
// MISSING_HEARTBEATS_ALLOWED of them, and sends the next request while
// the MAG has bindings with the LMA (RFC 5847 3: heartbeats watch peers
// that share mobility sessions).
func (e *Engine) onHeartbeatInterval() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if e.hb.outstanding {
		e.hb.missed++
		if e.hb.missed >= e.cfg.MissingHeartbeatsAllowed && !e.hb.down {
			e.hb.down = true
			e.stats.LMAFailures++
			e.log.Error("LMA unreachable: heartbeats unanswered", "lma", e.lma, "missed", e.hb.missed)
		}
	}
	if len(e.clients) > 0 || e.hb.down {
		e.hb.seq++
		e.hb.outstanding = true
		e.stats.HeartbeatsSent++
		// RFC 5847 5.1: a request has neither R nor U set.
		if err := e.send(&mh.Heartbeat{Sequence: e.hb.seq}); err != nil {
			e.log.Warn("heartbeat not sent", "err", err)
		}
	} else {
		e.hb.outstanding, e.hb.missed = false, 0
	}
	e.armHeartbeatLocked()
}

// handleHeartbeat answers the LMA's requests and reads its responses
// (RFC 5847 5.1, 5.2, 6).
func (e *Engine) handleHeartbeat(m *mh.Heartbeat, from netip.AddrPort) {
	if m.Flags&mh.HeartbeatResponse == 0 {
		// RFC 5847 5.1: a response echoes the request's sequence
		// number; 5.2: it carries our restart counter.
		resp := &mh.Heartbeat{Flags: mh.HeartbeatResponse, Sequence: m.Sequence,
			Options: []mh.Option{&mh.RestartCounter{Counter: e.opts.RestartCounter}}}
		b, err := mh.Marshal(resp)
		if err == nil {
			err = e.conn.WriteTo(b, from)
		}
		e.count(func(s *Stats) { s.HeartbeatsAnswer++ })
		if err != nil {
			e.log.Warn("heartbeat response not sent", "err", err)
		}
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	unsolicited := m.Flags&mh.HeartbeatUnsolicited != 0
	if !unsolicited && (!e.hb.outstanding || m.Sequence != e.hb.seq) {
		// RFC 5847 5.1: a response must match the request.
		e.log.Debug("heartbeat response matches no request", "seq", m.Sequence)
		return
	}
	if !unsolicited {
		e.hb.outstanding, e.hb.missed = false, 0
	}
	restarted := false
	if rc, ok := mh.FirstOption[*mh.RestartCounter](m.Options); ok {
		// RFC 5847 5.2, 6: a changed restart counter means the LMA
		// restarted and lost its bindings.
		if e.hb.known && rc.Counter != e.hb.counter {
			restarted = true
			e.stats.LMARestarts++
			e.log.Warn("LMA restarted (restart counter changed)", "old", e.hb.counter, "new", rc.Counter)
		}
		e.hb.counter, e.hb.known = rc.Counter, true
	}
	recovered := e.hb.down
	if recovered {
		e.hb.down = false
		e.log.Warn("LMA reachable again", "lma", e.lma)
	}
	if restarted || recovered {
		// RFC 5847 6: the MAG re-establishes the bindings the LMA may
		// have lost: every accepted binding is registered again.
		e.reregisterAllLocked()
	}
}

// reregisterAllLocked refreshes every accepted binding at once.
func (e *Engine) reregisterAllLocked() {
	n := 0
	for _, b := range e.clients {
		if b.state == stateRegistered {
			e.refreshLocked(b)
			n++
		}
	}
	e.log.Info("re-registering every client", "count", n)
}
