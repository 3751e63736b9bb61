package hostapd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/syncbuf"
)

// TestVMMonitor runs the Monitor against a real hostapd and a real
// station in the QEMU guest (test tier 3):
//
//	[ns ap]  phy0 wlan0 hostapd (WPA2-EAP) ))) hwsim ((( wlan1 wpa_supplicant phy1 [ns sta]
//	           │ ctrl socket DIR/wlan0                        identity alice@example.org
//	Monitor ──ATTACH, PING, STA, STA-FIRST/NEXT──┘
//	   └──► events (the test)
//
// The station's 802.1X association arrives as Connected with its
// identity and no fast-reassociation hint (it ran EAP); its disconnection
// as Disconnected; a reconnection gets the hint exactly when hostapd ran
// no EAP for it (PMKSA caching), and its identity even though hostapd
// then reports none. hostapd is then restarted: the monitor
// attaches to the new socket and reports the station as the new hostapd
// sees it. Last, DEAUTHENTICATE tx=0 (the old MAG's cleanup) removes the
// station from hostapd, which reports it disconnected.
func TestVMMonitor(t *testing.T) {
	nstest.RequireVM(t)
	w := startWiFi(t)

	events := make(chan Event, 64)
	var mu sync.Mutex
	known := map[string]bool{}
	var logs syncbuf.Buffer
	mon, err := NewMonitor(MonitorConfig{
		CtrlDir: w.ctrl, Interfaces: []string{"wlan0"},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// Short, so that the restart is noticed quickly in the slow guest.
		PingInterval: 500 * time.Millisecond, PingTimeout: 2 * time.Second,
		Handle: func(ev Event) {
			mu.Lock()
			known[ev.MAC.String()] = ev.Kind == Connected
			mu.Unlock()
			events <- ev
		},
		Known: func(string) []net.HardwareAddr {
			mu.Lock()
			defer mu.Unlock()
			var out []net.HardwareAddr
			for m, on := range known {
				if on {
					hw, _ := net.ParseMAC(m)
					out = append(out, hw)
				}
			}
			return out
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mon.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("--- monitor:\n%s", logs.String())
		}
	})
	waitFor(t, "the monitor to attach", 30*time.Second, func() bool { return mon.Stats().Attaches == 1 && mon.Stats().Resyncs == 1 })

	t0 := time.Now()
	wpa := exec.Command(w.bins["wpa_supplicant"], "-t", "-f", w.staLog, "-i", "wlan1", "-c", w.staConf)
	if err := w.sta.Start(wpa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wpa.Process.Kill(); _ = wpa.Wait() })
	ev := nextEventWithin(t, events, 60*time.Second)
	if ev.Kind != Connected || ev.MAC.String() != w.staMAC || ev.Identity != "alice@example.org" || ev.Source != SourceCtrl || ev.FastReassoc {
		t.Fatalf("first association: %v; want connected %s, identity alice@example.org, via ctrl, no fast reassociation", ev, w.staMAC)
	}
	t.Logf("802.1X association to Connected event with identity: %v", time.Since(t0).Round(time.Millisecond))

	wpaCLI := func(args ...string) {
		t.Helper()
		w.sta.Run(t, w.bins["wpa_cli"], append([]string{"-p", filepath.Join(w.dir, "wpa"), "-i", "wlan1"}, args...)...)
	}
	wpaCLI("disconnect")
	if ev := nextEventWithin(t, events, 30*time.Second); ev.Kind != Disconnected || ev.MAC.String() != w.staMAC {
		t.Fatalf("after disconnect: %v, want disconnected %s", ev, w.staMAC)
	}
	eapBefore := countInFile(t, w.apLog, "CTRL-EVENT-EAP-STARTED")
	wpaCLI("reconnect")
	ev = nextEventWithin(t, events, 60*time.Second)
	ranEAP := countInFile(t, w.apLog, "CTRL-EVENT-EAP-STARTED") > eapBefore
	if ev.Kind != Connected || ev.FastReassoc == ranEAP {
		t.Fatalf("reconnection (hostapd ran EAP: %v): %v; the hint must say the opposite", ranEAP, ev)
	}
	// With EAP hostapd knows the identity; without (PMKSA cache) it
	// says N/A, and the monitor gives the one of the earlier
	// authentication here.
	if ev.Identity != "alice@example.org" {
		t.Errorf("reconnection: identity %q, want alice@example.org", ev.Identity)
	}
	t.Logf("reconnection: hostapd ran EAP %v, fast reassociation %v, identity %q", ranEAP, ev.FastReassoc, ev.Identity)

	// hostapd restarts: it removes its socket, forgets its monitors and
	// its stations; wpa_supplicant associates again with the new one.
	lost := mon.Stats().Lost
	w.stopHostapd()
	w.startHostapd(t)
	waitFor(t, "the monitor to attach to the new hostapd", 60*time.Second, func() bool {
		s := mon.Stats()
		return s.Lost > lost && s.Attaches >= 2
	})
	// What follows depends on the race between the monitor's attach and
	// the station's new association; either way the station ends up
	// connected, with its identity, and every event is well-formed.
	deadline := time.After(90 * time.Second)
	for connected := false; !connected; {
		select {
		case ev := <-events:
			if ev.MAC.String() != w.staMAC {
				t.Fatalf("event for a stranger: %v", ev)
			}
			t.Logf("after the restart: %v", ev)
			connected = ev.Kind == Connected && ev.Identity == "alice@example.org"
		case <-deadline:
			t.Fatalf("the station was not reported connected after hostapd's restart; stats %+v", mon.Stats())
		}
	}
	// The old MAG's cleanup after a handoff (docs/handover.md 5.5):
	// hostapd drops the station without a frame and reports it gone.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if err := mon.Deauthenticate(dctx, "wlan0", mustMAC(t, w.staMAC)); err != nil {
		t.Fatalf("DEAUTHENTICATE tx=0: %v", err)
	}
	for {
		ev := nextEventWithin(t, events, 30*time.Second)
		if ev.Kind == Disconnected && ev.MAC.String() == w.staMAC {
			break
		}
		t.Logf("before the deauthentication's disconnection: %v", ev)
	}
	// hostapd frees the entry after its deauthentication delay (about
	// a second), unless the station, never told, reassociates first
	// (its frames to a removed station draw a deauthentication from the
	// kernel): then a new connection is reported.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := QueryStation(dctx, w.ctrl, "wlan0", mustMAC(t, w.staMAC))
		if errors.Is(err, ErrNoStation) {
			t.Log("hostapd freed the station entry")
			break
		}
		select {
		case ev := <-events:
			if ev.Kind == Connected && ev.MAC.String() == w.staMAC {
				t.Logf("the station reassociated after DEAUTHENTICATE tx=0: %v", ev)
				deadline = time.Time{}
			}
		default:
		}
		if deadline.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hostapd still knows the station 10 s after DEAUTHENTICATE tx=0 (%v), and it did not reassociate", err)
		}
	}
	if s := mon.Stats(); s.Malformed != 0 || s.Dropped != 0 {
		t.Errorf("stats %+v: nothing should be malformed or dropped", s)
	}
	t.Logf("monitor stats: %+v", mon.Stats())
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func countInFile(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), s)
}
