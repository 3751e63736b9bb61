package mag

import (
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/magconfig"
)

// effects are what a locked section decided to do once e.mu is released:
// calls into the access side and the data plane (see doc.go).
type effects []func()

func (fx effects) run() {
	for _, f := range fx {
		f()
	}
}

// nextSeqLocked returns a fresh sequence number not used by a PBU in
// flight (RFC 6275 6.1.7: the receiver matches the acknowledgement by it).
func (e *Engine) nextSeqLocked() uint16 {
	for {
		e.seq++
		if _, busy := e.inflight[e.seq]; !busy {
			return e.seq
		}
	}
}

// pbuLocked builds the Proxy Binding Update for b (RFC 5213 6.9.1.5) with
// the given lifetime: 0 deregisters (RFC 5213 6.9.1.4).
func (e *Engine) pbuLocked(b *binding, seq uint16, lifetime time.Duration, now time.Time) *mh.ProxyBindingUpdate {
	// RFC 5213 6.9.1.5: the A flag set (an acknowledgement is wanted) and
	// the P flag set (proxy registration, RFC 5213 8.1).
	m := &mh.ProxyBindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: lifetime}
	opts := []mh.Option{b.mnid} // RFC 5213 6.9.1.5: MN-ID option, always.

	if b.policy.IPv6 {
		// RFC 5213 6.9.1.1: one HNP option of ALL_ZERO asks the LMA to
		// assign the prefix; on re-registration and deregistration
		// (6.9.1.3, 6.9.1.4) each assigned prefix, so the LMA finds the
		// same mobility session.
		if len(b.prefixes) == 0 {
			opts = append(opts, &mh.HomeNetworkPrefix{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)})
		}
		for _, p := range b.prefixes {
			opts = append(opts, &mh.HomeNetworkPrefix{Prefix: p})
		}
	}

	// RFC 5213 6.9.1.1: the Handoff Indicator of the attachment on the
	// initial registration; 6.9.1.3: "Handoff state not changed" (5) when
	// extending the lifetime, as on deregistration of the same session.
	hi := b.hi
	if b.state != stateRegistering {
		hi = mh.HandoffStateNotChanged
	}
	opts = append(opts,
		&mh.HandoffIndicatorOption{HI: hi},
		// RFC 5213 6.9.1.5: Access Technology Type of the access link.
		&mh.AccessTechnologyTypeOption{ATT: mh.AccessTechnology(b.link.cfg.ATT)},
		// RFC 5213 6.9.1.5 / 8.6: the MAG knows the client's MAC.
		&mh.MobileNodeLinkLayerID{ID: b.mac},
	)
	if lifetime > 0 && b.state == stateRegistering {
		// RFC 5213 6.9.1.1 / 8.7: the link-local address the MAG uses
		// on the access link, the fixed one of every MAG of the domain
		// (RFC 5213 6.8, 6.9.3, RFC 6543), on the registration that
		// creates or moves the session.
		opts = append(opts, &mh.LinkLocalAddress{Addr: e.cfg.LinkLocalAddress})
	}
	if e.cfg.Timestamps {
		// RFC 5213 5.5, 6.9.1.5: the current time of day, corrected by
		// the offset learned from a TIMESTAMP_MISMATCH (6.9.1.2).
		opts = append(opts, mh.TimestampFromTime(now.Add(e.tsOffset)))
	}
	if b.policy.IPv4 {
		// RFC 5844 3.1.1: IPv4 Home Address Request, 0.0.0.0/0 to be
		// assigned one, or the address held (re-registration) or asked
		// for by the client's DHCP (3.1.1, the MAG may request the
		// address the mobile node asks for).
		req := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		switch {
		case b.hoa.IsValid():
			req = b.hoa
		case b.request4.IsValid():
			req = netip.PrefixFrom(b.request4, 32)
		}
		opts = append(opts, &mh.IPv4HomeAddressRequest{Prefix: req})
		// RFC 5844 3.1.1, 3.3.4: the DHCP server is collocated with the
		// MAG (S flag: server mode).
		opts = append(opts, &mh.IPv4DHCPSupportMode{Server: true})
	}
	if e.cfg.Tunnel == magconfig.TunnelGRE {
		// RFC 5845 3.1: the MAG gives the LMA the GRE key for downlink
		// packets of this session.
		opts = append(opts, &mh.GREKey{HasKey: true, Key: b.greDown})
	}
	if e.cfg.Transport == magconfig.TransportIPv4 {
		// RFC 5844 4: over an IPv4 transport network the PBU carries the
		// MAG's IPv4 Proxy Care-of Address.
		opts = append(opts, &mh.IPv4CareOfAddress{Addr: e.cfg.IPv4ProxyCoA})
	}
	m.Options = opts
	return m
}

