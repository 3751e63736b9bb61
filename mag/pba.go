package mag

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/magconfig"
)

// handlePBA processes a Proxy Binding Acknowledgement (RFC 5213 6.9.1.2).
func (e *Engine) handlePBA(m *mh.ProxyBindingAck) {
	at := e.clk.Now()
	u, measured := processUsage()
	e.mu.Lock()
	fx := e.handlePBALocked(m, at, u, measured)
	e.mu.Unlock()
	fx.run()
}

func (e *Engine) handlePBALocked(m *mh.ProxyBindingAck, at time.Time, u usage, measured bool) effects {
	id, hasID := mh.FirstOption[*mh.MobileNodeIdentifier](m.Options)
	b := e.inflight[m.Sequence]
	if b == nil && m.Status == mh.StatusSequenceOutOfWindow && hasID {
		// RFC 6275 11.7.1: this status carries the LMA's last accepted
		// sequence number, not ours; the MN-ID finds the entry.
		for _, c := range e.inflight {
			if sameMNID(c.mnid, id) {
				b = c
				break
			}
		}
	}
	if b == nil {
		// RFC 5213 6.9.1.2: a PBA that matches no PBU sent is ignored.
		e.stats.UnmatchedPBA++
		e.log.Debug("PBA matches no PBU in flight", "seq", m.Sequence, "status", m.Status)
		return nil
	}
	// RFC 5213 6.9.1.2 / 8.2: the PBA carries the P flag and, when
	// present, the MN-ID of the PBU it answers.
	if m.Flags&mh.BAFlagP == 0 || (hasID && !sameMNID(id, b.mnid)) {
		e.stats.UnmatchedPBA++
		e.log.Warn("PBA does not match its PBU (P flag or MN-ID), ignored", "binding", b, "seq", m.Sequence, "flags", m.Flags)
		return nil
	}
	// RFC 5213 5.3.6, 6.9.1.2: with timestamps in use the PBA echoes the
	// PBU's Timestamp, except that TIMESTAMP_MISMATCH carries the LMA's
	// own time; an answer to another PBU than the one in flight is
	// ignored.
	if ts, ok := mh.FirstOption[*mh.Timestamp](m.Options); ok && e.cfg.Timestamps &&
		m.Status != mh.StatusTimestampMismatch && ts.Value != b.ts {
		e.stats.UnmatchedPBA++
		e.log.Warn("PBA timestamp does not match its PBU, ignored", "binding", b, "seq", m.Sequence)
		return nil
	}
	if b.retx != nil {
		b.retx.Stop()
		b.retx = nil
	}
	delete(e.inflight, b.seq)
	b.inflight = false

	if b.state == stateDeregistering {
		e.deregistrationEndedLocked()
		e.log.Info("deregistration acknowledged", "binding", b, "status", m.Status)
		return nil
	}

	switch {
	case m.Status.Accepted():
		if m.Status != mh.StatusAccepted {
			// 1: prefix discovery is for mobile nodes; 2 and 3 are
			// GRE answers (RFC 5845 6.2) handled in acceptLocked.
			e.log.Info("PBA accepted with a note", "binding", b, "status", m.Status)
		}
		return e.acceptLocked(b, m, at, u, measured)

	case m.Status == mh.StatusSequenceOutOfWindow && !b.resynced:
		// RFC 6275 11.7.1: continue from the LMA's sequence number and
		// send again, once.
		e.log.Info("sequence number out of window, resynchronising", "binding", b, "lma_seq", m.Sequence)
		e.seq = m.Sequence
		return e.resendLocked(b)

	case m.Status == mh.StatusTimestampMismatch && !b.resynced:
		// RFC 5213 6.9.1.2 and 5.5: the PBA carries the LMA's current
		// time; the MAG may register again once its clock agrees with
		// the domain's. Without a clock to set, the MAG corrects its
		// timestamps by the offset and tries once more.
		ts, ok := mh.FirstOption[*mh.Timestamp](m.Options)
		if !ok {
			e.log.Warn("TIMESTAMP_MISMATCH without a Timestamp option: cannot resynchronise", "binding", b)
			return e.rejectLocked(b, m.Status)
		}
		e.tsOffset = ts.Time().Sub(e.clk.Now())
		e.log.Warn("timestamp mismatch: the LMA's clock differs from ours; correcting PBU timestamps (fix NTP)",
			"binding", b, "offset", e.tsOffset)
		return e.resendLocked(b)

	case m.Status == mh.StatusTimestampLowerThanPrevAccepted && !b.resynced:
		// RFC 5213 6.9.1.2: the MAG may register again to reassert the
		// mobile node's presence; the new PBU carries a fresh timestamp.
		e.log.Info("timestamp lower than previously accepted (another MAG's clock is ahead), registering again", "binding", b)
		return e.resendLocked(b)
	}
	return e.rejectLocked(b, m.Status)
}

