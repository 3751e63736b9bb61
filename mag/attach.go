package mag

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/magconfig"
	"github.com/openpmip/pmip/mag/sniff"
)

// source is what told the engine about a client.
type source uint8

const (
	fromStation source = iota + 1 // hostapd association/authorization
	fromDHCP                      // DHCPDISCOVER / DHCPREQUEST
	fromRS                        // ICMPv6 Router Solicitation
	fromDAD                       // ICMPv6 DAD Neighbor Solicitation
)

func (s source) String() string {
	return [...]string{"", "station", "dhcp", "rs", "dad"}[s]
}

// trigger is one attach event, whatever its source.
type trigger struct {
	mac      net.HardwareAddr
	link     *link
	src      source
	identity string // 802.1X identity (hostapd), "" if none
	bss      string // hostapd interface (station events)
	// What the event shows of the client's past (handoff evidence,
	// RFC 5213 6.9.1.1):
	linkLocal   netip.Addr // its link-local address (RS source, DAD target)
	global      netip.Addr // a non-link-local address it probes by DAD
	requested4  netip.Addr // the IPv4 address it asks DHCP for
	dhcpInitial bool       // a DHCPDISCOVER without a requested address
	// fastReassoc: hostapd's monitor saw the station connect without
	// EAP at its BSS (an 802.11r FT or PMKSA-cache reassociation,
	// hostapd.HandoffHints): it was authenticated in this ESS a moment
	// ago, at another MAG.
	fastReassoc bool
	// seen and query: when hostapd's monitor read the event and how
	// long its identity query took (hostapd.Event), for the
	// registration's trace (trace.go).
	seen  time.Time
	query time.Duration
}

// handoffIndicator chooses the Handoff Indicator of an initial
// registration (RFC 5213 6.9.1.1, values of 8.4):
//
//   - the link layer says the station reassociated with keys from an
//     earlier authentication in this ESS (an 802.11r FT or PMKSA-cache
//     reassociation, no EAP at this BSS: hostapd.HandoffHints): it moved
//     here from another MAG on the same interface, 3 (8.4: "Handoff
//     between mobile access gateways for the same interface"). This is
//     the lower-layer information RFC 5213 9.1 (MaxDelayBeforeNewBCEAssign)
//     refers to: the LMA moves the session at once instead of waiting
//     for the old MAG's deregistration (5.4.1), and with no session it
//     simply creates one (docs/handover.md 5.3);
//   - the client shows an address configured earlier in the domain (a DAD
//     probe of a global address, a DHCP request for an address): it moved
//     here from another MAG on the same interface, 3, and the LMA keeps
//     its session and addresses (RFC 5213 5.4.1);
//   - a DHCPDISCOVER that asks for no address: a client with no past, a
//     new attachment, 1;
//   - anything else (an association, an RS, a link-local DAD): the MAG
//     cannot tell, 4, and the LMA decides (RFC 5213 5.4.1.x uses its
//     binding cache and MaxDelayBeforeNewBCEAssign).
func handoffIndicator(t trigger) mh.HandoffIndicator {
	switch {
	case t.fastReassoc, t.global.IsValid() || t.requested4.IsValid():
		return mh.HandoffBetweenMAGsSameInterface
	case t.dhcpInitial:
		return mh.HandoffNewInterface
	}
	return mh.HandoffStateUnknown
}

