package mag

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/magconfig"
	"github.com/openpmip/pmip/mag/sniff"
)

// waitConf is baseConf with identity_wait at 2 s: br-lan has the hostapd
// trigger (BSS wlan0), lan4 does not.
var waitConf = strings.Replace(baseConf, "option identity_wait '0'", "option identity_wait '2000'", 1)

const identityWait = 2 * time.Second

// RFC 5213 6.9.1.1 (the MAG identifies the mobile node, then registers
// it) and issue 4: a client heard by its own frames before hostapd's
// station event waits up to identity_wait for it, so that it registers
// once, under its 802.1X identity; without an event it registers under
// the MAC-derived identifier when the wait ends. Time is the fake clock.
func TestIdentityWait(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1")
	const (
		alice   = "alice@example.net"
		derived = "020000000001@ap.example.net"
	)
	rs := func(h *harness) {
		h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation, LinkLocal: ll})
	}
	discover := func(iface string) func(h *harness) {
		return func(h *harness) {
			h.e.DHCPEngine(iface).OnClientSeen(dhcpserver.Client{HardwareAddr: client1, MessageType: "DISCOVER"})
		}
	}
	station := func(kind hostapd.Kind, src hostapd.Source, identity string) func(h *harness) {
		return func(h *harness) {
			h.e.OnStation(hostapd.Event{Kind: kind, Interface: "wlan0", MAC: client1, Identity: identity, Source: src})
		}
	}
	connected := func(identity string) func(h *harness) {
		return station(hostapd.Connected, hostapd.SourceAction, identity)
	}
	after := func(d time.Duration) func(h *harness) { return func(h *harness) { h.clk.Advance(d) } }

	type step struct {
		do  func(h *harness)
		pbu string // MN-IDs of the PBUs this step must send, "" for none
	}
	tests := []struct {
		name     string
		edit     func(*magconfig.Config)
		steps    []step
		hi       mh.HandoffIndicator // of the registration
		timeouts uint64              // Stats.IdentityWaitTimeouts at the end
	}{
		{name: "hostapd first: registers at once with the identity, RS deduplicated",
			steps: []step{{connected(alice), alice}, {rs, ""}, {after(time.Minute), ""}},
			hi:    mh.HandoffStateUnknown},
		{name: "RS first, hostapd within the wait: one registration, under the identity",
			steps: []step{{rs, ""}, {after(identityWait - time.Millisecond), ""}, {connected(alice), alice}, {after(time.Minute), ""}},
			hi:    mh.HandoffStateUnknown},
		{name: "DISCOVER first: the registration keeps its evidence (new attachment)",
			steps: []step{{discover("br-lan"), ""}, {rs, ""}, {after(time.Second), ""}, {connected(alice), alice}},
			hi:    mh.HandoffNewInterface},
		{name: "RS only: the MAC-derived identifier once the wait is over",
			steps:    []step{{rs, ""}, {after(identityWait - time.Millisecond), ""}, {rs, ""}, {after(time.Millisecond), derived}, {after(time.Minute), ""}},
			hi:       mh.HandoffStateUnknown,
			timeouts: 1},
		{name: "link without the hostapd trigger: no wait",
			steps: []step{{discover("lan4"), derived}},
			hi:    mh.HandoffNewInterface},
		{name: "PSK network: hostapd reports no identity, registers at once",
			steps: []step{{rs, ""}, {connected(""), derived}, {after(time.Minute), ""}},
			hi:    mh.HandoffStateUnknown},
		{name: "PSK network, hostapd first",
			steps: []step{{connected(""), derived}, {rs, ""}},
			hi:    mh.HandoffStateUnknown},
		{name: "ubus: assoc does not end the wait, sta-authorized does",
			steps: []step{{rs, ""}, {station(hostapd.Connected, hostapd.SourceUbus, ""), ""}, {after(time.Second), ""},
				{station(hostapd.Authorized, hostapd.SourceUbus, alice), alice}},
			hi: mh.HandoffStateUnknown},
		{name: "identity not used by the policy: no wait",
			edit:  func(c *magconfig.Config) { c.Policy.Use8021XIdentity = false },
			steps: []step{{rs, derived}},
			hi:    mh.HandoffStateUnknown},
		{name: "client with its own identifier: no wait",
			edit: func(c *magconfig.Config) {
				c.Clients = append(c.Clients, magconfig.Client{MAC: client1, Serve: true, Identifier: "kiosk@example.net", IPv6: true})
			},
			steps: []step{{rs, "kiosk@example.net"}},
			hi:    mh.HandoffStateUnknown},
		{name: "hostapd identity arriving after the wait: registered again under it",
			steps: []step{{rs, ""}, {after(identityWait), derived}, {connected(alice), derived + " " + alice}},
			hi:    mh.HandoffStateUnknown, timeouts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, waitConf, func(c *magconfig.Config) {
				noHeartbeat(c)
				if tt.edit != nil {
					tt.edit(c)
				}
			})
			var reg *mh.ProxyBindingUpdate
			for i, s := range tt.steps {
				s.do(h)
				if s.pbu == "" {
					if n := h.lma.Pending(); n != 0 {
						t.Fatalf("step %d: %d PBUs, want none yet (first %v)", i, n, h.next())
					}
					continue
				}
				for _, want := range strings.Fields(s.pbu) {
					p := h.nextPBU()
					id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](p.Options)
					if id.String() != want {
						t.Fatalf("step %d: PBU with MN-ID %v, want %s", i, id, want)
					}
					if p.Lifetime != 0 {
						reg = p
					}
					// The LMA answers at once: no retransmission.
					h.deliver(pba(p, mh.StatusAccepted, p.Lifetime, grant()...))
				}
				if n := h.lma.Pending(); n != 0 {
					t.Fatalf("step %d: %d more PBUs than %q (first %v)", i, n, s.pbu, h.next())
				}
			}
			if reg == nil {
				t.Fatal("no registration")
			}
			if hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](reg.Options); hi.HI != tt.hi {
				t.Errorf("handoff indicator %v, want %v", hi.HI, tt.hi)
			}
			if s := h.e.Stats(); s.IdentityWaitTimeouts != tt.timeouts {
				t.Errorf("identity wait timeouts %d, want %d", s.IdentityWaitTimeouts, tt.timeouts)
			}
		})
	}
}