// transmitLocked (re)builds and sends b's PBU with a fresh sequence number
// and timestamp: a retransmission reuses neither, since the LMA checks the
// timestamp against its clock (RFC 5213 5.5) and a stale one would be
// refused.
func (e *Engine) transmitLocked(b *binding, lifetime time.Duration) {
	now := e.clk.Now()
	if b.inflight {
		delete(e.inflight, b.seq)
	}
	b.seq = e.nextSeqLocked()
	b.lifetime = lifetime
	b.inflight = true
	e.inflight[b.seq] = b
	e.stats.PBUSent++
	m := e.pbuLocked(b, b.seq, lifetime, now)
	if ts, ok := mh.FirstOption[*mh.Timestamp](m.Options); ok {
		b.ts = ts.Value
	}
	if err := e.send(m); err != nil {
		// Counted as sent: the retransmission timer tries again.
		e.log.Warn("PBU not sent", "binding", b, "err", err)
	}
}

// startPBULocked sends the first PBU of an exchange (registration,
// refresh or deregistration) and arms retransmission (RFC 5213 6.9.4).
func (e *Engine) startPBULocked(b *binding, lifetime time.Duration) {
	if b.retx != nil {
		b.retx.Stop()
	}
	b.timeout = e.cfg.InitialBindackTimeoutFirstReg
	b.firstSent = e.clk.Now()
	b.resynced = false
	e.transmitLocked(b, lifetime)
	e.armRetxLocked(b)
}

func (e *Engine) armRetxLocked(b *binding) {
	gen, seq := b.gen, b.seq
	b.retx = e.clk.AfterFunc(b.timeout, func() { e.onBindackTimeout(b, gen, seq) })
}

// onBindackTimeout runs when no PBA answered within the timeout: RFC 5213
// 6.9.4 retransmits with the timeout doubled each time until it reaches
// MaxBindackTimeout. A registration or deregistration then gives up; a
// refresh, which the RFC lets continue at the slower rate indefinitely,
// goes on until the binding expires.
func (e *Engine) onBindackTimeout(b *binding, gen uint64, seq uint16) {
	e.mu.Lock()
	if e.closed || b.gen != gen || !b.inflight || b.seq != seq {
		e.mu.Unlock()
		return
	}
	var fx effects
	if b.timeout >= e.cfg.MaxBindackTimeout && !b.refresh {
		delete(e.inflight, b.seq)
		b.inflight = false
		e.stats.GaveUp++
		switch b.state {
		case stateRegistering:
			e.log.Warn("registration unanswered, giving up", "binding", b,
				"after", e.clk.Now().Sub(b.firstSent))
			fx = e.dropLocked(b, dropSilently)
		case stateDeregistering:
			e.deregistrationEndedLocked()
			e.log.Info("deregistration unanswered; the LMA expires the binding itself", "binding", b)
		}
		e.mu.Unlock()
		fx.run()
		return
	}
	b.timeout = min(2*b.timeout, e.cfg.MaxBindackTimeout)
	e.stats.Retransmissions++
	e.log.Debug("retransmitting PBU", "binding", b, "timeout", b.timeout)
	e.transmitLocked(b, b.lifetime)
	e.armRetxLocked(b)
	e.mu.Unlock()
}

