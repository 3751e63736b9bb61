package mag

import (
	"context"
	"errors"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/mag/hostapd"
)

// Identity before registration.
//
// On a WPA2-Enterprise BSS the client's first frames (its RS, its DAD
// probe, its DHCPDISCOVER) reach the MAG before hostapd's station event
// with the 802.1X identity: the event travels hostapd_cli -a, the action
// script, `hostapd_cli sta` and the hook socket. Registering at the first
// frame would register the client under the MAC-derived identifier, have
// the LMA refuse it (RFC 5213 5.3.1: 152, not authorized for this mobile
// node) or create a session under the wrong identity, and then register
// it again under its NAI. RFC 5213 6.9.1.1 has the MAG identify the
// mobile node before it registers it, so on an access link where hostapd
// reports stations a client heard first by its own frames waits up to
// Config.IdentityWait for hostapd:
//
//	RS / DAD / DHCP ──> hold (counts against MaxPendingClients)
//	                     │ hostapd Connected / Authorized: at once, with
//	                     │   the identity (none on a PSK network: the
//	                     │   MAC-derived identifier)
//	                     │ IdentityWait passed: the MAC-derived identifier
//	                     v
//	                 registration (one PBU)
//
// What hostapd reported stays known per station until it disconnects, so
// a station that registers again later (after a rejection's hold-off, a
// revocation, an expiry) does so under its identity at once.

// maxStations bounds the stations remembered from hostapd events: above
// hostapd's own default max_num_sta (2007) for one radio, twice.
const maxStations = 4096

// station is what hostapd reported of an associated station.
type station struct {
	identity string // 802.1X identity, "" if none (open, PSK)
	bss      string // hostapd interface it associated with
	// final: the identity is what it will be (hostapd_cli's
	// AP-STA-CONNECTED comes after 802.1X, ubus's sta-authorized too);
	// false after ubus's "assoc" only, which precedes 802.1X.
	final bool
}

// identityHold is a client waiting for its hostapd station event.
type identityHold struct {
	t     trigger // the first trigger, with the evidence of later ones
	since time.Time
	timer clock.Timer
}

// noteStationLocked records a hostapd station event.
func (e *Engine) noteStationLocked(ev hostapd.Event, final bool) {
	k := l2key(ev.MAC)
	if _, known := e.stations[k]; !known && len(e.stations) >= maxStations {
		e.stats.StationsNotRemembered++
		return
	}
	e.stations[k] = station{identity: ev.Identity, bss: ev.Interface, final: final}
}

// shouldWaitLocked reports whether trigger t, for a client with no
// binding, must first wait for hostapd's identity.
func (e *Engine) shouldWaitLocked(t trigger) bool {
	if e.cfg.IdentityWait <= 0 || t.src == fromStation || t.identity != "" {
		return false
	}
	if !t.link.cfg.Triggers.Hostapd || len(t.link.cfg.HostapdInterfaces) == 0 {
		return false // no hostapd reports clients of this link
	}
	if st, ok := e.stations[l2key(t.mac)]; ok && st.final {
		return false // hostapd has reported it: its identity is known
	}
	return e.cfg.IdentityMatters(t.mac)
}

// holdForIdentityLocked starts the wait of t's client for hostapd, and
// asks hostapd's control interface at once: the station's port is
// authorized before it can send the frame that triggered (on an 802.1X
// BSS), so hostapd usually knows the identity already; only its event
// is still on its way through the hook.
func (e *Engine) holdForIdentityLocked(t trigger, now time.Time) {
	k := l2key(t.mac)
	h := &identityHold{t: t, since: now}
	e.holds[k] = h
	e.stats.IdentityWaits++
	h.timer = e.clk.AfterFunc(e.cfg.IdentityWait, func() { e.onIdentityWaitOver(k, h) })
	if e.opts.StationQuery != nil {
		// One goroutine per waiting client: at most MaxPendingClients.
		go e.queryStation(e.ctx, k, h)
	}
}

