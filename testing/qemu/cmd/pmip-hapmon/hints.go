package main

import (
	"net"
	"strings"
)

// Handoff Indicator values (RFC 5213 8.4) the proposed rule chooses from.
const (
	hiBetweenMAGs = 3 // Handoff between mobile access gateways for the same interface
	hiUnknown     = 4 // Handoff state unknown
)

// maxTracked bounds the stations whose EAP the rule remembers, so a flood
// of EAP starts from random MACs costs a bounded map.
const maxTracked = 1024

// handoffHints is the rule docs/handover.md (5.3) proposes for the MAG: a
// station that becomes connected on this BSS without any EAP exchange
// since its last connection or disconnection here resumed keys it got
// earlier in the ESS (802.11r FT, or a PMKSA cache entry), so it was
// attached in this domain a moment ago and moves between MAGs on the same
// interface: Handoff Indicator 3 (RFC 5213 6.9.1.1 leaves how the MAG
// knows to the lower layer). A station that ran EAP here (a first
// association, a full re-authentication, or RSN pre-authentication through
// another AP, which the events cannot tell apart) gets 4: the LMA decides
// (RFC 5213 5.4.1, MaxDelayBeforeNewBCEAssign).
type handoffHints struct {
	eap map[string]bool // MAC -> an EAP exchange began since the last (dis)connection
}

// observe takes one control-interface event (without its "<N>" level) and
// returns the Handoff Indicator for an AP-STA-CONNECTED, 0 for any other
// event.
func (h *handoffHints) observe(event string) int {
	name, rest, _ := strings.Cut(event, " ")
	macText, _, _ := strings.Cut(rest, " ")
	mac, err := net.ParseMAC(macText)
	if err != nil || len(mac) != 6 {
		return 0
	}
	key := mac.String()
	if h.eap == nil {
		h.eap = map[string]bool{}
	}
	switch name {
	case "CTRL-EVENT-EAP-STARTED":
		if len(h.eap) < maxTracked || h.eap[key] {
			h.eap[key] = true
		}
	case "AP-STA-DISCONNECTED":
		delete(h.eap, key)
	case "AP-STA-CONNECTED":
		ranEAP := h.eap[key]
		delete(h.eap, key)
		if ranEAP {
			return hiUnknown
		}
		return hiBetweenMAGs
	}
	return 0
}
