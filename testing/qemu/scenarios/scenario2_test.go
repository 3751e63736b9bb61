package scenarios

import "testing"

// TestScenario2 is issue 5 scenario 2, handover AP1 -> AP2 with the
// design of docs/handover.md 5:
//
//	[cn] pmip-probe serve ──TCP over IPv4 and IPv6──┐
//	  │                                             │
//	[lma] ══ tunnel ══ [ap1] MAG1 br-lan ── wlan0 )))      (((
//	  │   ══ tunnel ══ [ap2] MAG2 br-lan ── wlan1 )))  ──►  wlan2 [client] pmip-probe recv x2
//	 AAA (RADIUS)            └── ds (FT RRB) ──┘       wpa_cli roam (802.11r FT-EAP)
//
// The client attaches at AP1 as in scenario 1 (full EAP through RADIUS;
// AP1 pushes the PMK-R1 to AP2); streams from the CN run to it; it
// reassociates with AP2 by FT over the air, make before break, without
// EAP. MAG2 hears it on hostapd's control socket, with the identity, and
// registers with Handoff Indicator 3; the LMA moves the session and
// revokes MAG1's binding. The client's addresses stay, both streams keep
// going (no reset, bytes keep counting), the LMA holds one binding via
// MAG2 and MAG1 none, and the longest pause in the streams is the
// handover gap (target: at most 300 ms under TCG).
func TestScenario2(t *testing.T) {
	d := New(t, Config{})
	d.Up()
	a := d.AttachAndPing(d.APs[0])
	d.Handover(d.APs[0], d.APs[1], a)
	d.PingThroughTunnel(d.APs[1])
}
