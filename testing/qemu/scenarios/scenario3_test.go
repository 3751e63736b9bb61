package scenarios

import "testing"

// TestScenario3 is issue 5 scenario 3, detach:
//
//	[lma] ══ tunnel ══ [ap1] MAG1 br-lan ── wlan0 )))  ✗  wlan2 [client] wpa_cli disconnect
//	  PBU lifetime 0 ◄── MAG1 (AP-STA-DISCONNECTED)
//	  binding kept MinDelayBeforeBCEDelete, then deleted
//
// The kernel state of the LMA and the MAG is recorded before the client
// comes; after the client leaves and MinDelayBeforeBCEDelete passes, it is
// exactly that again: no tunnel, route, rule or nftables element left.
func TestScenario3(t *testing.T) {
	d := New(t, Config{APs: 1})
	d.Up()
	base := d.TakeBaseline()
	d.AttachAndPing(d.APs[0])
	d.Detach(d.APs[0], base)
}