// armLifetimeLocked schedules the refresh of an accepted binding at
// RefreshNum/RefreshDen of its lifetime (RFC 5213 6.9.1.3).
func (e *Engine) armLifetimeLocked(b *binding) {
	if b.timer != nil {
		b.timer.Stop()
	}
	gen := b.gen
	at := b.granted * RefreshNum / RefreshDen
	b.timer = e.clk.AfterFunc(at, func() { e.onRefreshDue(b, gen) })
}

func (e *Engine) onRefreshDue(b *binding, gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || b.gen != gen || b.state != stateRegistered {
		return
	}
	e.refreshLocked(b)
}

// refreshLocked re-registers an accepted binding with the same prefixes and
// address (RFC 5213 6.9.1.3), and arms its expiry in case no PBA comes.
func (e *Engine) refreshLocked(b *binding) {
	b.refresh = true
	e.startPBULocked(b, e.cfg.BindingLifetime)
	if b.timer != nil {
		b.timer.Stop()
	}
	gen := b.gen
	b.timer = e.clk.AfterFunc(b.expires.Sub(e.clk.Now()), func() { e.onExpired(b, gen) })
}

// onExpired: the binding ran out without an accepted refresh; the LMA has
// dropped it too (RFC 5213 5.3.x lifetime), so no deregistration is sent.
func (e *Engine) onExpired(b *binding, gen uint64) {
	e.mu.Lock()
	if e.closed || b.gen != gen || b.state != stateRegistered || e.clients[b.key] != b {
		e.mu.Unlock()
		return
	}
	e.stats.Expired++
	e.log.Warn("binding expired without an accepted refresh", "binding", b)
	fx := e.dropLocked(b, dropWithdraw)
	e.mu.Unlock()
	fx.run()
}

// dropHow says how the access side learns of a binding that ends.
type dropHow uint8

const (
	// dropSilently: the client left (or was never served): forget it.
	dropSilently dropHow = iota
	// dropWithdraw: the client may still listen: final RAs with zero
	// lifetimes (RFC 5213 6.12), DHCP no longer answered.
	dropWithdraw
	// dropRebind: the client registers again at once under another
	// identity: the access side keeps waiting for the new binding.
	dropRebind
)

// dropLocked removes b from the list without signalling and returns the
// effects that tear down its data plane and tell the access side.
func (e *Engine) dropLocked(b *binding, how dropHow) effects {
	wasServed := b.served()
	if e.clients[b.key] == b {
		delete(e.clients, b.key)
	}
	if b.state == stateRegistering {
		e.pending--
	}
	if b.inflight {
		delete(e.inflight, b.seq)
		b.inflight = false
	}
	b.stopTimers()
	if b.table != 0 {
		delete(e.tables, b.table)
	}
	b.state = stateDeregistering
	return e.accessGoneFx(b, wasServed, how)
}

// accessGoneFx tells b's access side that the binding is over, and updates
// the data plane if it was served.
func (e *Engine) accessGoneFx(b *binding, wasServed bool, how dropHow) effects {
	side, mac, key := b.link.side, b.mac, b.key
	var fx effects
	if wasServed {
		fx = append(fx, func() { e.syncClient(key) })
	}
	if how == dropRebind {
		return fx
	}
	fx = append(fx, func() {
		if side.RA != nil {
			if how == dropWithdraw && wasServed {
				side.RA.Withdraw(mac)
			} else {
				side.RA.Forget(mac)
			}
		}
		if side.DHCP != nil {
			side.DHCP.Forget(mac)
		}
		if side.Sniff != nil {
			side.Sniff.Forget(mac)
		}
	})
	return fx
}

// deregisterLocked ends b's binding: it leaves the list at once, the data
// plane and the access side are told, and a PBU with lifetime 0 (RFC 5213
// 6.9.1.4) goes to the LMA if the LMA may hold a binding for it,
// retransmitted as RFC 5213 6.9.4 says until a PBA or the give-up.
func (e *Engine) deregisterLocked(b *binding, how dropHow) effects {
	mayHold := b.state == stateRegistered || (b.state == stateRegistering && b.inflight)
	fx := e.dropLocked(b, how)
	if !mayHold {
		return fx
	}
	e.stats.Deregistrations++
	b.refresh = false
	e.startPBULocked(b, 0)
	return fx
}
