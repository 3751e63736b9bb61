package lma

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
)

// Binding revocation timers (RFC 5846 11, protocol configuration
// variables): the first retransmission after InitialBRITimeout, doubling,
// and at most BRIMaxRetransmissionNumber of them.
const (
	InitialBRITimeout          = 1 * time.Second
	BRIMaxRetransmissionNumber = 3
)

// revocation is a Binding Revocation Indication waiting for its
// acknowledgement (RFC 5846 7.1).
type revocation struct {
	seq     uint16
	conn    transport.Conn
	to      netip.AddrPort
	data    []byte
	tries   int
	timeout time.Duration
	timer   clock.Timer
	what    string
	// sent: the first transmission has gone (a held BRI waits for its
	// handoff's PBA, holdBRI).
	sent atomic.Bool
}

// sendBRI tells the MAG at coa that the session of mn with hnps is revoked
// (RFC 5846 6.1, 8.1: P flag for a proxy binding, the Mobile Node
// Identifier and the Home Network Prefix options identify it), and
// retransmits until a BRA arrives.
func (e *Engine) sendBRI(coa netip.Addr, trigger mh.RevocationTrigger, mn mnKey, hnps []netip.Prefix, what string) {
	rv := e.newBRI(coa, trigger, mn, hnps, what)
	if rv == nil {
		return
	}
	rv.sent.Store(true)
	e.transmitBRI(rv)
}

// holdBRI prepares the BRI of sendBRI and arms its retransmission timer,
// but sends nothing: releaseBRI sends it, from any goroutine. A handoff
// holds the revocation of the previous MAG until the new MAG's PBA has
// left (handoff.go). If it is never released (the PBA did not leave: the
// binding's write failed), the timer sends it as its first transmission.
func (e *Engine) holdBRI(coa netip.Addr, trigger mh.RevocationTrigger, mn mnKey, hnps []netip.Prefix, what string) *revocation {
	rv := e.newBRI(coa, trigger, mn, hnps, what)
	if rv == nil {
		return nil
	}
	e.armBRI(rv)
	return rv
}

// releaseBRI sends a held BRI, once (safe off the loop: what it reads was
// written on the loop before the handoff's PBA was handed on).
func (e *Engine) releaseBRI(rv *revocation) {
	if rv.sent.CompareAndSwap(false, true) {
		e.stats.brisSent.Add(1)
		e.send(rv.conn, rv.to, rv.data)
	}
}

// newBRI builds and registers a BRI awaiting its acknowledgement (RFC 5846
// 7.1), or returns nil if the MAG cannot be reached or it does not encode.
func (e *Engine) newBRI(coa netip.Addr, trigger mh.RevocationTrigger, mn mnKey, hnps []netip.Prefix, what string) *revocation {
	conn, to, ok := e.connFor(coa)
	if !ok {
		return nil
	}
	e.briSeq++
	for e.revokes[e.briSeq] != nil {
		e.briSeq++
	}
	bri := &mh.BindingRevocationIndication{Trigger: trigger, Sequence: e.briSeq, Flags: mh.RevocationProxy,
		Options: []mh.Option{mn.option()}}
	for _, p := range hnps {
		bri.Options = append(bri.Options, &mh.HomeNetworkPrefix{Prefix: p})
	}
	data, err := mh.Marshal(bri)
	if err != nil {
		e.log.Error("lma: marshalling a BRI", "err", err)
		return nil
	}
	rv := &revocation{seq: e.briSeq, conn: conn, to: to, data: data, timeout: InitialBRITimeout, what: what}
	e.revokes[rv.seq] = rv
	return rv
}

func (e *Engine) transmitBRI(rv *revocation) {
	e.stats.brisSent.Add(1)
	e.send(rv.conn, rv.to, rv.data)
	e.armBRI(rv)
}

// armBRI retransmits rv after its timeout unless acknowledged (RFC 5846
// 11: InitialBRITimeout, doubling, BRIMaxRetransmissionNumber times).
func (e *Engine) armBRI(rv *revocation) {
	rv.timer = e.clk.AfterFunc(rv.timeout, func() {
		e.post(func() {
			if e.revokes[rv.seq] != rv {
				return
			}
			if rv.sent.CompareAndSwap(false, true) {
				// Held and never released: this is its first
				// transmission.
				e.transmitBRI(rv)
				return
			}
			if rv.tries >= BRIMaxRetransmissionNumber {
				delete(e.revokes, rv.seq)
				e.log.Warn("lma: no Binding Revocation Acknowledgement", "to", rv.to, "what", rv.what, "tries", rv.tries+1)
				return
			}
			rv.tries++
			rv.timeout *= 2
			e.transmitBRI(rv)
		})
	})
}

// handleBRA ends the retransmission of the matching BRI (RFC 5846 7.2:
// same Sequence Number, from the peer the BRI went to).
func (e *Engine) handleBRA(p *packet, m *mh.BindingRevocationAck) {
	rv := e.revokes[m.Sequence]
	if rv == nil || rv.to.Addr() != p.from.Addr().Unmap().WithZone("") {
		e.stats.dropped.Add(1)
		return
	}
	e.stats.brasIn.Add(1)
	rv.timer.Stop()
	delete(e.revokes, m.Sequence)
	e.log.Info("lma: revocation acknowledged", "to", rv.to, "what", rv.what, "status", m.Status)
}

// revoke ends a session on the LMA's own decision and tells its MAG (RFC
// 5846 8.1).
func (e *Engine) revoke(b *binding, trigger mh.RevocationTrigger, why string) {
	e.stats.revoked.Add(1)
	if b.state == stateActive {
		e.sendBRI(b.coa.addr(), trigger, e.bc.mn(b), e.bc.hnps(b), e.bc.describe(b).String())
	}
	e.remove(b, why)
}

// revokeAtOldMAG prepares the revocation of a handoff's previous MAG: the
// session moved (RFC 5846 8.1, inter-MAG handover triggers), so that it
// stops serving the mobile at once instead of when its lifetime ends. The
// BRI is held until the new MAG's PBA has left (handoff.go): the
// revocation is housekeeping, the PBA opens the new path.
func (e *Engine) revokeAtOldMAG(b *binding, oldCoA netip.Addr, r *request) *revocation {
	trigger := mh.TriggerInterMAGUnknown
	switch r.hi {
	case mh.HandoffBetweenMAGsSameInterface:
		trigger = mh.TriggerInterMAGSameAccess
	case mh.HandoffBetweenInterfaces:
		trigger = mh.TriggerInterMAGDifferentAccess
	}
	return e.holdBRI(oldCoA, trigger, e.bc.mn(b), e.bc.hnps(b), e.bc.describe(b).String()+" (handoff)")
}
