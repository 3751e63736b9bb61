package hostapd

// maxHintStations bounds the stations whose EAP the Handoff Indicator
// rule remembers per BSS, so that a flood of EAP starts from random MACs
// costs a bounded map (above hostapd's default max_num_sta, 2007).
const maxHintStations = 4096

// HandoffHints is the lower-layer rule by which the MAG tells a handoff
// between two of the domain's MAGs from a new attachment
// (docs/handover.md 5.3), for one BSS.
//
// A station that becomes connected at this BSS without any EAP exchange
// since its previous connection or disconnection here resumed keys it
// got earlier in the ESS: an IEEE 802.11r FT reassociation (possible
// only with a PMK-R1 derived from an authentication in this mobility
// domain) or a PMKSA-cache resumption. It was attached in this domain a
// moment ago and now attaches, with the same MAC (the same link-layer
// identifier), to this MAG: a handoff between mobile access gateways
// for the same interface, Handoff Indicator 3 (RFC 5213 8.4). RFC 5213
// 6.9.1.1 has the MAG set the Handoff Indicator from what it knows of
// the attachment and leaves how it learns to the access technology (and
// 9.1, MaxDelayBeforeNewBCEAssign, names "information from the lower
// layers about the type of a handoff" as what spares the LMA its wait).
//
// A station that ran EAP here (a first association, a full
// re-authentication, or RSN pre-authentication through another AP,
// which the events cannot tell apart) gives no hint: the MAG then
// chooses as without this rule (4, or its DHCP/DAD evidence).
//
// The zero value is ready to use. Not safe for concurrent use.
type HandoffHints struct {
	// eap: an EAP exchange began since the last (dis)connection, or may
	// have (Unsure).
	eap map[macKey]bool
	// full: a station could not be remembered (maxHintStations): its
	// EAP start is unknown, so no station gets the hint any more.
	full bool
}

type macKey = [6]byte

// Observe takes the BSS's events in order. For an AP-STA-CONNECTED it
// returns connected true and whether the station reassociated fast
// (no EAP since its previous AP-STA-CONNECTED/DISCONNECTED here); for any
// other event, false and false.
func (h *HandoffHints) Observe(ev CtrlEvent) (connected, fast bool) {
	if !ev.StationEvent() {
		return false, false
	}
	var k macKey
	copy(k[:], ev.MAC)
	if h.eap == nil {
		h.eap = map[macKey]bool{}
	}
	switch ev.Name {
	case CtrlEventEAPStarted:
		h.remember(k)
	case CtrlEventDisconnected:
		delete(h.eap, k)
	case CtrlEventConnected:
		ranEAP := h.eap[k]
		delete(h.eap, k)
		return true, !ranEAP && !h.full
	}
	return false, false
}

// Unsure makes the station's next AP-STA-CONNECTED give no hint, as if
// it had run EAP: the monitor calls it for the stations hostapd already
// had when it (re)attached, whose EAP exchange it may have missed.
func (h *HandoffHints) Unsure(mac []byte) {
	if len(mac) != 6 {
		return
	}
	var k macKey
	copy(k[:], mac)
	if h.eap == nil {
		h.eap = map[macKey]bool{}
	}
	h.remember(k)
}

func (h *HandoffHints) remember(k macKey) {
	if len(h.eap) < maxHintStations || h.eap[k] {
		h.eap[k] = true
		return
	}
	h.full = true
}

// Tracked is how many stations the rule remembers.
func (h *HandoffHints) Tracked() int { return len(h.eap) }
