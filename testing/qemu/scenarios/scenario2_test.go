package scenarios

import "testing"

// TestScenario2 is issue 5 scenario 2, handover AP1 -> AP2:
//
//	[cn] pmip-probe serve ──TCP over IPv4 and IPv6──┐
//	  │                                             │
//	[lma] ══ tunnel ══ [ap1] MAG1 br-lan ── wlan0 )))      (((
//	      ══ tunnel ══ [ap2] MAG2 br-lan ── wlan1 )))  ──►  wlan2 [client] pmip-probe recv x2
//	                                                  roam
//
// The client attaches at AP1 as in scenario 1; streams from the CN run to
// it; it roams to AP2. Its addresses stay, both streams keep going (no
// reset, bytes keep counting), the LMA's binding moves to MAG2, and the
// longest pause in the streams is the handover gap.
func TestScenario2(t *testing.T) {
	d := New(t, Config{})
	d.Up()
	a := d.AttachAndPing(d.APs[0])
	d.Handover(d.APs[0], d.APs[1], a)
	d.PingThroughTunnel(d.APs[1])
}
