package hostapd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/internal/syncbuf"
	"github.com/openpmip/pmip/mag/hostapd/hostapdtest"
)

// The monitor against a fake hostapd control socket (hostapdtest):
//
//	Monitor ──ATTACH/PING/STA/STA-FIRST/STA-NEXT/DEAUTHENTICATE──► DIR/wlan0 (hostapdtest.AP)
//	   │    ◄──────────────────── "<3>AP-STA-..." events ───────────┘
//	   └──► Handle(Event) ──► events channel (the test)

const (
	sta1 = "02:00:00:00:01:00"
	sta2 = "02:00:00:00:02:00"
	sta3 = "02:00:00:00:03:00"
)

type monitorRig struct {
	t      *testing.T
	dir    string
	clk    *clocktest.Clock
	mon    *Monitor
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	known []net.HardwareAddr
	block chan struct{} // non-nil: Handle waits on it
}

func newMonitorRig(t *testing.T, dir string, tweak func(*MonitorConfig)) *monitorRig {
	t.Helper()
	r := &monitorRig{t: t, dir: dir, clk: clocktest.New(time.Unix(1e9, 0)), events: make(chan Event, 4096), done: make(chan struct{})}
	cfg := MonitorConfig{
		CtrlDir: dir, Interfaces: []string{"wlan0"}, Clock: r.clk,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Handle: func(ev Event) {
			r.mu.Lock()
			block := r.block
			r.mu.Unlock()
			if block != nil {
				<-block
			}
			r.events <- ev
		},
		Known: func(bss string) []net.HardwareAddr {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.known
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := NewMonitor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.mon = m
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); m.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *monitorRig) stop() {
	r.cancel()
	<-r.done
}

// eventually advances the fake clock in small steps until cond holds:
// the monitor's goroutines react to real socket I/O, so the test polls
// for their effect rather than sleeping for a timer.
func (r *monitorRig) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; stats %+v", what, r.mon.Stats())
		}
		r.clk.Advance(50 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
	}
}

// waitFor only polls (no clock advance).
func (r *monitorRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; stats %+v", what, r.mon.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *monitorRig) next() Event {
	r.t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(10 * time.Second):
		r.t.Fatalf("no event; stats %+v", r.mon.Stats())
	}
	return Event{}
}

func (r *monitorRig) expect(want ...Event) {
	r.t.Helper()
	for _, w := range want {
		if diff := cmp.Diff(w, r.next(), ignoreTiming); diff != "" {
			r.t.Fatalf("event (-want +got):\n%s", diff)
		}
	}
}

func (r *monitorRig) none() {
	r.t.Helper()
	select {
	case ev := <-r.events:
		r.t.Fatalf("unexpected event %v", ev)
	default:
	}
}

// ignoreTiming leaves out when the monitor read an event and how long
// its query took (TestMonitorEventTiming checks those).
var ignoreTiming = cmpopts.IgnoreFields(Event{}, "Seen", "Query")

