package scenarios

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScenario7 is issue 5 scenario 7, the LMA killed and restarted:
//
//	[cn] pmip-probe serve ── [lma] pmip-lma  ✗ kill -9 ... restart (binding cache from its store)
//	                           ══ tunnel ══ [ap1] MAG1 ))) client: TCP streams, pings
//
// During scenario 1 the LMA dies by SIGKILL and starts again. Its
// acknowledged binding survives in its store (issue 3, "Nothing lost"), it
// rebuilds its kernel state, and the client's addresses and traffic come
// back without the client associating again.
func TestScenario7(t *testing.T) {
	d := New(t, Config{APs: 1})
	d.Up()
	ap := d.APs[0]
	a := d.AttachAndPing(ap)
	before, err := d.Bindings()
	if err != nil || len(before) != 1 {
		t.Fatalf("bindings before: %+v, %v", before, err)
	}
	addrs := d.ClientAddrs()
	slices.Sort(addrs)
	d.StartStreams()
	d.Say("kill -9 of the LMA")
	d.KillLMA() // returns once the process is gone
	d.Say("LMA restarts")
	t0 := time.Now()
	// Recovery runs before the control socket opens: the store (under
	// TCG, with the streams taking most of the guest's CPU, it has taken
	// 24-33 s), then the engine and the kernel state.
	r := d.RestartLMA(120 * time.Second)
	// A SIGKILL leaves the control socket file: the new LMA replaces it.
	if !r.StaleSocket {
		t.Errorf("no control socket left by the killed LMA: the restart did not exercise replacing a stale one")
	}
	d.Say("restarted LMA running after %.0f ms (store recovery %.0f ms); it replaced the stale control socket", ms(r.Running), ms(r.StoreOpen))
	d.Record("LMA restart to running", ms(r.Running), "ms")
	// Running means the binding cache is recovered and the control
	// socket answers: the binding must be there at once.
	d.Eventually("the restarted LMA serving the binding", 10*time.Second, 200*time.Millisecond, func() error {
		bs, err := d.Bindings()
		if err != nil {
			return err
		}
		if len(bs) != 1 || bs[0].State != "active" {
			return errorf("bindings %+v", bs)
		}
		b, o := bs[0], before[0]
		if b.MobileNode != o.MobileNode || b.MAG != o.MAG || !slices.Equal(b.HomePrefixes, o.HomePrefixes) || b.IPv4HomeAddress != o.IPv4HomeAddress {
			t.Fatalf("binding changed over the restart: %+v -> %+v", o, b)
		}
		return nil
	})
	d.Say("restarted LMA holds the same binding after %.0f ms", ms(time.Since(t0)))
	for _, s := range streams {
		d.waitBytes(s.name, 100_000, 30*time.Second)
	}
	reps := d.StopStreams()
	var gap float64
	for _, s := range streams {
		gap = max(gap, reps[s.name].MaxGap.Ms)
	}
	d.Record("traffic gap over an LMA restart", gap, "ms")
	d.PingThroughTunnel(ap)
	now := d.ClientAddrs()
	slices.Sort(now)
	if !slices.Equal(addrs, now) {
		t.Errorf("client addresses changed: %v -> %v", addrs, now)
	}
	// No new association: hostapd reported the station once.
	if n := strings.Count(d.Log("hostapd-"+ap.Name), "AP-STA-CONNECTED"); n != 1 {
		t.Errorf("hostapd reported %d associations, want 1 (the client must not re-associate)", n)
	}
	if st := d.WPAStatus(); st["wpa_state"] != "COMPLETED" || !strings.EqualFold(st["bssid"], ap.BSSID) {
		t.Errorf("client Wi-Fi state %v", st)
	}
	d.Say("client kept %v and its association; streams went on (longest pause %.0f ms); addresses from %s", now, gap, a.V4IP)
}