// resendLocked sends b's PBU again at once, after a resynchronisation;
// only once per exchange, so two disagreeing peers cannot loop.
func (e *Engine) resendLocked(b *binding) effects {
	b.resynced = true
	b.timeout = e.cfg.InitialBindackTimeoutFirstReg
	e.transmitLocked(b, b.lifetime)
	e.armRetxLocked(b)
	return nil
}

// rejectLocked handles a refused registration (RFC 5213 6.9.1.2: the MAG
// must not serve the mobile node): it stops, tells the access side, and
// holds the client as rejected for RejectHoldoff.
func (e *Engine) rejectLocked(b *binding, status mh.Status) effects {
	e.stats.Rejected++
	hint := ""
	switch status {
	case mh.StatusGREKeyOptionRequired:
		hint = "the LMA requires GRE keys: set option tunnel 'gre'"
	case mh.StatusMAGNotAuthorizedForProxyReg:
		// RFC 5213 5.3.1: 154, the sending MAG is not authorized.
		hint = "the LMA does not accept this MAG: check its MAG list"
	case mh.StatusProxyRegNotEnabled:
		// RFC 5213 5.3.1: 152, the LMA has no policy profile for this
		// mobile node identifier (per client, not per MAG).
		hint = "the LMA has no policy for this mobile node identifier: check the identity or the LMA's policies"
	case mh.StatusNotLMAForThisMobileNode, mh.StatusNotAuthorizedForHomeNetworkPrefix,
		mh.StatusNotAuthorizedForIPv4MobilityService, mh.StatusNotAuthorizedForIPv4HomeAddress,
		mh.StatusNotAuthorizedForIPv6MobilityService:
		hint = "the client's policy at the LMA refuses it"
	case mh.StatusMissingHomeNetworkPrefixOption, mh.StatusMissingMNIdentifierOption,
		mh.StatusMissingHandoffIndicatorOption, mh.StatusMissingAccessTechTypeOption:
		hint = "the LMA found a required option missing: a MAG bug, please report"
	case mh.StatusInsufficientResources:
		hint = "the LMA's pools are exhausted"
	}
	e.log.Warn("registration rejected", "binding", b, "status", status, "code", uint8(status), "hint", hint)
	fx := e.dropLocked(b, dropWithdraw)
	// Keep it in the list as rejected so its retriggers are absorbed.
	e.clients[b.key] = b
	e.holdLocked(b)
	return fx
}