// hostapd busy with the association it reported answers the STA query
// late (2.2 s once in a loaded QEMU guest): the monitor waits for the
// identity rather than delivering the station without it.
func TestMonitorSlowIdentity(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	r := newMonitorRig(t, dir, nil)
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 })
	r.waitFor("resync", func() bool { return r.mon.Stats().Resyncs == 1 })
	ap.BeforeAnswer(func(req string) {
		if strings.HasPrefix(req, "STA ") {
			time.Sleep(ctrlTimeout + 200*time.Millisecond) // hostapd busy, in real time: the socket's deadline is
		}
	})
	ap.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "bob@example.org", AKM: "00-0f-ac-3"})
	ap.Event("AP-STA-CONNECTED " + sta2)
	r.expect(connected(sta2, "bob@example.org", true))
	if s := r.mon.Stats(); s.QueryFailures != 0 {
		t.Errorf("QueryFailures = %d, want 0", s.QueryFailures)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func connected(m, identity string, fast bool) Event {
	return Event{Kind: Connected, Interface: "wlan0", MAC: mac(m), Identity: identity, Source: SourceCtrl, FastReassoc: fast}
}

func disconnected(m string) Event {
	return Event{Kind: Disconnected, Interface: "wlan0", MAC: mac(m), Source: SourceCtrl}
}

func TestMonitorEvents(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	// Associated before the MAG started: found by the first listing.
	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "alice@example.org", AKM: "00-0f-ac-1"})
	// Associated, not yet authorized: its event is still to come.
	ap.SetStation(hostapdtest.Station{MAC: sta3})
	r := newMonitorRig(t, dir, nil)
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 })
	r.expect(connected(sta1, "alice@example.org", false))
	r.waitFor("resync", func() bool { return r.mon.Stats().Resyncs == 1 })
	if got := r.mon.Stats().Attached; got != 1 {
		t.Errorf("Attached = %d, want 1", got)
	}

	// A full EAP association: no hint.
	ap.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "bob@example.org", AKM: "00-0f-ac-3"})
	for _, e := range []string{"CTRL-EVENT-EAP-STARTED " + sta2, "CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=1",
		"CTRL-EVENT-EAP-SUCCESS " + sta2, "EAPOL-4WAY-HS-COMPLETED " + sta2, "AP-STA-CONNECTED " + sta2} {
		ap.Event(e)
	}
	r.expect(connected(sta2, "bob@example.org", false))

	// A station that was in hostapd's table, unauthorized, when the
	// monitor attached may have begun EAP unseen: its connection gets no
	// hint.
	ap.SetStation(hostapdtest.Station{MAC: sta3, Authorized: true, Identity: "carol@example.org", AKM: "00-0f-ac-3"})
	ap.Event("AP-STA-CONNECTED " + sta3)
	r.expect(connected(sta3, "carol@example.org", false))

	// A connection without EAP since the station's last disconnection
	// here is a fast reassociation (FT, PMKSA cache).
	ap.Event("AP-STA-DISCONNECTED " + sta2)
	ap.Event("AP-STA-CONNECTED " + sta2 + " keyid=x")
	r.expect(disconnected(sta2), connected(sta2, "bob@example.org", true))
	ap.Event("AP-STA-DISCONNECTED " + sta3)
	r.expect(disconnected(sta3))
	if got := r.mon.Stats().FastReassoc; got != 1 {
		t.Errorf("FastReassoc = %d, want 1", got)
	}

	// Malformed datagrams are counted and logged, and change nothing.
	for _, junk := range []string{"garbage", "<3>", "<3>AP-STA-CONNECTED 02:00", "<3>AP-STA-CONNECTED \xff"} {
		ap.Raw([]byte(junk))
	}
	ap.Raw(make([]byte, 4000))
	ap.Event("AP-STA-DISCONNECTED " + sta1)
	r.expect(disconnected(sta1))
	if s := r.mon.Stats(); s.Malformed != 5 {
		t.Errorf("Malformed = %d, want 5", s.Malformed)
	}
	if s := r.mon.Stats(); s.Events != 10 {
		t.Errorf("Events = %d, want 10", s.Events)
	}

	// A station hostapd cannot tell about: the event goes without
	// an identity, as the action hook's does.
	ap.Event("AP-STA-CONNECTED 02:00:00:00:09:00")
	r.expect(connected("02:00:00:00:09:00", "", true))
	if s := r.mon.Stats(); s.QueryFailures != 1 {
		t.Errorf("QueryFailures = %d, want 1", s.QueryFailures)
	}
	r.none()

	// Stopping detaches politely.
	r.stop()
	r.waitFor("DETACH", func() bool { return ap.Count("DETACH") == 1 && ap.Monitors() == 0 })
}

