package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/hostapd/hostapdtest"
)

// TestHostapdMonitor runs the real daemon (domain_ns_test.go's domain)
// with hostapd_hook 'ctrl' against a fake hostapd control socket:
//
//	ns mag: pmip-mag ──ATTACH/PING/STA/STA-FIRST/STA-NEXT──► CTRLDIR/phy0-ap0 (hostapdtest.AP, the test)
//	           │     ◄──"<3>AP-STA-CONNECTED ..."───────────┘
//	           └──PBU──► ns lma: peer (records each PBU's Handoff Indicator)
//
// A station associated before the daemon started registers from the
// first listing (HI 4); one that connects without EAP (802.11r FT,
// PMKSA cache) registers with HI 3 (RFC 5213 8.4); one that ran EAP with
// 4. hostapd then restarts: the daemon attaches to the new socket and
// deregisters the station the new hostapd no longer lists.
func TestHostapdMonitor(t *testing.T) {
	ctrl := t.TempDir()
	ap := hostapdtest.Start(t, ctrl, "phy0-ap0")
	const (
		sta1 = "02:00:00:00:0b:01"
		sta2 = "02:00:00:00:0b:02"
		sta3 = "02:00:00:00:0b:03"
	)
	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "alice@test.example", AKM: "00-0f-ac-1"})
	d := newDomain(t, "\toption hostapd_ctrl_dir '"+ctrl+"'\n")
	d.start(t)
	d.waitLog(t, "attached to the control socket", 10*time.Second)

	hiOf := func(mac string) mh.HandoffIndicator {
		d.peer.mu.Lock()
		defer d.peer.mu.Unlock()
		for _, s := range d.peer.pbus {
			if s.mac == mac && s.lifetime > 0 {
				return s.hi
			}
		}
		return 0
	}
	registered := func(mac, what string) {
		t.Helper()
		d.peer.waitFor(t, what, 10*time.Second, func() bool { return d.peer.countLocked(mac, false) > 0 })
	}
	registered(sta1, "the station associated before the start")
	if hi := hiOf(sta1); hi != mh.HandoffStateUnknown {
		t.Errorf("station found by the listing: HI %v, want 4", hi)
	}

	ap.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "bob@test.example", AKM: "00-0f-ac-3"})
	sent := time.Now()
	ap.Event("AP-STA-CONNECTED " + sta2)
	registered(sta2, "the fast reassociation")
	at, _ := d.peer.firstPBU(sta2)
	t.Logf("AP-STA-CONNECTED to PBU at the LMA: %v", at.Sub(sent).Round(10*time.Microsecond))
	if hi := hiOf(sta2); hi != mh.HandoffBetweenMAGsSameInterface {
		t.Errorf("fast reassociation: HI %v, want 3", hi)
	}

	ap.SetStation(hostapdtest.Station{MAC: sta3, Authorized: true, Identity: "carol@test.example", AKM: "00-0f-ac-1"})
	ap.Event("CTRL-EVENT-EAP-STARTED " + sta3)
	ap.Event("CTRL-EVENT-EAP-SUCCESS " + sta3)
	ap.Event("AP-STA-CONNECTED " + sta3)
	registered(sta3, "the full EAP association")
	if hi := hiOf(sta3); hi != mh.HandoffStateUnknown {
		t.Errorf("full EAP association: HI %v, want 4", hi)
	}

	// hostapd restarts; sta1 left while it was away.
	ap.Stop()
	ap2 := hostapdtest.Start(t, ctrl, "phy0-ap0")
	ap2.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "bob@test.example"})
	ap2.SetStation(hostapdtest.Station{MAC: sta3, Authorized: true, Identity: "carol@test.example"})
	d.peer.waitFor(t, "sta1's deregistration after hostapd's restart", 20*time.Second,
		func() bool { return d.peer.countLocked(sta1, true) == 1 })
	if ap2.Monitors() != 1 {
		t.Errorf("%d monitors attached to the restarted hostapd, want 1", ap2.Monitors())
	}
	d.peer.mu.Lock()
	for _, mac := range []string{sta2, sta3} {
		if n := d.peer.countLocked(mac, true); n != 0 {
			t.Errorf("%s deregistered %d times, want 0 (still listed)", mac, n)
		}
	}
	d.peer.mu.Unlock()

	// The monitor's counters on the control socket.
	cl, err := ctl.Dial(context.Background(), filepath.Join(d.dir, "ctl.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var st hostapd.MonitorStats
	err = cl.Call(context.Background(), methodHostapd, nil, &st)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Attaches != 2 || st.Lost != 1 || st.FastReassoc != 1 || st.Resyncs != 2 || st.Malformed != 0 {
		t.Errorf("monitor counters on the control socket: %+v", st)
	}
	d.stop(t)
}
