package mag

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/sniff"
)

// A MAG that stops deregisters every client (RFC 5213 6.9.1.4): one
// lifetime-0 PBU per binding the LMA may hold (registered, or registering
// with its PBU out), retransmitted (RFC 5213 6.9.4) until answered or
// given up; final RAs to the served clients (RFC 4861 6.2.5); clients
// held off or waiting for their identity are only forgotten; nothing new
// registers afterwards. Time is the fake clock: the retransmissions and
// the give-up come from Advance.
func TestDeregisterAll(t *testing.T) {
	var (
		registered  = client1
		registering = client2
		rejected    = net.HardwareAddr{0x02, 0, 0, 0, 0, 3}
		waiting     = net.HardwareAddr{0x02, 0, 0, 0, 0, 4}
		late        = net.HardwareAddr{0x02, 0, 0, 0, 0, 5}
	)
	for _, tt := range []struct {
		name   string
		finish func(h *harness, dereg map[string]*mh.ProxyBindingUpdate, cancel func())
		want   int // DeregisterAll's result
	}{
		{name: "both answered", want: 0, finish: func(h *harness, dereg map[string]*mh.ProxyBindingUpdate, _ func()) {
			h.deliver(pba(dereg[registered.String()], mh.StatusAccepted, 0))
			h.deliver(pba(dereg[registering.String()], mh.StatusAccepted, 0))
		}},
		{name: "one answered, one given up after the backoff", want: 0, finish: func(h *harness, dereg map[string]*mh.ProxyBindingUpdate, _ func()) {
			h.deliver(pba(dereg[registered.String()], mh.StatusAccepted, 0))
			h.clk.Advance(2 * time.Minute)
			// 1.5 + 3 + 6 + 12 + 24 s, then 32 s: five retransmissions.
			retx := 0
			for h.lma.Pending() > 0 {
				if p := h.nextPBU(); p.Lifetime == 0 {
					retx++
				}
			}
			if retx != 5 {
				t.Errorf("%d retransmissions of the unanswered deregistration, want 5", retx)
			}
		}},
		{name: "unanswered when the deadline comes", want: 2, finish: func(h *harness, _ map[string]*mh.ProxyBindingUpdate, cancel func()) {
			cancel()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, waitConf, noHeartbeat)
			// registered: hostapd with its identity, PBA accepted.
			h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: registered, Identity: "alice@example.net", Source: hostapd.SourceAction})
			h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour, grant()...))
			// registering: its PBU unanswered.
			h.e.DHCPEngine("lan4").OnClientSeen(dhcpClient(registering, "DISCOVER", netip.Addr{}))
			h.nextPBU()
			// rejected and held off.
			h.e.DHCPEngine("lan4").OnClientSeen(dhcpClient(rejected, "DISCOVER", netip.Addr{}))
			h.deliver(pba(h.nextPBU(), mh.StatusNotLMAForThisMobileNode, 0))
			// waiting for hostapd.
			h.e.OnSniffAttach(sniff.Trigger{MAC: waiting, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
			h.quiet()
			h.rec.take()

			sent := len(h.net.Packets())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			result := make(chan int, 1)
			go func() { result <- h.e.DeregisterAll(ctx) }()

			// The PBUs go out before DeregisterAll waits.
			dereg := map[string]*mh.ProxyBindingUpdate{}
			wctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := h.net.WaitSent(wctx, sent+2)
			stop()
			if err != nil {
				t.Fatalf("deregistration PBUs: %v", err)
			}
			for range 2 {
				p := h.nextPBU()
				if p.Lifetime != 0 {
					t.Fatalf("engine sent %v, want a deregistration", p)
				}
				ll, _ := mh.FirstOption[*mh.MobileNodeLinkLayerID](p.Options)
				dereg[net.HardwareAddr(ll.ID).String()] = p
			}
			if dereg[registered.String()] == nil || dereg[registering.String()] == nil {
				t.Fatalf("deregistrations for %v, want the registered and the registering client", slices.Collect(maps.Keys(dereg)))
			}
			if id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](dereg[registered.String()].Options); id.String() != "alice@example.net" {
				t.Errorf("deregistration under %v, want the binding's NAI", id)
			}
			select {
			case n := <-result:
				t.Fatalf("DeregisterAll returned %d before the answers", n)
			case <-time.After(10 * time.Millisecond):
			}

			// Nothing registers any more.
			h.e.OnSniffAttach(sniff.Trigger{MAC: late, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
			h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: waiting, Identity: "bob@example.net", Source: hostapd.SourceAction})

			tt.finish(h, dereg, cancel)
			select {
			case n := <-result:
				if n != tt.want {
					t.Errorf("DeregisterAll = %d, want %d", n, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("DeregisterAll did not return")
			}
			h.quiet()
			ev := strings.Join(h.rec.take(), "\n")
			for _, want := range []string{
				"br-lan ra withdraw " + registered.String(), // final RAs
				"lan4 ra forget " + registering.String(),
				"lan4 ra forget " + rejected.String(),
				"br-lan sniff forget " + waiting.String(),
			} {
				if !strings.Contains(ev, want) {
					t.Errorf("access side not told %q:\n%s", want, ev)
				}
			}
			if s := h.e.Stats(); s.Deregistrations != 2 {
				t.Errorf("%d deregistrations, want 2", s.Deregistrations)
			}
			if n := len(h.e.Bindings()); n != 0 {
				t.Errorf("%d bindings left", n)
			}
			if strings.Contains(h.dp.String(), "2001:db8:100:1::/64") {
				t.Errorf("the served client's data plane stayed:\n%s", h.dp.String())
			}
		})
	}
}

// DeregisterAll after Run has ended returns at once: no acknowledgement
// can be read any more.
func TestDeregisterAllAfterRun(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.register1(time.Hour)
	h.e.shutdown() // what Run does when it returns
	done := make(chan int, 1)
	go func() { done <- h.e.DeregisterAll(context.Background()) }()
	select {
	case n := <-done:
		if n != 1 {
			t.Errorf("DeregisterAll = %d, want the 1 unanswerable deregistration", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DeregisterAll waits for a Run that ended")
	}
}