// queryStation asks hostapd about a waiting client on each BSS of its
// link. An authorized station ends the wait as the hook's event would. A
// client that every BSS's hostapd says it does not know is no station of
// theirs: a station is in hostapd's table from its association on, before
// it can send the frame that was heard (IEEE 802.11 class 3 frames), so
// this is a host on a wired port bridged into the link, for which no
// event will come: it registers at once under the MAC-derived identifier.
// Anything else (associated but not yet authorized, no answer) leaves the
// wait to the event or the timeout.
func (e *Engine) queryStation(ctx context.Context, k macKey, h *identityHold) {
	ctx, cancel := context.WithTimeout(ctx, max(e.cfg.IdentityWait, time.Millisecond))
	defer cancel()
	l, mac := h.t.link, h.t.mac
	unknown := 0
	for _, bss := range l.cfg.HostapdInterfaces {
		st, err := e.opts.StationQuery(ctx, bss, mac)
		if err != nil {
			if errors.Is(err, hostapd.ErrNoStation) {
				unknown++
			}
			e.log.Debug("hostapd does not report the station", "mac", mac, "bss", bss, "err", err)
			continue
		}
		if !st.Authorized {
			return // its authorization, and the event, are still to come
		}
		ev := hostapd.Event{Kind: hostapd.Connected, Interface: bss, MAC: mac, Identity: st.Identity, Source: hostapd.SourceAction}
		if err := ev.Validate(); err != nil {
			e.log.Warn("hostapd's answer about a station dropped", "mac", mac, "bss", bss, "err", err)
			return
		}
		e.mu.Lock()
		waiting := e.holds[k] == h
		if waiting {
			e.stats.IdentityQueried++
		}
		e.mu.Unlock()
		if waiting {
			e.log.Debug("hostapd's control interface knows the station: wait over", "mac", mac, "bss", bss)
			e.stationAttach(ev, l)
		}
		return
	}
	if unknown == 0 || unknown < len(l.cfg.HostapdInterfaces) {
		return
	}
	e.mu.Lock()
	waiting := e.holds[k] == h
	if waiting {
		e.endHoldLocked(k)
		e.stats.IdentityNotStation++
	}
	e.mu.Unlock()
	if waiting {
		e.log.Debug("hostapd knows no such station: a wired host, registering without waiting", "mac", mac)
		e.attachTrigger(h.t, false)
	}
}

// onIdentityWaitOver: hostapd said nothing within IdentityWait; the
// client registers under the identifier the policy derives from its MAC.
func (e *Engine) onIdentityWaitOver(k macKey, h *identityHold) {
	e.mu.Lock()
	if e.closed || e.holds[k] != h {
		e.mu.Unlock()
		return
	}
	delete(e.holds, k)
	e.stats.IdentityWaitTimeouts++
	e.mu.Unlock()
	e.log.Info("no hostapd station event within identity_wait: registering under the MAC-derived identifier",
		"mac", h.t.mac, "source", h.t.src, "identity_wait", e.cfg.IdentityWait)
	e.attachTrigger(h.t, false)
}

// endHoldLocked ends k's wait, if any, and returns the trigger it held.
func (e *Engine) endHoldLocked(k macKey) (trigger, bool) {
	h := e.holds[k]
	if h == nil {
		return trigger{}, false
	}
	delete(e.holds, k)
	h.timer.Stop()
	return h.t, true
}

// mergeEvidence adds to t what the held trigger showed of the client
// (handoff evidence, RFC 5213 6.9.1.1; its link-local address).
func mergeEvidence(t, held trigger) trigger {
	if !t.linkLocal.IsValid() {
		t.linkLocal = held.linkLocal
	}
	if !t.global.IsValid() {
		t.global = held.global
	}
	if !t.requested4.IsValid() {
		t.requested4 = held.requested4
	}
	t.dhcpInitial = t.dhcpInitial || held.dhcpInitial
	t.fastReassoc = t.fastReassoc || held.fastReassoc
	return t
}