// acceptLocked applies an accepted PBA, read at at with the process's
// usage u (if measured): the LMA's grant becomes the binding, the data
// plane, and the client's RA and DHCP lease.
func (e *Engine) acceptLocked(b *binding, m *mh.ProxyBindingAck, at time.Time, u usage, measured bool) effects {
	now := e.clk.Now()
	lifetime := m.Lifetime
	if lifetime < MinLifetime {
		e.log.Warn("PBA accepted with a lifetime too short to serve", "binding", b, "lifetime", lifetime)
		return e.rejectLocked(b, m.Status)
	}
	// RFC 6275 11.7.3 (as RFC 5213 6.9.1.2 applies it): the granted
	// lifetime may be shorter than asked, never longer; honour the LMA's.
	if lifetime > b.lifetime {
		lifetime = b.lifetime
	}
	if lifetime < b.lifetime {
		e.log.Info("LMA granted a shorter lifetime", "binding", b, "asked", b.lifetime, "granted", lifetime)
	}

	// RFC 5213 6.9.1.2: the prefixes are exactly those of the PBA.
	var prefixes []netip.Prefix
	for _, h := range mh.OptionsOf[*mh.HomeNetworkPrefix](m.Options) {
		p := h.Prefix.Masked()
		if !p.Addr().Is6() || p.Bits() == 0 || p.Bits() > 64 || p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() {
			e.log.Warn("PBA carries an unusable home network prefix, skipped", "binding", b, "prefix", h.Prefix)
			continue
		}
		if !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
	}

	// RFC 5844 3.1.2 / 3.3.2: the IPv4 home address and, 3.3.3, the
	// default router the DHCP server hands out.
	var hoa netip.Prefix
	var router netip.Addr
	if rep, ok := mh.FirstOption[*mh.IPv4HomeAddressReply](m.Options); ok {
		dr, hasRouter := mh.FirstOption[*mh.IPv4DefaultRouterAddress](m.Options)
		switch {
		case rep.Status >= 128:
			e.log.Warn("LMA refused the IPv4 home address; IPv6 only", "binding", b, "status", rep.Status)
		case !rep.Prefix.Addr().Is4() || rep.Prefix.Addr().IsUnspecified() || rep.Prefix.Bits() == 0:
			e.log.Warn("PBA carries an unusable IPv4 home address", "binding", b, "hoa", rep.Prefix)
		case !hasRouter || !dr.Addr.Is4():
			e.log.Warn("PBA has an IPv4 home address but no default router (RFC 5844 3.3.3); not leased", "binding", b)
		default:
			hoa, router = rep.Prefix, dr.Addr
		}
	} else if b.policy.IPv4 {
		e.log.Warn("IPv4 home address requested but the PBA has no reply option", "binding", b)
	}
	if len(prefixes) == 0 && !hoa.IsValid() {
		e.log.Warn("PBA accepted but grants no usable home address", "binding", b)
		return e.rejectLocked(b, m.Status)
	}

	if e.cfg.Tunnel == magconfig.TunnelGRE {
		// RFC 5845 3.1: the PBA carries the key for uplink packets;
		// status 2 says the LMA does not want keys.
		if k, ok := mh.FirstOption[*mh.GREKey](m.Options); ok && k.HasKey && m.Status != mh.StatusGREKeyOptionNotRequired {
			b.greUp, b.greKeyed = k.Key, true
		} else {
			b.greUp, b.greKeyed = 0, false
			if m.Status != mh.StatusGREKeyOptionNotRequired {
				e.log.Warn("GRE key asked but the PBA has none; tunnelling without key (RFC 5845 3.1)", "binding", b)
			}
		}
		if b.table == 0 {
			b.table = e.freeTableLocked()
			e.tables[b.table] = b
		}
	}

	oldPrefixes := b.prefixes
	b.prefixes, b.hoa, b.router4 = prefixes, hoa, router
	b.granted, b.expires, b.accepted = lifetime, now.Add(lifetime), now
	first := b.state == stateRegistering
	if first {
		e.pending--
		b.state = stateRegistered
	}
	b.refresh = false
	e.stats.Accepted++
	e.armLifetimeLocked(b)
	if !first {
		fx := e.serveFx(b, oldPrefixes, nil)
		if e.log.Enabled(context.Background(), slog.LevelDebug) {
			name := b.String()
			fx = append(fx, func() { e.log.Debug("binding refreshed", "binding", name, "lifetime", lifetime) })
		}
		return fx
	}
	rep := &serveReport{trace: b.trace, atPBA: u, hasUsage: measured}
	rep.trace.pba = at
	fx := e.serveFx(b, oldPrefixes, rep)
	// Logged once the client is served, not under e.mu nor before the
	// data plane, the RA and the DHCP answer: a log write is a system
	// call, and on an AP its reader (logd) may be slow. The one line
	// carries the registration's steps (trace.go).
	name, hi, attachToPBA := b.String(), b.hi, now.Sub(b.attachAt)
	return append(fx, func() {
		if !e.log.Enabled(context.Background(), slog.LevelInfo) {
			return
		}
		served := e.clk.Now()
		args := []any{"binding", name, "prefixes", prefixes, "hoa", hoa,
			"lifetime", lifetime, "handoff", hi, "attach_to_pba", attachToPBA}
		e.log.Info("registration accepted, client served", append(args, rep.attrs(served)...)...)
	})
}

