package main

import "testing"

// The event sequences hostapd 2.10 sent in TestRoamMethods
// (testing/qemu/scenarios), per kind of (re)association.
func TestHandoffHints(t *testing.T) {
	const sta = "02:00:00:00:02:00"
	for _, tc := range []struct {
		name   string
		events []string
		want   int
	}{
		{"full EAP association", []string{
			"CTRL-EVENT-EAP-STARTED " + sta, "CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=1",
			"CTRL-EVENT-EAP-SUCCESS " + sta, "EAPOL-4WAY-HS-COMPLETED " + sta, "AP-STA-CONNECTED " + sta}, 4},
		{"FT reassociation at a fresh AP", []string{"AP-STA-CONNECTED " + sta}, 3},
		{"PMKSA-cache reassociation", []string{"EAPOL-4WAY-HS-COMPLETED " + sta, "AP-STA-CONNECTED " + sta}, 3},
		{"FT back to an AP holding a stale entry", []string{"AP-STA-DISCONNECTED " + sta, "AP-STA-CONNECTED " + sta}, 3},
		{"full EAP after a fast one", []string{
			"AP-STA-CONNECTED " + sta, "AP-STA-DISCONNECTED " + sta,
			"CTRL-EVENT-EAP-STARTED " + sta, "CTRL-EVENT-EAP-SUCCESS " + sta, "AP-STA-CONNECTED " + sta}, 4},
		{"EAP of another station does not count", []string{
			"CTRL-EVENT-EAP-STARTED 02:00:00:00:03:00", "AP-STA-CONNECTED " + sta}, 3},
		{"EAP begun then the station left: counts no more", []string{
			"CTRL-EVENT-EAP-STARTED " + sta, "AP-STA-DISCONNECTED " + sta, "AP-STA-CONNECTED " + sta}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h handoffHints
			got := 0
			for _, e := range tc.events {
				got = h.observe(e)
			}
			if got != tc.want {
				t.Errorf("Handoff Indicator %d, want %d", got, tc.want)
			}
		})
	}
}

func TestHandoffHintsIgnoresJunk(t *testing.T) {
	var h handoffHints
	for _, e := range []string{"", "AP-STA-CONNECTED", "AP-STA-CONNECTED not-a-mac", "AP-STA-CONNECTED 02:00:00:00:02", "CTRL-EVENT-EAP-STARTED ::::", "AP-ENABLED "} {
		if got := h.observe(e); got != 0 {
			t.Errorf("observe(%q) = %d, want 0", e, got)
		}
	}
}

// A flood of EAP starts from distinct MACs is bounded.
func TestHandoffHintsBounded(t *testing.T) {
	var h handoffHints
	for i := 0; i < 3*maxTracked; i++ {
		mac := []byte{0x02, 0, byte(i >> 16), byte(i >> 8), byte(i), 1}
		h.observe("CTRL-EVENT-EAP-STARTED " + macString(mac))
	}
	if len(h.eap) > maxTracked {
		t.Errorf("%d stations tracked, bound %d", len(h.eap), maxTracked)
	}
}

func macString(b []byte) string {
	const hex = "0123456789abcdef"
	s := make([]byte, 0, 17)
	for i, x := range b {
		if i > 0 {
			s = append(s, ':')
		}
		s = append(s, hex[x>>4], hex[x&15])
	}
	return string(s)
}