// The hostapd-ended wait keeps what the held RS showed: the RA goes to
// the link-local address the client solicited from.
func TestIdentityWaitKeepsLinkLocal(t *testing.T) {
	h := newHarness(t, waitConf, noHeartbeat)
	ll := netip.MustParseAddr("fe80::77")
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation, LinkLocal: ll})
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Identity: "alice@example.net", Source: hostapd.SourceAction})
	h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour, grant()...))
	if ev := h.rec.take(); !contains(ev, "br-lan ra serve 02:00:00:00:00:01 ll=fe80::77") {
		t.Errorf("RA not to the held RS's link-local: %v", ev)
	}
}

// A station that leaves while it waits registers nothing, and its access
// side forgets it so its next frame is a new trigger.
func TestIdentityWaitDisconnect(t *testing.T) {
	h := newHarness(t, waitConf, noHeartbeat)
	h.e.OnSniffAttach(rsTrigger(client1))
	h.rec.take()
	h.e.OnStation(hostapd.Event{Kind: hostapd.Disconnected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceAction})
	want := []string{"br-lan dhcp forget 02:00:00:00:00:01", "br-lan sniff forget 02:00:00:00:00:01"}
	if diff := cmp.Diff(want, h.rec.take()); diff != "" {
		t.Errorf("access side (-want +got):\n%s", diff)
	}
	h.clk.Advance(time.Minute)
	h.quiet()
	h.e.mu.Lock()
	holds := len(h.e.holds)
	h.e.mu.Unlock()
	if holds != 0 {
		t.Errorf("%d clients still waiting", holds)
	}
}

// The pending-client bound counts the waiting clients: a flood of RSs
// from random MACs holds at most max_pending_clients (4) of them.
func TestIdentityWaitBound(t *testing.T) {
	h := newHarness(t, waitConf, noHeartbeat)
	for i := range 10 {
		h.e.OnSniffAttach(rsTrigger([]byte{0x02, 0xff, 0, 0, 0, byte(i + 1)}))
	}
	if s := h.e.Stats(); s.IdentityWaits != 4 || s.DroppedPending != 6 {
		t.Errorf("%d waiting, %d dropped; want 4 and 6", s.IdentityWaits, s.DroppedPending)
	}
	// hostapd's event for a waiting client takes its place, not another.
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: []byte{0x02, 0xff, 0, 0, 0, 1},
		Identity: "alice@example.net", Source: hostapd.SourceAction})
	h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour, grant()...))
	h.quiet()
	h.clk.Advance(identityWait)
	for range 3 {
		if id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](h.nextPBU().Options); !strings.HasPrefix(id.String(), "02ff") {
			t.Errorf("PBU for %v", id)
		}
	}
	h.quiet()
}