// serveFx: the data plane first, so that the client's first packets
// flow, then the client is served (RFC 5213 6.9.1.2: the MAG emulates the
// home link once the binding is accepted). rep, if not nil, is told what
// each step did and took; it is given for an initial registration only.
//
// The data plane is one Change of the client's objects in the order an
// existing flow needs them (dataplane.go sortOps): the on-link routes
// (downlink, RFC 5213 6.10.3) and the reverse-tunnel rules (uplink) in
// one netlink request, then the anti-spoof sources (RFC 5213 6.10.5) in
// one nftables transaction. Then, for an initial registration, the
// router is announced to the client at once, for IPv4 (the DHCP server's
// ARP request from the router for the client's address when no DHCP
// exchange waits, RFC 826: the client adds the router; for a new client
// LeaseReady answers its waiting DISCOVER or REQUEST instead) and IPv6
// (an unsolicited Neighbor Advertisement, RFC 4861 7.2.6): a client that
// moved here (Handoff Indicator 3) still has its addresses and needs no
// RA nor DHCP to send (RFC 5213 6.9.1.2, 6.10.5), only its router's
// link-layer address, which its kernel dropped while its link was down
// (docs/handover.md 8.4, 9); a new client ignores the NA. IPv4 first: a
// client that asks for its IPv6 router is answered by the MAG's kernel
// and learns it from the RA too, one that asks for its IPv4 router waits
// for the DHCP server's user-space ARP responder, and IPv4 came back
// last in 6 of 7 scenario 2 runs with the NA first (docs/handover.md
// 9). Then the RA (RFC 5213 6.7: promptly after the PBA). Announcements
// before the RA: each is one short frame, and the RA is what a new
// client waits for anyway.
func (e *Engine) serveFx(b *binding, oldPrefixes []netip.Prefix, rep *serveReport) effects {
	side, mac, key := b.link.side, b.mac, b.key
	prefixes := slices.Clone(b.prefixes)
	ll, lifetime, lease4 := b.linkLocal, b.granted, b.hoa.IsValid()
	probes := b.probes()
	initial := rep != nil
	return effects{
		func() {
			dp := e.syncClient(key)
			if rep != nil {
				rep.dp, rep.dpDone = dp, e.clk.Now()
			}
		},
		func() {
			var start time.Time
			if rep != nil {
				start = e.clk.Now()
			}
			// At an initial registration the announcements go in one
			// burst where the access side can: the DHCP server's ARP
			// request, the NA and the first RA in one write, back to
			// back, nothing built or logged between them (AnnouncingAdvertiser).
			burst, _ := side.RA.(AnnouncingAdvertiser)
			framer, _ := side.DHCP.(LeaseFramer)
			if !initial || len(prefixes) == 0 {
				burst = nil
			}
			var first [][]byte
			if side.DHCP != nil && lease4 {
				if burst != nil && framer != nil {
					if f := framer.LeaseReadyFrame(mac); f != nil {
						first = [][]byte{f}
					}
				} else {
					side.DHCP.LeaseReady(mac)
				}
			}
			if burst == nil && initial && side.RA != nil && len(prefixes) > 0 {
				if err := side.RA.AnnounceRouter(mac); err != nil {
					e.log.Warn("router not announced to the client (neighbor advertisement)", "mac", mac, "err", err)
				}
			}
			if side.RA != nil {
				switch {
				case burst != nil:
					if err := burst.ServeAnnounced(first, mac, ll, prefixes, lifetime); err != nil {
						e.log.Error("router announcements and advertisements not served", "mac", mac, "err", err)
					}
				case len(prefixes) > 0:
					if err := side.RA.Serve(mac, ll, prefixes, lifetime); err != nil {
						e.log.Error("router advertisements not served", "mac", mac, "err", err)
					}
				case len(oldPrefixes) > 0:
					side.RA.Withdraw(mac)
				}
			}
			if side.Sniff != nil {
				if err := side.Sniff.Registered(mac, probes...); err != nil {
					e.log.Warn("client not watched for silence", "mac", mac, "err", err)
				}
			}
			if rep != nil {
				rep.access = e.clk.Now().Sub(start)
			}
		},
	}
}

// freeTableLocked returns the lowest per-client GRE table not in use.
func (e *Engine) freeTableLocked() uint32 {
	for t := e.opts.GRETableBase; ; t++ {
		if _, used := e.tables[t]; !used {
			return t
		}
	}
}