// OnStation handles a hostapd station event (mag/hostapd): association
// with the 802.1X identity attaches, disconnection detaches.
func (e *Engine) OnStation(ev hostapd.Event) {
	if err := ev.Validate(); err != nil {
		e.log.Warn("hostapd event dropped", "event", ev, "err", err)
		return
	}
	l := e.byHostapd[ev.Interface]
	if l == nil {
		e.log.Debug("station event on an interface no access link lists", "event", ev)
		return
	}
	k := l2key(ev.MAC)
	switch ev.Kind {
	case hostapd.Disconnected:
		e.mu.Lock()
		b := e.clients[k]
		stale := b != nil && b.bss != "" && b.bss != ev.Interface
		if st, ok := e.stations[k]; ok && st.bss != "" && st.bss != ev.Interface {
			stale = true
		}
		var held bool
		if !stale {
			delete(e.stations, k)
			_, held = e.endHoldLocked(k)
		}
		e.mu.Unlock()
		if stale {
			// A station that roamed between two BSSs of this MAG (two
			// radios of one AP) may be reported leaving the old one
			// after joining the new: that is not a detach.
			e.log.Info("station left a BSS it had already moved from; binding kept",
				"mac", ev.MAC, "left", ev.Interface)
			return
		}
		if held {
			// It left while waiting for its identity: nothing was
			// registered; its access side forgets it.
			e.log.Debug("station left before it registered", "mac", ev.MAC)
			e.forgetAccess(l, ev.MAC)
			return
		}
		e.detach(ev.MAC, "hostapd disconnect", dropSilently)
	case hostapd.Connected:
		if ev.Source == hostapd.SourceUbus {
			// ubus "assoc" comes before 802.1X: the identity, and the
			// authorization, arrive with "sta-authorized" (see
			// hostapd.Connected). A client heard meanwhile keeps
			// waiting for it.
			e.mu.Lock()
			e.noteStationLocked(ev, false)
			e.mu.Unlock()
			return
		}
		e.stationAttach(ev, l)
	case hostapd.Authorized:
		e.stationAttach(ev, l)
	}
}

// stationAttach attaches the station hostapd reported authorized: with
// its 802.1X identity if it has one, at once in any case (a PSK network
// has none: the MAC-derived identifier).
func (e *Engine) stationAttach(ev hostapd.Event, l *link) {
	e.mu.Lock()
	e.noteStationLocked(ev, true)
	e.mu.Unlock()
	e.attach(trigger{mac: ev.MAC, link: l, src: fromStation, identity: ev.Identity, bss: ev.Interface,
		fastReassoc: ev.FastReassoc && ev.Kind == hostapd.Connected, seen: ev.Seen, query: ev.Query})
}

// OnSniffAttach handles a trigger of mag/sniff (Config.OnAttach).
func (e *Engine) OnSniffAttach(t sniff.Trigger) {
	l := e.links[t.Interface]
	if l == nil {
		e.log.Debug("sniffed trigger on an unknown interface", "iface", t.Interface)
		return
	}
	tr := trigger{mac: t.MAC, link: l, linkLocal: t.LinkLocal, global: t.Address}
	switch t.Kind {
	case sniff.KindRouterSolicitation:
		if !l.cfg.Triggers.RS {
			return
		}
		tr.src = fromRS
	case sniff.KindDAD:
		if !l.cfg.Triggers.NS {
			return
		}
		tr.src = fromDAD
	case sniff.KindDHCPDiscover, sniff.KindDHCPRequest, sniff.KindDHCPServer:
		// The DHCP server reports the same clients with more detail
		// (OnClientSeen: the requested address, the handoff evidence of
		// RFC 5213 6.9.1.1); a sniffed DHCP frame attaches only where
		// the server does not run.
		e.mu.Lock()
		server := l.side.DHCP != nil
		e.mu.Unlock()
		if !l.cfg.Triggers.DHCP || server {
			return
		}
		tr.src = fromDHCP
	case sniff.KindStation:
		if !l.cfg.Triggers.Hostapd {
			return
		}
		tr.src = fromStation
	default:
		return
	}
	e.attach(tr)
}

// OnSniffDetach handles a client silent past the timeout (Config.OnDetach).
func (e *Engine) OnSniffDetach(d sniff.Detach) {
	e.detach(d.MAC, "silence", dropSilently)
}

// DHCPEngine returns the dhcpserver.Engine for the access link on iface,
// to configure that link's DHCP server with.
func (e *Engine) DHCPEngine(iface string) dhcpserver.Engine {
	return dhcpEngine{e: e, link: e.links[iface]}
}