// A station hostapd reported registers again under its identity at once
// when it comes back after its binding ended (here a rejection's
// hold-off), while it is still associated.
func TestStationRemembered(t *testing.T) {
	h := newHarness(t, waitConf, noHeartbeat)
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Identity: "alice@example.net", Source: hostapd.SourceAction})
	h.deliver(pba(h.nextPBU(), mh.StatusInsufficientResources, 0))
	h.clk.Advance(RejectHoldoff + time.Second)
	h.e.OnSniffAttach(rsTrigger(client1))
	p := h.nextPBU()
	if id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](p.Options); id.String() != "alice@example.net" {
		t.Errorf("re-registration under %v, want the station's identity", id)
	}
	// Once it disconnects, hostapd's knowledge is gone: a new client
	// with this MAC waits again.
	h.e.OnStation(hostapd.Event{Kind: hostapd.Disconnected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceAction})
	h.nextPBU() // the deregistration of the registration in flight
	h.e.OnSniffAttach(rsTrigger(client1))
	h.quiet()
	if s := h.e.Stats(); s.IdentityWaits != 1 {
		t.Errorf("identity waits %d, want 1", s.IdentityWaits)
	}
}

// With hostapd's control interface (Options.StationQuery) the wait ends
// as soon as the client is heard, when hostapd already knows it
// authorized: the hook's event need not come (it may never, for stations
// associated before the MAG started). A station hostapd does not know or
// has not authorized yet keeps waiting for the event or the timeout.
func TestIdentityQuery(t *testing.T) {
	const alice = "alice@example.net"
	tests := []struct {
		name     string
		stations map[string]hostapd.Station // by BSS
		unknown  bool                       // hostapd knows no such station
		silent   bool                       // no hostapd answers
		now      string                     // MN-ID registered at once, "" for a wait
		after    string                     // MN-ID registered when the wait is over
	}{
		{name: "authorized, with identity", stations: map[string]hostapd.Station{"wlan0": {Identity: alice, Authorized: true}}, now: alice},
		{name: "authorized on the second BSS", stations: map[string]hostapd.Station{"wlan1": {Identity: alice, Authorized: true}}, now: alice},
		{name: "authorized, PSK", stations: map[string]hostapd.Station{"wlan0": {Authorized: true}}, now: "020000000001@ap.example.net"},
		{name: "not yet authorized", stations: map[string]hostapd.Station{"wlan0": {}}, after: "020000000001@ap.example.net"},
		{name: "unknown to every BSS: a wired host, no wait", unknown: true, now: "020000000001@ap.example.net"},
		{name: "hostapd does not answer", silent: true, after: "020000000001@ap.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := strings.Replace(waitConf, "list hostapd_iface 'wlan0'", "list hostapd_iface 'wlan0'\n\tlist hostapd_iface 'wlan1'", 1)
			asked := make(chan string, 4)
			h := newHarness(t, conf, func(c *magconfig.Config) { c.HeartbeatInterval = 0 })
			h.e.opts.StationQuery = func(ctx context.Context, bss string, mac net.HardwareAddr) (hostapd.Station, error) {
				defer func() { asked <- bss }()
				if mac.String() != client1.String() {
					return hostapd.Station{}, fmt.Errorf("asked for %v", mac)
				}
				st, ok := tt.stations[bss]
				switch {
				case tt.silent:
					return hostapd.Station{}, context.DeadlineExceeded
				case !ok && (tt.unknown || len(tt.stations) > 0):
					return hostapd.Station{}, hostapd.ErrNoStation
				case !ok:
					return hostapd.Station{}, errors.New("no control socket")
				}
				return st, nil
			}
			sent := len(h.net.Packets())
			h.e.OnSniffAttach(rsTrigger(client1))
			if tt.now != "" {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := h.net.WaitSent(ctx, sent+1); err != nil {
					t.Fatalf("no registration after hostapd's answer: %v", err)
				}
				// transporttest counts a packet sent before it queues
				// it at the receiver: wait for the queue too.
				for h.lma.Pending() == 0 && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				p := h.nextPBU()
				if id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](p.Options); id.String() != tt.now {
					t.Errorf("registered under %v, want %s", id, tt.now)
				}
				h.deliver(pba(p, mh.StatusAccepted, time.Hour, grant()...))
				if s := h.e.Stats(); s.IdentityQueried+s.IdentityNotStation != 1 || (s.IdentityNotStation == 1) != tt.unknown {
					t.Errorf("IdentityQueried %d, IdentityNotStation %d", s.IdentityQueried, s.IdentityNotStation)
				}
				h.clk.Advance(identityWait) // no second registration
				h.quiet()
				return
			}
			for range 2 { // both BSSs asked, or the one that answered
				select {
				case <-asked:
				case <-time.After(5 * time.Second):
					t.Fatal("hostapd not asked")
				}
				if _, known := tt.stations["wlan0"]; known {
					break
				}
			}
			// After a negative answer the engine does nothing more: no
			// registration before the wait is over.
			h.quiet()
			h.clk.Advance(identityWait)
			if id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](h.nextPBU().Options); id.String() != tt.after {
				t.Errorf("registered under %v after the wait, want %s", id, tt.after)
			}
			h.quiet()
		})
	}
}