// The monitor stamps each event with the instant it read it (Seen) and a
// Connected event with the time its STA query took (Query): hostapd,
// busy after AP-STA-CONNECTED, answers late. The log line about the
// connection carries the instant the event was ready, written after the
// delivery (Handle runs first: the MAG sends its PBU from there).
func TestMonitorEventTiming(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	var logged syncbuf.Buffer
	r := newMonitorRig(t, dir, func(c *MonitorConfig) {
		c.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 })
	r.waitFor("resync", func() bool { return r.mon.Stats().Resyncs == 1 })

	const busy = 40 * time.Millisecond
	ap.BeforeAnswer(func(req string) {
		if strings.HasPrefix(req, "STA ") {
			r.clk.Advance(busy)
		}
	})
	ap.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "bob@example.org", AKM: "00-0f-ac-3"})
	read := r.clk.Now()
	ap.Event("AP-STA-CONNECTED " + sta2)
	ev := r.next()
	if !ev.Seen.Equal(read) || ev.Query != busy {
		t.Errorf("Seen %v Query %v, want %v and %v", ev.Seen, ev.Query, read, busy)
	}
	r.waitFor("the connection's log line", func() bool { return strings.Contains(logged.String(), "station connected") })
	line := logged.String()
	if want := read.Add(busy).UTC().Format("2006-01-02T15:04:05.000Z07:00"); !strings.Contains(line, want) || !strings.Contains(line, "query=40ms") {
		t.Errorf("log line %q: want time %s and query=40ms", line, want)
	}

	ap.BeforeAnswer(nil)
	ap.Event("AP-STA-DISCONNECTED " + sta2)
	if ev := r.next(); ev.Kind != Disconnected || !ev.Seen.Equal(r.clk.Now()) || ev.Query != 0 {
		t.Errorf("disconnection %+v: want Seen %v and no query", ev, r.clk.Now())
	}
}

// hostapd restarts: the monitor's PING fails, it attaches to the new
// socket, lists the stations and reports what changed while it was away.
func TestMonitorReattachAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "alice@example.org"})
	ap.SetStation(hostapdtest.Station{MAC: sta2, Authorized: true, Identity: "bob@example.org"})
	r := newMonitorRig(t, dir, nil)
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 })
	got := map[string]Event{}
	for range 2 {
		ev := r.next()
		got[ev.MAC.String()] = ev
	}
	if diff := cmp.Diff(map[string]Event{sta1: connected(sta1, "alice@example.org", false), sta2: connected(sta2, "bob@example.org", false)}, got, ignoreTiming); diff != "" {
		t.Fatalf("first listing (-want +got):\n%s", diff)
	}
	r.mu.Lock()
	r.known = []net.HardwareAddr{mac(sta1), mac(sta2)}
	r.mu.Unlock()

	// hostapd goes away; meanwhile sta2 leaves and sta3 arrives.
	ap.Stop()
	r.eventually("the loss to be noticed", func() bool { return r.mon.Stats().Lost == 1 && r.mon.Stats().Attached == 0 })
	r.eventually("attach attempts to fail", func() bool { return r.mon.Stats().AttachFailures >= 2 })
	ap2 := hostapdtest.Start(t, dir, "wlan0")
	ap2.SetStation(hostapdtest.Station{MAC: sta3, Authorized: true, Identity: "carol@example.org"})
	ap2.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "alice@example.org"})
	r.eventually("re-attach", func() bool { return ap2.Monitors() == 1 })
	r.expect(connected(sta1, "alice@example.org", false), connected(sta3, "carol@example.org", false), disconnected(sta2))
	r.waitFor("resync", func() bool { return r.mon.Stats().Resyncs == 2 })
	r.none()

	// The new attachment works.
	ap2.Event("AP-STA-DISCONNECTED " + sta3)
	r.expect(disconnected(sta3))
	if s := r.mon.Stats(); s.Attaches != 2 {
		t.Errorf("Attaches = %d, want 2", s.Attaches)
	}
}

// A hostapd that stops answering PING (wedged, or it forgot us while
// its socket stayed) is attached to again.
func TestMonitorPingTimeout(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	r := newMonitorRig(t, dir, nil)
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 })
	r.waitFor("first resync", func() bool { return r.mon.Stats().Resyncs == 1 })

	// Answered PINGs keep the attachment.
	r.eventually("two PINGs", func() bool { return ap.Count("PING") >= 2 })
	if s := r.mon.Stats(); s.Lost != 0 || s.Attaches != 1 {
		t.Fatalf("answered PINGs: %+v", s)
	}
	ap.SilentPing(true)
	r.eventually("a second attach", func() bool { return ap.Count("ATTACH") == 2 })
	if s := r.mon.Stats(); s.Lost != 1 {
		t.Errorf("Lost = %d, want 1", s.Lost)
	}
	r.waitFor("second resync", func() bool { return r.mon.Stats().Resyncs == 2 })
}