type dhcpEngine struct {
	e    *Engine
	link *link
}

var _ dhcpserver.Engine = dhcpEngine{}

// Lookup implements dhcpserver.Engine: the lease is exactly the PBA's
// IPv4 home address, prefix length and default router (RFC 5844 3.4.1).
func (d dhcpEngine) Lookup(hw net.HardwareAddr) (dhcpserver.Lease, bool) {
	return d.e.Lookup(hw)
}

// OnClientSeen implements dhcpserver.Engine: a DHCP attach trigger.
func (d dhcpEngine) OnClientSeen(c dhcpserver.Client) {
	if d.link == nil || !d.link.cfg.Triggers.DHCP {
		return
	}
	d.e.attach(trigger{
		mac: c.HardwareAddr, link: d.link, src: fromDHCP,
		requested4:  c.Requested,
		dhcpInitial: c.MessageType == "DISCOVER" && !c.Requested.IsValid(),
	})
}

// OnRelease implements dhcpserver.Engine: a DHCPRELEASE (RFC 2131 4.4.6)
// of the home address ends the client's stay.
func (d dhcpEngine) OnRelease(hw net.HardwareAddr, addr netip.Addr) {
	d.e.mu.Lock()
	b := d.e.clients[l2key(hw)]
	ours := b != nil && b.hoa.IsValid() && b.hoa.Addr() == addr
	d.e.mu.Unlock()
	if !ours {
		d.e.log.Info("DHCPRELEASE of an address the client does not hold, ignored", "mac", hw, "addr", addr)
		return
	}
	d.e.detach(hw, "DHCP release", dropWithdraw)
}

// OnDecline implements dhcpserver.Engine: the client found its home
// address in use on the link (RFC 2131 4.4.1). The LMA assigned it, so
// the MAG can only report the conflict.
func (d dhcpEngine) OnDecline(hw net.HardwareAddr, addr netip.Addr) {
	d.e.log.Error("client declined its IPv4 home address: another host uses it on the access link",
		"mac", hw, "addr", addr)
}

