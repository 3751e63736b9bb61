package lma

import (
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// magState is what the LMA knows of a MAG's liveness (RFC 5847).
type magState struct {
	// restart is the MAG's last Restart Counter (RFC 5847 5.2).
	restart      uint32
	restartKnown bool
	// missed counts consecutive probes without a response; failed is set
	// once it exceeds MISSING_HEARTBEATS_ALLOWED (RFC 5847 5.3).
	missed      int
	failed      bool
	outstanding bool
	lastSeq     uint32
	lastHeard   time.Time
}

// handleHeartbeat answers requests and records responses (RFC 5847 5.1).
func (e *Engine) handleHeartbeat(p *packet, m *mh.Heartbeat) {
	mag := e.mags[p.from.Addr().Unmap().WithZone("")]
	if mag == nil {
		// Only configured MAGs are peers.
		e.stats.dropped.Add(1)
		return
	}
	e.stats.heartbeatsIn.Add(1)
	ms := e.magState[mag.Name]
	ms.lastHeard = e.clk.Now()
	if ms.failed {
		e.log.Info("lma: MAG answers heartbeats again", "mag", mag.Name)
	}
	ms.missed, ms.failed = 0, false
	if rc, ok := mh.FirstOption[*mh.RestartCounter](m.Options); ok {
		e.noteRestart(mag, ms, rc.Counter)
	}
	if m.Flags&mh.HeartbeatResponse == 0 {
		// RFC 5847 5.1: a request is answered with a response carrying
		// its Sequence Number; RFC 5847 5.2: with our Restart Counter.
		resp := &mh.Heartbeat{Flags: mh.HeartbeatResponse, Sequence: m.Sequence,
			Options: []mh.Option{&mh.RestartCounter{Counter: e.restarts}}}
		if data, err := mh.Marshal(resp); err == nil {
			e.stats.heartbeatsOut.Add(1)
			e.send(p.conn, p.from, data)
		}
		return
	}
	if m.Sequence == ms.lastSeq {
		ms.outstanding = false
	}
}

// noteRestart compares a MAG's Restart Counter with the last one seen. A
// change means the MAG restarted and lost its binding update list (RFC
// 5847 5.2): its sessions are gone on its side, so the LMA removes them
// rather than forward into a MAG that no longer knows the mobiles; the
// mobiles re-attach and the MAG registers them afresh.
func (e *Engine) noteRestart(mag *lmaconfig.MAG, ms *magState, counter uint32) {
	if ms.restartKnown && ms.restart != counter {
		e.stats.magRestarts.Add(1)
		e.log.Warn("lma: MAG restarted (RFC 5847 restart counter changed), removing its sessions",
			"mag", mag.Name, "old", ms.restart, "new", counter, "sessions", e.bc.perMAG[mag.Name])
		var gone []*binding
		for b := range e.bc.all {
			if e.bc.mag(b) == mag.Name {
				gone = append(gone, b)
			}
		}
		for _, b := range gone {
			e.remove(b, "MAG restarted")
		}
	}
	ms.restart, ms.restartKnown = counter, true
}

// scheduleHeartbeat arms the next probe round (RFC 5847 5.3:
// HEARTBEAT_INTERVAL; 0 turns probing off).
func (e *Engine) scheduleHeartbeat() {
	if e.hbTimer != nil {
		e.hbTimer.Stop()
		e.hbTimer = nil
	}
	if e.cfg.HeartbeatInterval <= 0 {
		return
	}
	e.hbTimer = e.clk.AfterFunc(e.cfg.HeartbeatInterval, func() { e.post(e.probe) })
}

// probe sends a Heartbeat request to every MAG with sessions and counts
// the previous round's unanswered requests (RFC 5847 5.3): past
// MISSING_HEARTBEATS_ALLOWED the MAG is declared failed and logged.
func (e *Engine) probe() {
	for i := range e.cfg.MAGs {
		mag := &e.cfg.MAGs[i]
		if e.bc.perMAG[mag.Name] == 0 {
			continue
		}
		ms := e.magState[mag.Name]
		if ms.outstanding {
			ms.missed++
			if ms.missed > e.cfg.MissingHeartbeatsAllowed && !ms.failed {
				ms.failed = true
				e.stats.heartbeatFailed.Add(1)
				e.log.Warn("lma: MAG does not answer heartbeats (RFC 5847 path failure)",
					"mag", mag.Name, "missed", ms.missed, "sessions", e.bc.perMAG[mag.Name])
			}
		}
		to, ok := e.magAddress(mag)
		if !ok {
			continue
		}
		conn, dst, ok := e.connFor(to)
		if !ok {
			continue
		}
		e.hbSeq++
		ms.lastSeq, ms.outstanding = e.hbSeq, true
		req := &mh.Heartbeat{Sequence: e.hbSeq}
		if data, err := mh.Marshal(req); err == nil {
			e.stats.heartbeatsOut.Add(1)
			e.send(conn, dst, data)
		}
	}
	e.scheduleHeartbeat()
}

// magAddress is the first configured address of the MAG that a socket
// of ours can reach.
func (e *Engine) magAddress(mag *lmaconfig.MAG) (netip.Addr, bool) {
	for _, x := range mag.Addresses {
		if _, _, ok := e.connFor(x); ok {
			return x, true
		}
	}
	return netip.Addr{}, false
}