// Events beyond the queue are dropped without blocking the reader, and a
// resync afterwards recovers the stations' state.
func TestMonitorQueueOverflow(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	r := newMonitorRig(t, dir, func(c *MonitorConfig) { c.QueueLen = 4 })
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 && r.mon.Stats().Resyncs == 1 })
	block := make(chan struct{})
	r.mu.Lock()
	r.block = block
	r.mu.Unlock()
	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true, Identity: "alice@example.org"})
	const n = 40
	for i := range n {
		ap.Event(fmt.Sprintf("AP-STA-DISCONNECTED 02:00:00:00:%02x:01", i))
	}
	r.waitFor("the events to be read", func() bool { return r.mon.Stats().Events == n })
	if s := r.mon.Stats(); s.Dropped == 0 {
		t.Fatalf("nothing dropped with a queue of 4: %+v", s)
	}
	r.mu.Lock()
	r.block = nil
	r.mu.Unlock()
	close(block)
	r.waitFor("a resync", func() bool { return r.mon.Stats().Resyncs == 2 })
	// The resync reports the station whose event could have been lost.
	seen := false
	for len(r.events) > 0 {
		if ev := <-r.events; ev.Kind == Connected && ev.MAC.String() == sta1 {
			seen = true
		}
	}
	if !seen {
		t.Error("the resync after the overflow did not report the connected station")
	}
}

// DEAUTHENTICATE <mac> tx=0 removes the station at hostapd, which then
// reports it disconnected.
func TestMonitorDeauthenticate(t *testing.T) {
	dir := t.TempDir()
	ap := hostapdtest.Start(t, dir, "wlan0")
	ap.SetStation(hostapdtest.Station{MAC: sta1, Authorized: true})
	r := newMonitorRig(t, dir, nil)
	r.waitFor("attach", func() bool { return ap.Monitors() == 1 })
	r.expect(connected(sta1, "", false))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.mon.Deauthenticate(ctx, "wlan0", mac(sta1)); err != nil {
		t.Fatal(err)
	}
	r.expect(disconnected(sta1))
	if n := ap.Count("DEAUTHENTICATE " + sta1 + " tx=0"); n != 1 {
		t.Errorf("requests %q", ap.Requests())
	}
	if err := r.mon.Deauthenticate(ctx, "wlan9", mac(sta1)); err == nil {
		t.Error("Deauthenticate on an unmonitored BSS succeeded")
	}
	if s := r.mon.Stats(); s.Deauths != 1 {
		t.Errorf("Deauths = %d, want 1", s.Deauths)
	}
}

func TestNewMonitorChecks(t *testing.T) {
	h := func(Event) {}
	for _, cfg := range []MonitorConfig{
		{Interfaces: []string{"wlan0"}, Handle: h},
		{CtrlDir: "/x", Handle: h},
		{CtrlDir: "/x", Interfaces: []string{"wlan0"}},
		{CtrlDir: "/x", Interfaces: []string{"wl/an0"}, Handle: h},
		{CtrlDir: "/x", Interfaces: []string{"wlan0", "wlan0"}, Handle: h},
	} {
		if _, err := NewMonitor(cfg); err == nil {
			t.Errorf("NewMonitor(%+v) accepted", cfg)
		}
	}
}

// No hostapd at all: the monitor keeps trying, with backoff, and never
// fails.
func TestMonitorWaitsForHostapd(t *testing.T) {
	dir := t.TempDir()
	r := newMonitorRig(t, dir, nil)
	r.eventually("failed attempts", func() bool { return r.mon.Stats().AttachFailures >= 3 })
	ap := hostapdtest.Start(t, dir, "wlan0")
	r.eventually("attach", func() bool { return ap.Monitors() == 1 })
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
