package mag

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"github.com/openpmip/pmip/mag/sniff"
)

// Issue 4 and the budget runs: clients arriving all in the same instant
// (an AP rebooting, a classroom) are all registered and served, with the
// daemon's default limits, while the flood bounds stay (TestFloodBound,
// sniff and dhcpserver's flood tests).
//
//	n × (DHCPDISCOVER ─> dhcpserver.Server ─┐
//	     RS           ─> sniff.Sniffer    ──┴─> Engine ── LMA (test: accepts every PBU)
//	                                              └─> OFFER, RA to each
func TestSimultaneousArrivals(t *testing.T) {
	for _, tt := range []struct {
		clients, maxPending int
		within              time.Duration // of fake time, for the last PBU
	}{
		{clients: 64, maxPending: 64, within: 0},
		// Beyond the access side's burst (64), the rest queue and go at
		// 20 per second: 36 more in under 2 s.
		{clients: 100, maxPending: 128, within: 1800 * time.Millisecond},
	} {
		t.Run(fmt.Sprint(tt.clients), func(t *testing.T) {
			conf := strings.Replace(baseConf, "option max_pending_clients '4'",
				fmt.Sprintf("option max_pending_clients '%d'", tt.maxPending), 1)
			h := newHarness(t, conf, noHeartbeat)
			// The daemon's wiring (cmd/pmip-mag accessSide): defaults
			// but for the pending bounds, which are max_pending_clients.
			dconn := dhcpservertest.NewConn(4 * tt.clients)
			srv, err := dhcpserver.New(dhcpserver.Config{
				Engine: h.e.DHCPEngine("br-lan"), RouterMAC: h.cfg.LinkLayerAddress, Clock: h.clk,
				MaxPending: h.cfg.MaxPendingClients,
			}, dconn, nil)
			if err != nil {
				t.Fatal(err)
			}
			sn, err := sniff.New(sniff.Config{Interface: "br-lan", Conn: l2test.New(), Clock: h.clk,
				OnAttach: h.e.OnSniffAttach, OnDetach: h.e.OnSniffDetach, MaxPending: h.cfg.MaxPendingClients})
			if err != nil {
				t.Fatal(err)
			}
			defer sn.Close()
			if err := h.e.SetAccess("br-lan", AccessSide{RA: fakeRA{h.rec, "br-lan"}, DHCP: srv, Sniff: sn}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx) }()
			defer func() { cancel(); <-done }()

			macs := make([]net.HardwareAddr, tt.clients)
			for i := range macs {
				macs[i] = net.HardwareAddr{0x02, 0x42, 0, 0, 0, byte(i)}
				d, err := dhcpv4.NewDiscovery(macs[i])
				if err != nil {
					t.Fatal(err)
				}
				dconn.Inject(dhcpservertest.ClientFrame(macs[i], dhcpservertest.Broadcast,
					netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), d))
				sn.HandleFrame(l2test.RS(macs[i], netip.IPv6Unspecified()))
			}
			// The DHCP server reads on its own goroutine: wait (real
			// time) until it has handled every DISCOVER.
			deadline := time.Now().Add(10 * time.Second)
			for srv.Stats().Discovers < uint64(tt.clients) {
				if time.Now().After(deadline) {
					t.Fatalf("DHCP server read %d of %d DISCOVERs", srv.Stats().Discovers, tt.clients)
				}
				time.Sleep(time.Millisecond)
			}
			// The LMA accepts each registration at once, with its own
			// prefix and address, while fake time goes by.
			registered := map[string]bool{}
			for elapsed := time.Duration(0); ; elapsed += 50 * time.Millisecond {
				for h.lma.Pending() > 0 {
					p := h.nextPBU()
					ll, _ := mh.FirstOption[*mh.MobileNodeLinkLayerID](p.Options)
					mac := net.HardwareAddr(ll.ID)
					if registered[mac.String()] {
						t.Fatalf("%s registered twice", mac)
					}
					registered[mac.String()] = true
					i := int(mac[5])
					h.deliver(pba(p, mh.StatusAccepted, time.Hour,
						&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix(fmt.Sprintf("2001:db8:100:%x::/64", i))},
						&mh.IPv4HomeAddressReply{Status: mh.IPv4HoASuccess, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 20, 1, byte(i)}), 16)},
						&mh.IPv4DefaultRouterAddress{Addr: router1}))
				}
				if len(registered) == tt.clients || elapsed >= tt.within {
					break
				}
				h.clk.Advance(50 * time.Millisecond)
			}
			if st := h.e.Stats(); st.DroppedPending != 0 || srv.Stats().PendingFull != 0 || sn.Stats().DroppedPendingFull != 0 {
				t.Errorf("clients dropped: engine %d, dhcp %d, sniff %d", st.DroppedPending,
					srv.Stats().PendingFull, sn.Stats().DroppedPendingFull)
			}
			if len(registered) != tt.clients {
				t.Fatalf("%d of %d clients registered within %v", len(registered), tt.clients, tt.within)
			}
			offers := map[string]bool{}
			for range tt.clients {
				f, ok := dconn.Next(5 * time.Second)
				if !ok {
					break
				}
				sf, err := dhcpservertest.ParseServerFrame(f.Data)
				if err != nil || sf.Msg.MessageType() != dhcpv4.MessageTypeOffer {
					t.Fatalf("server sent %v (%v), want OFFERs", sf.Msg, err)
				}
				offers[sf.DstMAC.String()] = true
			}
			served := 0
			for _, ev := range h.rec.take() {
				if strings.Contains(ev, " ra serve ") {
					served++
				}
			}
			if len(offers) != tt.clients || served != tt.clients {
				t.Errorf("%d OFFERs and %d RAs for %d clients", len(offers), served, tt.clients)
			}
			if st := h.e.Stats(); st.PBUSent != uint64(tt.clients) || st.Accepted != uint64(tt.clients) {
				t.Errorf("%d PBUs, %d accepted for %d clients", st.PBUSent, st.Accepted, tt.clients)
			}
		})
	}
}