// Lookup returns the DHCP lease of the client with MAC hw: the last
// accepted PBA's IPv4 home address, default router and remaining lifetime.
func (e *Engine) Lookup(hw net.HardwareAddr) (dhcpserver.Lease, bool) {
	if len(hw) != 6 {
		return dhcpserver.Lease{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.clients[macKey(hw)]
	if b == nil || !b.lease4() {
		return dhcpserver.Lease{}, false
	}
	return dhcpserver.Lease{Addr: b.hoa, Router: b.router4, Lifetime: b.expires.Sub(e.clk.Now())}, true
}

func l2key(hw net.HardwareAddr) macKey {
	var k macKey
	copy(k[:], hw)
	return k
}

// attach is where every trigger ends: one binding per MAC (issue 4, "one
// registration per client"), the identity from hostapd taking over the
// MN-ID whenever it arrives, and a bound on registrations in flight.
func (e *Engine) attach(t trigger) { e.attachTrigger(t, true) }

// attachTrigger is attach; fresh is false for a trigger that already
// waited for its identity (identity.go), which is neither counted again
// nor held again.
func (e *Engine) attachTrigger(t trigger, fresh bool) {
	if !l2.IsUnicastMAC(t.mac) {
		e.log.Debug("trigger from a non-unicast MAC dropped", "mac", t.mac)
		return
	}
	k := l2key(t.mac)
	e.mu.Lock()
	if fresh {
		e.stats.Triggers++
	}
	if e.closed || e.draining {
		e.mu.Unlock()
		return
	}
	attachAt := e.clk.Now()
	var waited time.Duration
	if t.src == fromStation {
		// hostapd reported the client: a wait for its identity ends
		// here (identity.go), with what the held trigger showed.
		if h := e.holds[k]; h != nil {
			e.endHoldLocked(k)
			t = mergeEvidence(t, h.t)
			waited = attachAt.Sub(h.since)
		}
	} else if st, ok := e.stations[k]; ok && st.final && t.identity == "" {
		// A station hostapd reported earlier registers again under the
		// identity it authenticated with.
		t.identity, t.bss = st.identity, st.bss
	}
	var fx effects
	if b := e.clients[k]; b != nil {
		fx = e.retriggerLocked(b, t)
		e.mu.Unlock()
		fx.run()
		return
	}
	if h := e.holds[k]; h != nil {
		// Already waiting for hostapd: one registration per client.
		h.t = mergeEvidence(h.t, t)
		e.stats.Deduplicated++
		e.mu.Unlock()
		return
	}
	pol := e.cfg.ClientPolicy(t.mac, t.identity)
	if !pol.Serve || (!pol.IPv4 && !pol.IPv6) {
		e.stats.NotServed++
		e.mu.Unlock()
		e.log.Debug("client not served by policy", "mac", t.mac, "source", t.src)
		e.forgetAccess(t.link, t.mac)
		return
	}
	if e.pending+len(e.holds) >= e.cfg.MaxPendingClients {
		// Issue 4, bad input: a flood of new MACs costs at most
		// MaxPendingClients bindings in flight or waiting.
		e.stats.DroppedPending++
		n := e.stats.DroppedPending
		e.mu.Unlock()
		if n&(n-1) == 0 {
			e.log.Warn("attach dropped: too many registrations in flight", "mac", t.mac,
				"max_pending", e.cfg.MaxPendingClients, "dropped", n)
		}
		e.forgetAccess(t.link, t.mac)
		return
	}
	if fresh && e.shouldWaitLocked(t) {
		// RFC 5213 6.9.1.1: the MAG identifies the mobile node before
		// it registers it; hostapd is about to tell who it is.
		e.holdForIdentityLocked(t, attachAt)
		e.mu.Unlock()
		e.log.Debug("client heard before hostapd reported it: waiting for its identity",
			"mac", t.mac, "source", t.src, "identity_wait", e.cfg.IdentityWait)
		return
	}
	mnid, err := mnidOf(pol)
	if err != nil {
		e.mu.Unlock()
		e.log.Error("client identifier unusable", "mac", t.mac, "err", err)
		return
	}
	b := &binding{
		key: k, mac: append(net.HardwareAddr(nil), t.mac...), link: t.link,
		identity: t.identity, bss: t.bss, policy: pol, mnid: mnid,
		hi: handoffIndicator(t), attachAt: attachAt,
		linkLocal: t.linkLocal, request4: t.requested4,
		trace: regTrace{seen: t.seen, query: t.query, attach: attachAt},
	}
	if e.cfg.Tunnel == magconfig.TunnelGRE {
		b.greDown = e.nextGREKeyLocked()
	}
	e.clients[k] = b
	e.pending++
	b.state = stateRegistering
	// RFC 5213 6.9.1.1: on detecting the attachment the MAG sends the
	// PBU; nothing is served before the PBA.
	e.startPBULocked(b, e.cfg.BindingLifetime)
	b.trace.pbu = e.clk.Now()
	e.mu.Unlock()
	if e.log.Enabled(context.Background(), slog.LevelInfo) {
		e.log.Info("client attached, registering", "binding", b, "source", t.src,
			"iface", t.link.cfg.Interface, "handoff", b.hi, "identity_wait", waited)
	}
}

// retriggerLocked handles a trigger for a MAC already in the list: it is
// deduplicated, except that a new 802.1X identity changes who the client
// is, a move to another access link of this MAG moves its service there,
// and the client's link-local address is learnt.
func (e *Engine) retriggerLocked(b *binding, t trigger) effects {
	if !b.linkLocal.IsValid() && t.linkLocal.IsValid() {
		b.linkLocal = t.linkLocal
	}
	if t.bss != "" {
		b.bss = t.bss
	}
	if t.fastReassoc && b.state == stateRegistering && b.hi != mh.HandoffBetweenMAGsSameInterface {
		// The station's own frames started the registration before
		// hostapd's event told of its fast reassociation: the
		// retransmissions carry what the MAG now knows (RFC 5213
		// 6.9.1.1), so the LMA need not wait MaxDelayBeforeNewBCEAssign.
		b.hi = mh.HandoffBetweenMAGsSameInterface
	}
	if t.identity != "" && t.identity != b.identity {
		pol := e.cfg.ClientPolicy(t.mac, t.identity)
		mnid, err := mnidOf(pol)
		if err == nil && !sameMNID(mnid, b.mnid) {
			// The identity hostapd reported after another trigger is
			// the client's NAI (issue 4): the binding made under the
			// MAC-derived identifier ends, and the client registers
			// under its own. The access side keeps waiting (a DHCP
			// transaction stays pending for the new PBA).
			e.log.Info("802.1X identity arrived: registering the client under it",
				"binding", b, "identity", t.identity)
			fx := e.deregisterLocked(b, dropRebind)
			e.stats.Triggers-- // attach counts it again
			return append(fx, func() { e.attach(t) })
		}
		b.identity = t.identity
	}
	if t.link != b.link {
		switch b.state {
		case stateRejected:
			// A rejected client that shows up on another link is
			// retried there at once.
			fx := e.dropLocked(b, dropSilently)
			e.stats.Triggers--
			return append(fx, func() { e.attach(t) })
		case stateRegistering:
			// Its PBU retransmissions now name the new link's access
			// technology.
			b.link = t.link
		case stateRegistered:
			// The client moved between two access links of this MAG:
			// its session, Proxy-CoA and tunnel are unchanged, so the
			// LMA need not hear of it; the service follows the client.
			e.log.Info("client moved to another access link of this MAG", "binding", b,
				"from", b.link.cfg.Interface, "to", t.link.cfg.Interface)
			fx := e.accessGoneFx(b, false, dropSilently)
			b.link = t.link
			return append(fx, e.serveFx(b, nil, nil)...)
		}
	}
	e.stats.Deduplicated++
	return nil
}

// forgetAccess tells a link's components to drop a client they reported.
func (e *Engine) forgetAccess(l *link, mac net.HardwareAddr) {
	e.mu.Lock()
	side := l.side
	e.mu.Unlock()
	if side.DHCP != nil {
		side.DHCP.Forget(mac)
	}
	if side.Sniff != nil {
		side.Sniff.Forget(mac)
	}
}

// detach ends a client's binding: deregistration (RFC 5213 6.9.1.4).
func (e *Engine) detach(mac net.HardwareAddr, why string, how dropHow) {
	if len(mac) != 6 {
		return
	}
	e.mu.Lock()
	b := e.clients[l2key(mac)]
	if b == nil {
		e.mu.Unlock()
		e.log.Debug("detach of an unknown client", "mac", mac, "why", why)
		return
	}
	e.log.Info("client detached, deregistering", "binding", b, "why", why)
	fx := e.deregisterLocked(b, how)
	e.mu.Unlock()
	fx.run()
}

// nextGREKeyLocked picks a downlink GRE key (RFC 5845 3.1) unique among
// the MAG's sessions, never 0.
func (e *Engine) nextGREKeyLocked() uint32 {
	for {
		e.greKey++
		if e.greKey == 0 {
			continue
		}
		used := false
		for _, b := range e.clients {
			if b.greDown == e.greKey {
				used = true
				break
			}
		}
		if !used {
			return e.greKey
		}
	}
}

// holdLocked keeps a rejected binding in the list for RejectHoldoff.
func (e *Engine) holdLocked(b *binding) {
	b.state = stateRejected
	b.holdUntil = e.clk.Now().Add(RejectHoldoff)
	gen := b.gen
	b.timer = e.clk.AfterFunc(RejectHoldoff, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if b.gen == gen && e.clients[b.key] == b {
			delete(e.clients, b.key)
		}
	})
}
