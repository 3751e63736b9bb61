package hostapd

import (
	"fmt"
	"testing"
	"time"

	"github.com/openpmip/pmip/mag/hostapd/hostapdtest"
)

func TestIdentities(t *testing.T) {
	var c identities
	t0 := time.Unix(1e9, 0)
	a := mac("02:00:00:00:01:00")
	if _, ok := c.lookup(a, t0); ok {
		t.Fatal("lookup in an empty memory succeeded")
	}
	c.remember(a, "alice@example.org", t0)
	c.remember(a, "", t0)          // no identity: nothing to remember
	c.remember([]byte{1}, "x", t0) // not a MAC
	if id, ok := c.lookup(a, t0.Add(identityTTL)); !ok || id != "alice@example.org" {
		t.Errorf("lookup within the PMK lifetime = %q, %v", id, ok)
	}
	if _, ok := c.lookup(a, t0.Add(identityTTL+time.Second)); ok {
		t.Error("an identity older than a PMK lives was used")
	}
	// Bounded: the oldest goes first.
	for i := range maxIdentities + 10 {
		c.remember(mac(fmt.Sprintf("02:00:00:%02x:%02x:02", byte(i>>8), byte(i))), "x", t0.Add(time.Duration(i+1)*time.Millisecond))
	}
	if n := c.len(); n > maxIdentities {
		t.Errorf("%d identities remembered, bound %d", n, maxIdentities)
	}
	if _, ok := c.lookup(a, t0.Add(time.Hour)); ok {
		t.Error("the oldest identity survived the bound")
	}
}

// A PMKSA-cache reconnection hostapd reports with "N/A" gets the identity
// the station authenticated with at this AP before (seen in the QEMU
// tier: TestVMMonitor).
func TestMonitorRemembersIdentity(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	r := newMonitorRig(t, dir, nil)
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 && r.mon.Stats().Resyncs == 1 })
	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "alice@example.org"})
	ap.Event("CTRL-EVENT-EAP-STARTED " + sta1)
	ap.Event("AP-STA-CONNECTED " + sta1)
	r.expect(connected(sta1, "alice@example.org", false))
	ap.Event("AP-STA-DISCONNECTED " + sta1)
	r.expect(disconnected(sta1))

	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "N/A"})
	ap.Event("AP-STA-CONNECTED " + sta1)
	r.expect(connected(sta1, "alice@example.org", true))
	// Not for a station that never authenticated here.
	ap.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "N/A"})
	ap.Event("AP-STA-CONNECTED " + sta2)
	r.expect(connected(sta2, "", true))
	if s := r.mon.Stats(); s.RememberedIdentity != 1 {
		t.Errorf("RememberedIdentity = %d, want 1", s.RememberedIdentity)
	}
}
