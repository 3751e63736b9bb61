package hostapd

import (
	"fmt"
	"testing"
)

func observeText(t *testing.T, h *HandoffHints, text string) (connected, fast bool) {
	t.Helper()
	ev, err := ParseCtrlEvent([]byte("<3>" + text))
	if err != nil {
		return false, false
	}
	return h.Observe(ev)
}

// The event sequences hostapd 2.10 sent in TestRoamMethods
// (testing/qemu/scenarios, docs/handover.md 3.3), per kind of
// (re)association: fast means Handoff Indicator 3.
func TestHandoffHints(t *testing.T) {
	const sta = "02:00:00:00:02:00"
	for _, tc := range []struct {
		name   string
		events []string
		fast   bool
	}{
		{"full EAP association", []string{
			"CTRL-EVENT-EAP-STARTED " + sta, "CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=1",
			"CTRL-EVENT-EAP-SUCCESS " + sta, "EAPOL-4WAY-HS-COMPLETED " + sta, "AP-STA-CONNECTED " + sta}, false},
		{"FT reassociation at a fresh AP", []string{"AP-STA-CONNECTED " + sta}, true},
		{"PMKSA-cache reassociation", []string{"EAPOL-4WAY-HS-COMPLETED " + sta, "AP-STA-CONNECTED " + sta}, true},
		{"FT back to an AP holding a stale entry", []string{"AP-STA-DISCONNECTED " + sta, "AP-STA-CONNECTED " + sta}, true},
		{"full EAP after a fast one", []string{
			"AP-STA-CONNECTED " + sta, "AP-STA-DISCONNECTED " + sta,
			"CTRL-EVENT-EAP-STARTED " + sta, "CTRL-EVENT-EAP-SUCCESS " + sta, "AP-STA-CONNECTED " + sta}, false},
		{"EAP of another station does not count", []string{
			"CTRL-EVENT-EAP-STARTED 02:00:00:00:03:00", "AP-STA-CONNECTED " + sta}, true},
		{"EAP begun then the station left: counts no more", []string{
			"CTRL-EVENT-EAP-STARTED " + sta, "AP-STA-DISCONNECTED " + sta, "AP-STA-CONNECTED " + sta}, true},
		{"extra words after the address", []string{
			"CTRL-EVENT-EAP-STARTED " + sta + " x=1", "AP-STA-CONNECTED " + sta + " keyid=ab"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h HandoffHints
			var connected, fast bool
			for _, e := range tc.events {
				connected, fast = observeText(t, &h, e)
			}
			if !connected || fast != tc.fast {
				t.Errorf("last event: connected %v fast %v, want connected, fast %v", connected, fast, tc.fast)
			}
		})
	}
}

func TestHandoffHintsIgnoresJunk(t *testing.T) {
	var h HandoffHints
	for _, e := range []string{"", "AP-STA-CONNECTED", "AP-STA-CONNECTED not-a-mac", "AP-STA-CONNECTED 02:00:00:00:02",
		"AP-STA-CONNECTED ff:ff:ff:ff:ff:ff", "CTRL-EVENT-EAP-STARTED ::::", "AP-ENABLED "} {
		if connected, fast := observeText(t, &h, e); connected || fast {
			t.Errorf("Observe(%q) = %v, %v; want false, false", e, connected, fast)
		}
	}
}

// A flood of EAP starts from distinct MACs is bounded.
func TestHandoffHintsBounded(t *testing.T) {
	var h HandoffHints
	for i := 0; i < 3*maxHintStations; i++ {
		observeText(t, &h, fmt.Sprintf("CTRL-EVENT-EAP-STARTED 02:00:%02x:%02x:%02x:01", byte(i>>16), byte(i>>8), byte(i)))
	}
	if h.Tracked() > maxHintStations {
		t.Errorf("%d stations tracked, bound %d", h.Tracked(), maxHintStations)
	}
	// A station beyond the bound may have run EAP unseen: from then on
	// no station gets the hint (the safe answer).
	if connected, fast := observeText(t, &h, "AP-STA-CONNECTED 02:00:00:00:09:01"); !connected || fast {
		t.Errorf("after the bound: connected %v fast %v, want connected, not fast", connected, fast)
	}
}

// Unsure: a station already in hostapd's table when the monitor attached
// may have begun EAP unseen; its next connection gets no hint, the one
// after a disconnection does.
func TestHandoffHintsUnsure(t *testing.T) {
	var h HandoffHints
	h.Unsure(mac("02:00:00:00:02:00"))
	h.Unsure([]byte{1, 2}) // ignored
	if c, fast := observeText(t, &h, "AP-STA-CONNECTED 02:00:00:00:02:00"); !c || fast {
		t.Errorf("first connection: %v %v, want connected, not fast", c, fast)
	}
	observeText(t, &h, "AP-STA-DISCONNECTED 02:00:00:00:02:00")
	if c, fast := observeText(t, &h, "AP-STA-CONNECTED 02:00:00:00:02:00"); !c || !fast {
		t.Errorf("reconnection without EAP: %v %v, want connected, fast", c, fast)
	}
}
