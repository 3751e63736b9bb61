package scenarios

import (
	"fmt"
	"os"
	"strings"
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
	d := upWithFastHook(t)
	a := d.AttachAndPing(d.APs[0])
	d.Handover(d.APs[0], d.APs[1], a)
	d.PingThroughTunnel(d.APs[1])
}

// upWithFastHook starts the domain with pmip-hapmon forward in place of
// each AP's hostapd_cli -a hook.
func upWithFastHook(t *testing.T) *Domain {
	t.Helper()
	// The domain as the study measured it (internal EAP servers, WPA-EAP
	// only, break before make): docs/handover.md section 2.
	d := New(t, Config{LegacyRoam: true})
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
	return d
}

// TestHandoverReassocStudy records what today's MAG and LMA do with a
// make-before-break move: the client reassociates with AP2 (wpa_cli roam,
// full EAP there), mac80211 tells AP1 nothing, so MAG1 never deregisters,
// and MAG2 registers with Handoff Indicator 4. RFC 5213 9.1
// (MaxDelayBeforeNewBCEAssign): the LMA waits for a deregistration that
// will not come, then creates a new mobility session. The study reports
// the bindings and the client's addresses it finds; it fails only when the
// move or the observation itself does not work. Runs only with
// PMIP_ROAM_STUDY=1 (and PMIP_QEMU=1).
//
//	[lma] ══ [ap1] MAG1 (never told) ── wlan0 )))
//	      ══ [ap2] MAG2 PBU HI 4     ── wlan1 )))  ◄── reassociation ── wlan2 [client]
func TestHandoverReassocStudy(t *testing.T) {
	if os.Getenv(envRoamStudy) != "1" {
		t.Skipf("part of the roaming study: runs only with %s=1 (and PMIP_QEMU=1)", envRoamStudy)
	}
	d := upWithFastHook(t)
	a := d.AttachAndPing(d.APs[0])
	from, to := d.APs[0], d.APs[1]
	cli := "/sbin/wpa_cli -p " + wpaCtrl + " -i " + d.radio
	d.Say("client reassociates %s -> %s (wpa_cli roam: AP1 is not told)", from.Name, to.Name)
	t0 := time.Now()
	d.nsSh("client", cli+" bssid 0 "+to.BSSID+" && "+cli+" roam "+to.BSSID)
	d.Eventually("the client connected to "+to.Name, 60*time.Second, 100*time.Millisecond, func() error {
		st := d.WPAStatus()
		if st["wpa_state"] == "COMPLETED" && strings.EqualFold(st["bssid"], to.BSSID) {
			return nil
		}
		return errorf("wpa_state %s bssid %s", st["wpa_state"], st["bssid"])
	})
	d.Say("client on %s after %.0f ms", to.Name, ms(time.Since(t0)))
	// The LMA answers MAG2 within MaxDelayBeforeNewBCEAssign (1.5 s) plus
	// a round trip; wait until some binding names MAG2.
	var summary []string
	d.Eventually("a binding via "+to.Name, 20*time.Second, 200*time.Millisecond, func() error {
		bs, err := d.Bindings()
		if err != nil {
			return err
		}
		summary = summary[:0]
		via := false
		for _, b := range bs {
			summary = append(summary, fmt.Sprintf("%s via %s %s prefixes %v IPv4 %v", b.MobileNode, b.MAG, b.State, b.HomePrefixes, b.IPv4HomeAddress))
			via = via || b.MAG == to.Name
		}
		if !via {
			return errorf("bindings %v", summary)
		}
		return nil
	})
	d.Say("%.0f ms after the move the LMA holds %d binding(s): %s", ms(time.Since(t0)), len(summary), strings.Join(summary, "; "))
	d.Say("client had IPv4 %s and IPv6 %s; now has %v", a.V4IP, a.V6IP, d.ClientAddrs())
}
