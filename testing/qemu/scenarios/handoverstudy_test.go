package scenarios

import (
	"os"
	"testing"
	"time"
)

// TestHandoverFastHook is scenario 2 with the hook path docs/handover.md
// proposes: the MAGs hear hostapd's station events over its control
// socket (ATTACH; prototyped by pmip-hapmon forward, which the MAG's
// mag/hostapd would own) instead of through hostapd_cli -a, which starts
// a shell and a pmip-mag process for every event, one after the other.
// Everything else is as in TestScenario2 (break before make, full EAP at
// AP2, Handoff Indicator 4 after MAG1's deregistration). Part of the
// roaming study: it runs only with PMIP_ROAM_STUDY=1 (and PMIP_QEMU=1).
//
//	[cn] pmip-probe serve ──TCP over IPv4 and IPv6──┐
//	  │                                             │
//	[lma] ══ tunnel ══ [ap1] MAG1 ◄─unix dgram── pmip-hapmon forward ◄─ctrl socket─ hostapd wlan0 )))
//	      ══ tunnel ══ [ap2] MAG2 ◄─unix dgram── pmip-hapmon forward ◄─ctrl socket─ hostapd wlan1 )))
//	                                                                         roam ──►  wlan2 [client]
func TestHandoverFastHook(t *testing.T) {
	if os.Getenv(envRoamStudy) != "1" {
		t.Skipf("part of the roaming study: runs only with %s=1 (and PMIP_QEMU=1)", envRoamStudy)
	}
	d := New(t, Config{})
	hapmon, err := d.VM.GoBuild(d.ctx, "./testing/qemu/cmd/pmip-hapmon")
	if err != nil {
		t.Fatal(err)
	}
	d.Up()
	for _, ap := range d.APs {
		d.stop("hostapd_cli-" + ap.Name)
		d.start("hapfwd-"+ap.Name, ap.Name, nil, hapmon, "forward", "-ctrl", hostapdCtrl(ap), "-socket", magSocket(ap), ap.Radio)
		d.WaitLog("hapfwd-"+ap.Name, "ATTACHED", 0, 30*time.Second)
	}
	d.Say("MAGs hear hostapd over its control socket (pmip-hapmon forward), not hostapd_cli -a")
	a := d.AttachAndPing(d.APs[0])
	d.Handover(d.APs[0], d.APs[1], a)
	d.PingThroughTunnel(d.APs[1])
}
