package lma

import (
	"sync/atomic"

	"github.com/openpmip/pmip/internal/mh"
)

// stats are the engine's counters, updated from any goroutine.
type stats struct {
	pbus, malformed, dropped, shed               atomic.Uint64
	byStatus                                     [256]atomic.Uint64
	created, refreshed, handoffs, deregs         atomic.Uint64
	expired, revoked                             atomic.Uint64
	dpErrors, storeErrors                        atomic.Uint64
	heartbeatsIn, heartbeatsOut, heartbeatFailed atomic.Uint64
	magRestarts, brisSent, brasIn                atomic.Uint64
	dpResyncs                                    atomic.Uint64
	bindingErrors, bindingErrorsLimited          atomic.Uint64
}

func newStats() *stats { return &stats{} }

func (s *stats) status(st mh.Status) { s.byStatus[st].Add(1) }

// Counters is a snapshot of the engine's counters, for Prometheus and
// pmipctl. Monotonic counts unless said otherwise.
type Counters struct {
	// PBUs received with the P flag.
	PBUs uint64
	// PBAsByStatus counts PBAs sent by status (RFC 5213 8.9); only the
	// statuses seen are present.
	PBAsByStatus map[mh.Status]uint64
	// Malformed messages silently dropped (RFC 6275 9.2), and other
	// messages dropped (not for an LMA, truncated).
	Malformed, Dropped uint64
	// Shed counts PBUs dropped unanswered because the store's write
	// backlog was full (overload; the MAGs retransmit).
	Shed uint64
	// Bindings is the number of Binding Cache entries now (a gauge).
	Bindings int
	// Session events.
	Created, Refreshed, Handoffs, Deregistrations, Expired, Revoked uint64
	// Failures of the data plane and of the store.
	DataplaneErrors, StoreErrors uint64
	// Heartbeat (RFC 5847) and revocation (RFC 5846) traffic.
	HeartbeatsReceived, HeartbeatsSent, HeartbeatFailures, MAGRestarts uint64
	BRIsSent, BRAsReceived                                             uint64
	// DataplaneResyncs counts the periodic whole data plane
	// resynchronisations started.
	DataplaneResyncs uint64
	// BindingErrors counts Binding Errors sent (RFC 6275 9.3.3: status 2,
	// unrecognized Mobility Header type); BindingErrorsLimited those not
	// sent because of the rate limit (RFC 6275 9.3.3).
	BindingErrors, BindingErrorsLimited uint64
}

func (s *stats) snapshot() Counters {
	c := Counters{
		PBUs:                 s.pbus.Load(),
		PBAsByStatus:         map[mh.Status]uint64{},
		Malformed:            s.malformed.Load(),
		Dropped:              s.dropped.Load(),
		Shed:                 s.shed.Load(),
		Created:              s.created.Load(),
		Refreshed:            s.refreshed.Load(),
		Handoffs:             s.handoffs.Load(),
		Deregistrations:      s.deregs.Load(),
		Expired:              s.expired.Load(),
		Revoked:              s.revoked.Load(),
		DataplaneErrors:      s.dpErrors.Load(),
		StoreErrors:          s.storeErrors.Load(),
		HeartbeatsReceived:   s.heartbeatsIn.Load(),
		HeartbeatsSent:       s.heartbeatsOut.Load(),
		HeartbeatFailures:    s.heartbeatFailed.Load(),
		MAGRestarts:          s.magRestarts.Load(),
		BRIsSent:             s.brisSent.Load(),
		BRAsReceived:         s.brasIn.Load(),
		DataplaneResyncs:     s.dpResyncs.Load(),
		BindingErrors:        s.bindingErrors.Load(),
		BindingErrorsLimited: s.bindingErrorsLimited.Load(),
	}
	for i := range s.byStatus {
		if n := s.byStatus[i].Load(); n > 0 {
			c.PBAsByStatus[mh.Status(i)] = n
		}
	}
	return c
}
