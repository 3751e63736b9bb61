package mag

import (
	"net/netip"
	"slices"

	"github.com/openpmip/pmip/internal/mh"
)

// handleBRI processes a Binding Revocation Indication from the LMA (RFC
// 5846 8.2, the MAG's side): it tears the named bindings down locally,
// without a deregistration PBU (the LMA has already removed them), tells
// the access side, and answers with a Binding Revocation Acknowledgement.
func (e *Engine) handleBRI(m *mh.BindingRevocationIndication, from netip.AddrPort) {
	e.mu.Lock()
	status, fx := e.revokeLocked(m)
	e.stats.Revocations++
	e.mu.Unlock()

	// RFC 5846 6.2, 8.2: the BRA echoes the sequence number and the P, V
	// and G flags, and the MN-ID option that identified the binding.
	bra := &mh.BindingRevocationAck{Status: status, Sequence: m.Sequence, Flags: m.Flags}
	if id, ok := mh.FirstOption[*mh.MobileNodeIdentifier](m.Options); ok {
		bra.Options = []mh.Option{id}
	}
	if b, err := mh.Marshal(bra); err != nil {
		e.log.Error("BRA not built", "err", err)
	} else if err := e.conn.WriteTo(b, from); err != nil {
		e.log.Warn("BRA not sent", "err", err)
	}
	fx.run()
}

func (e *Engine) revokeLocked(m *mh.BindingRevocationIndication) (mh.RevocationStatus, effects) {
	// RFC 5846 6.1: a revocation of proxy bindings has the P flag set.
	if m.Flags&mh.RevocationProxy == 0 {
		e.log.Warn("BRI without the P flag: not a proxy binding revocation", "bri", m)
		return mh.RevocationCannotIdentifyBinding, nil
	}
	how := dropWithdraw
	hold := true
	switch m.Trigger {
	case mh.TriggerInterMAGSameAccess, mh.TriggerInterMAGDifferentAccess, mh.TriggerInterMAGUnknown:
		// RFC 5846 8.2 / RFC 5213 5.3.x: the client moved to another
		// MAG; it is no longer here to hear final RAs.
		how, hold = dropSilently, false
	case mh.TriggerOutOfSyncBCE:
		hold = false // the client may register again at once
	}
	var victims []*binding
	if m.Flags&mh.RevocationGlobal != 0 {
		// RFC 5846 6.1: G, every binding the MAG has with this LMA.
		for _, b := range e.clients {
			if b.state == stateRegistered || b.state == stateRegistering {
				victims = append(victims, b)
			}
		}
		e.log.Warn("global binding revocation by the LMA", "trigger", m.Trigger, "bindings", len(victims))
	} else {
		id, ok := mh.FirstOption[*mh.MobileNodeIdentifier](m.Options)
		if !ok {
			return mh.RevocationCannotIdentifyBinding, nil
		}
		hnps := mh.OptionsOf[*mh.HomeNetworkPrefix](m.Options)
		for _, b := range e.clients {
			if (b.state != stateRegistered && b.state != stateRegistering) || !sameMNID(b.mnid, id) {
				continue
			}
			// RFC 5846 8.1: HNP options, when present, narrow the
			// revocation to the mobility session holding them.
			if len(hnps) > 0 && !slices.ContainsFunc(hnps, func(h *mh.HomeNetworkPrefix) bool {
				return slices.Contains(b.prefixes, h.Prefix.Masked())
			}) {
				continue
			}
			victims = append(victims, b)
		}
		if len(victims) == 0 {
			return mh.RevocationBindingDoesNotExist, nil
		}
	}

	var fx effects
	if m.Flags&mh.RevocationIPv4Only != 0 {
		// RFC 5846 6.1: V, only the IPv4 home address binding goes.
		found := false
		for _, b := range victims {
			if !b.hoa.IsValid() {
				continue
			}
			found = true
			e.log.Info("IPv4 home address revoked", "binding", b, "hoa", b.hoa, "trigger", m.Trigger)
			b.hoa, b.router4 = netip.Prefix{}, netip.Addr{}
			side, mac, key := b.link.side, b.mac, b.key
			fx = append(fx, func() { e.syncClient(key) }, func() {
				if side.DHCP != nil {
					side.DHCP.Forget(mac)
				}
			})
		}
		if !found {
			return mh.RevocationIPv4HoABindingNotExist, nil
		}
		return mh.RevocationSuccess, fx
	}
	for _, b := range victims {
		e.log.Info("binding revoked by the LMA", "binding", b, "trigger", m.Trigger)
		if !hold && how == dropSilently && b.state == stateRegistered {
			// The client moved to another MAG (the handoff triggers
			// of RFC 5846 8.1, Table 1): hostapd drops its stale
			// entry too (docs/handover.md 5.5). Not for a binding
			// still registering: the station has just (re)attached
			// here.
			fx = append(fx, e.removeStationFx(b)...)
		}
		fx = append(fx, e.dropLocked(b, how)...)
		if hold {
			e.clients[b.key] = b
			e.holdLocked(b)
		}
	}
	return mh.RevocationSuccess, fx
}
