package lma

import (
	"fmt"
	"slices"
	"time"

	"github.com/openpmip/pmip/internal/clock"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// register creates a new mobility session: RFC 5213 5.3.2 (initial
// binding registration).
func (e *Engine) register(r *request) {
	g := &grant{}
	if len(r.hnpOpts) > 0 {
		if st := e.assignIPv6(r, g); st != 0 {
			e.reject(r, st)
			return
		}
	}
	if r.v4req != nil {
		if st := e.assignIPv4(r, g); st != 0 {
			e.undo(g)
			e.reject(r, st)
			return
		}
		if !g.hoa.IsValid() && len(g.hnps) == 0 {
			// IPv4 only and no address left: nothing to accept.
			e.undo(g)
			e.rejectV4(r, mh.StatusInsufficientResources, g.v4status)
			return
		}
	}
	if r.tunnel == lmaconfig.TunnelGRE {
		g.up, g.upSet = e.newUplinkKey(), true
	}
	now := e.clk.Now()
	b := e.bc.alloc()
	b.id = e.nextID
	e.bc.setMN(b, r.mn)
	b.policy = e.bc.intern(r.pol.Name)
	b.registered = now.UnixNano()
	e.nextID++
	e.fill(r, b, g, now)
	e.bc.add(b)
	e.armExpiry()
	e.dpTransition(nil, e.view(b))
	e.stats.created.Add(1)
	if e.debug() {
		e.log.Debug("lma: new mobility session", "binding", e.bc.describe(b), "hnps", e.bc.hnps(b), "hoa", b.hoa.prefix(), "tunnel", e.bc.tunnel(b), "lifetime", b.lifetime)
	}
	e.commit(r, b, g.v4status, nil, false)
}

// fill copies the PBU's view of the session into b (RFC 5213 5.1).
func (e *Engine) fill(r *request, b *binding, g *grant, now time.Time) {
	if !e.bc.llidIs(b, r.llid) {
		e.bc.setLLID(b, r.llid)
	}
	b.att = r.att
	b.mag = e.bc.intern(r.mag.Name)
	b.coa = packIP(r.coa)
	e.bc.setTunnel(b, r.tunnel)
	if g != nil {
		if len(g.hnps) > 0 {
			e.bc.setHNPs(b, g.hnps)
		}
		if g.hoa.IsValid() {
			b.hoa, b.v4router = packPfx(g.hoa), packIP(g.v4router)
		}
		if g.upSet {
			b.greUp, b.greUpSet = g.up, true
		}
	}
	if r.tunnel == lmaconfig.TunnelGRE && r.gre != nil {
		b.greDown, b.greDownSet = r.gre.Key, r.gre.HasKey
	} else {
		b.greDown, b.greDownSet = 0, false
	}
	if r.lla != nil && !r.lla.Addr.IsUnspecified() && !b.linkLocal.valid() {
		// RFC 5213 5.3.6, 6.9.1.2: the first link-local address
		// learnt is kept and given to later MAGs asking with ALL_ZERO.
		b.linkLocal = packIP(r.lla.Addr)
	}
	if r.ts != nil {
		b.timestamp = r.ts.Value
	}
	b.seq = r.pbu.Sequence
	b.lifetime = r.lifetime
	b.updated = now.UnixNano()
	b.state = stateActive
	e.bc.setDeadline(b, now.Add(r.lifetime))
}

// update refreshes or hands off an existing session: RFC 5213 5.3.3
// (lifetime extension, no handoff) and 5.3.4 (after handoff), also when
// the session was deregistered and waits out MinDelayBeforeBCEDelete
// (RFC 5213 5.3.5: a handoff may still claim it).
func (e *Engine) update(r *request, b *binding) {
	g := &grant{}
	// A session may gain the family it did not have: an IPv4 home
	// address requested on a refresh (RFC 5844 3.2.1), prefixes asked
	// for by a MAG of a dual-stack mobile.
	if len(r.hnpOpts) > 0 && b.nhnp == 0 {
		if st := e.assignIPv6(r, g); st != 0 {
			e.reject(r, st)
			return
		}
	}
	if r.v4req != nil {
		req := r.v4req.Prefix.Addr()
		switch {
		case b.hoa.valid() && !req.IsUnspecified() && req != b.hoa.a.addr():
			// RFC 5844 3.2.1: the session has another address: 171.
			e.undo(g)
			e.reject(r, mh.StatusNotAuthorizedForIPv4HomeAddress)
			return
		case !b.hoa.valid():
			if st := e.assignIPv4(r, g); st != 0 {
				e.undo(g)
				e.reject(r, st)
				return
			}
		}
	}
	if r.tunnel == lmaconfig.TunnelGRE && !b.greUpSet {
		g.up, g.upSet = e.newUplinkKey(), true
	}
	handoff := b.coa.addr() != r.coa
	wasDereg := b.state == stateDeregistered
	oldMAG, oldCoA := e.bc.mag(b), b.coa.addr()
	// What fill keeps of the session apart from a refresh record's
	// fields (record.go): the same interface, access technology, MAG and
	// link-local address, still active.
	sameSession := !wasDereg && e.bc.llidIs(b, r.llid) && b.att == r.att && oldMAG == r.mag.Name &&
		(r.lla == nil || r.lla.Addr.IsUnspecified() || b.linkLocal.valid())
	// A refresh (RFC 5213 5.3.3) changes nothing in the data plane:
	// skip building its view twice, the commonest PBU by far.
	var down uint32
	var downSet bool
	if r.tunnel == lmaconfig.TunnelGRE && r.gre != nil {
		down, downSet = r.gre.Key, r.gre.HasKey
	}
	dpSame := !handoff && e.bc.tunnel(b) == r.tunnel && b.greDown == down && b.greDownSet == downSet &&
		len(g.hnps) == 0 && !g.hoa.IsValid()
	var old *dpView
	if !dpSame {
		old = e.view(b)
	}
	// The indexes of what the session holds change only when it gains
	// prefixes, an address or an uplink key, or leaves GRE: a refresh
	// leaves them alone (two map deletes and inserts each at a million
	// entries were 8% of the LMA's CPU).
	leavesGRE := r.tunnel != lmaconfig.TunnelGRE && b.greUpSet
	resSame := len(g.hnps) == 0 && !g.hoa.IsValid() && !g.upSet && !leavesGRE
	if !resSame {
		e.bc.unindexResources(b)
	}
	if leavesGRE {
		b.greUp, b.greUpSet = 0, false // the session left GRE
	}
	now := e.clk.Now()
	e.bc.moveMAG(b, r.mag.Name)
	e.fill(r, b, g, now)
	if !resSame {
		e.bc.indexResources(b)
	}
	e.armExpiry()
	if !handoff {
		if !dpSame {
			e.dpTransition(old, e.view(b))
		}
		e.stats.refreshed.Add(1)
		if e.debug() {
			e.log.Debug("lma: refresh", "binding", e.bc.describe(b), "lifetime", b.lifetime)
		}
		e.commit(r, b, g.v4status, nil, dpSame && resSame && sameSession)
		return
	}
	// A handoff between MAGs (RFC 5213 5.3.4), in the order that opens
	// the new path soonest (handoff.go): the route switch into the new
	// MAG's tunnel first, the PBA once that and the binding's write are
	// done, then the revocation of the previous MAG; the anti-spoofing
	// sources and the old tunnel's cleanup follow the switch.
	e.stats.handoffs.Add(1)
	h := &handoffAck{e: e, conn: r.p.conn, from: r.p.from, recv: r.p.recv, silent: r.pbu.Flags&mh.BUFlagA == 0, decided: now}
	if !wasDereg {
		// RFC 5846 8.1: the LMA may tell the previous MAG that the
		// session moved, so that it stops serving the mobile; held
		// until the PBA has left.
		h.bri = e.revokeAtOldMAG(b, oldCoA, r)
	}
	if e.debug() {
		// Logged with the PBA (handoff.go), off the loop: a log write
		// here would hold up the store's submission of this write
		// behind the log's pipe.
		h.what = fmt.Sprintf("%s from %s, %v", e.bc.describe(b), oldMAG, r.hi)
		h.atDecision, h.atDecisionOK = processUsage()
	}
	e.dpSwitch(old, e.view(b), h.switched)
	h.issued = e.clk.Now()
	e.commit(r, b, g.v4status, h, false)
}

// deregister is RFC 5213 5.3.5.
func (e *Engine) deregister(r *request) {
	b, status := e.lookup(r)
	if status != 0 {
		e.reject(r, status)
		return
	}
	if b == nil {
		// Nothing to remove (the PBA of an earlier deregistration was
		// lost, or the session expired): acknowledged, nothing changes.
		e.stats.status(mh.StatusAccepted)
		e.reply(r, e.pba(r, mh.StatusAccepted, nil))
		return
	}
	if e.cfg.Timestamps && r.ts.Value < b.timestamp {
		e.reject(r, mh.StatusTimestampLowerThanPrevAccepted) // RFC 5213 5.5
		return
	}
	if !e.cfg.Timestamps && !seqNewer(r.pbu.Sequence, b.seq) && r.coa == b.coa.addr() {
		e.rejectSeq(r, b.seq) // RFC 6275 9.5.1
		return
	}
	if b.coa.addr() != r.coa {
		// RFC 5213 5.3.5: a deregistration from a MAG that no longer
		// serves the session (it arrived after the handoff) is
		// acknowledged and changes nothing.
		e.stats.status(mh.StatusAccepted)
		e.reply(r, e.pba(r, mh.StatusAccepted, nil))
		return
	}
	if b.state == stateDeregistered {
		// Retransmission: acknowledge again.
		e.stats.status(mh.StatusAccepted)
		e.reply(r, e.pba(r, mh.StatusAccepted, b))
		return
	}
	// RFC 5213 5.3.5: keep the entry MinDelayBeforeBCEDelete, so that the
	// new MAG's PBU of a handoff finds it, then delete it.
	now := e.clk.Now()
	b.state = stateDeregistered
	b.updated = now.UnixNano()
	if r.ts != nil {
		b.timestamp = r.ts.Value
	}
	b.seq = r.pbu.Sequence
	e.bc.setDeadline(b, now.Add(e.cfg.MinDelayBeforeBCEDelete))
	e.armExpiry()
	e.stats.deregs.Add(1)
	if e.debug() {
		e.log.Debug("lma: deregistration", "binding", e.bc.describe(b), "delete_in", e.cfg.MinDelayBeforeBCEDelete)
	}
	e.commit(r, b, 0, nil, false)
	// RFC 5213 5.4.1.3: a PBU waiting for this deregistration is a
	// handoff.
	e.unparkFor(b)
}

// commit persists b and sends the PBA once it is durable: a binding
// acknowledged as accepted survives a crash (issue 3, "Nothing lost").
// With h (a handoff), the PBA waits for the route switch as well: the
// writer sees it as silent and h sends it. refreshOnly says the PBU
// changed nothing but what a refresh record holds (writes.put).
func (e *Engine) commit(r *request, b *binding, v4 mh.IPv4HoAStatus, h *handoffAck, refreshOnly bool) {
	status := r.okStatus
	pba := e.loopPBA(r, status, b) // marshalled below, before anything else builds one
	if r.v4req != nil && !b.hoa.valid() {
		pba.Options = append(pba.Options, &mh.IPv4HomeAddressReply{Status: v4, Prefix: r.v4req.Prefix})
	}
	ack := pendingAck{conn: r.p.conn, from: r.p.from, recv: r.p.recv, id: b.id, silent: r.pbu.Flags&mh.BUFlagA == 0}
	// The PBA and a copy of the PBU (for the rejection if the write
	// fails) go into memory that lasts until the acknowledgement is
	// finished: the turn's reused buffer (writes.keep). The packet is the
	// receiver's again once this message is handled.
	var err error
	ack.data, ack.pbu, err = e.writes.keep(pba, r.p.data)
	if err != nil {
		e.log.Error("lma: marshalling a PBA", "err", err, "pba", pba)
		return
	}
	e.stats.status(status)
	if h != nil {
		// handoffAck sends the PBA, maybe after the turn's buffer is
		// reused: a copy of its own.
		h.data = slices.Clone(ack.data)
		ack.data, ack.silent, ack.handoff = nil, true, h
		e.writes.put(b, ack, false)
		return
	}
	e.writes.put(b, ack, refreshOnly)
}

// remove ends a session: routes, pool entries and the stored record go,
// and its slot in the cache is freed (b must not be used afterwards).
func (e *Engine) remove(b *binding, why string) {
	if e.bc.get(b.id) != b {
		return
	}
	if e.debug() {
		e.log.Debug("lma: binding removed", "binding", e.bc.describe(b).String(), "reason", why)
	}
	// A PBU parked on this session (RFC 5213 5.4.1.3) no longer waits
	// for it: its slot may hold another session soon.
	for _, pk := range e.parked {
		if pk.old == b {
			pk.old = nil
		}
	}
	old := e.view(b)
	id := b.id
	e.release(b)
	e.bc.remove(b)
	e.dpTransition(old, nil)
	e.writes.del(id)
	e.armExpiry()
}

// armExpiry keeps the one clock timer on the earliest deadline.
func (e *Engine) armExpiry() {
	next := e.bc.next()
	if next == nil {
		if e.expiry != nil {
			e.expiry.Stop()
			e.expiry = nil
		}
		return
	}
	// A timer due no later than the earliest deadline stays: if it
	// fires early, expire finds nothing due and arms the next one.
	// Refreshes move the earliest deadline later all the time (at
	// 50,000 refreshes a second, re-arming on each was a timer stopped
	// and one allocated per PBU); only an earlier one re-arms.
	if e.expiry != nil && !next.deadlineTime().Before(e.expiryAt) {
		return
	}
	if e.expiry != nil {
		e.expiry.Stop()
	}
	e.expiryAt = next.deadlineTime()
	var t clock.Timer
	t = e.clk.AfterFunc(e.expiryAt.Sub(e.clk.Now()), func() {
		e.post(func() {
			if e.expiry == t {
				e.expiry = nil
			}
			e.expire()
		})
	})
	e.expiry = t
}

// expire removes the sessions whose lifetime ran out (RFC 6275 9.5.2, RFC
// 5213 5.3.3: an entry not refreshed in time is deleted) and those
// deregistered MinDelayBeforeBCEDelete ago (RFC 5213 5.3.5).
func (e *Engine) expire() {
	now := e.clk.Now()
	for {
		b := e.bc.next()
		if b == nil || b.deadline > now.UnixNano() {
			break
		}
		if b.state == stateDeregistered {
			e.remove(b, "MinDelayBeforeBCEDelete elapsed after deregistration")
		} else {
			e.stats.expired.Add(1)
			e.remove(b, "lifetime expired")
		}
	}
	e.armExpiry()
}
