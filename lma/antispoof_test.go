package lma

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
)

// The data plane changes of each session event, in the order the engine
// hands them to the kernel, with the uplink check of RFC 5213 5.6.2 (each
// route's source allowed on its tunnel; a tunnel checked once its first
// sources are in, unchecked before it goes). The harness's topology:
// ap1 and ap2 on IPv6, ap4 on IPv4 transport, one LMA.
func TestDataplaneOps(t *testing.T) {
	t1, t2, t4 := tun1(), tun2(), tunnelName(3, ap4Addr.Addr())
	v6 := func(dev string) string { return "2001:db8:100::/64 dev " + dev + " table 254 metric 1024" }
	tests := []struct {
		name string
		// setup runs before the recording starts; act is what is
		// recorded.
		setup, act func(h *harness)
		want       []string
		// wantGRE, when set, gives want from the GRE session's uplink
		// key (the LMA picks it at random).
		wantGRE func(up uint32) []string
	}{
		{
			name: "RFC 5213 5.3.2: registration creates the MAG's tunnel, then routes, sources, the check",
			act:  func(h *harness) { h.register(h.ap1, h.newPBU("alice@example.net")) },
			want: []string{
				"add tunnel " + t1 + " ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:1::2 hoplimit 64",
				"replace route " + v6(t1),
				"add filter tunnel-source " + t1 + " 2001:db8:100::/64",
				"add filter tunnel " + t1,
			},
		},
		{
			name:  "RFC 5213 5.6.1: a second client of the same MAG shares its tunnel, already checked",
			setup: func(h *harness) { h.register(h.ap1, h.newPBU("alice@example.net")) },
			act:   func(h *harness) { h.register(h.ap1, h.newPBU("bob@example.net", llid(mac2))) },
			want: []string{
				"replace route 2001:db8:100:1::/64 dev " + t1 + " table 254 metric 1024",
				"add filter tunnel-source " + t1 + " 2001:db8:100:1::/64",
			},
		},
		{
			name:  "RFC 5213 5.3.3: a refresh changes nothing",
			setup: func(h *harness) { h.register(h.ap1, h.newPBU("alice@example.net")) },
			act: func(h *harness) {
				h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp("2001:db8:100::/64")))
			},
		},
		{
			name:  "RFC 5213 5.3.4: a handoff moves route and source to the new MAG's tunnel, the old one goes",
			setup: func(h *harness) { h.register(h.ap1, h.newPBU("alice@example.net")) },
			act: func(h *harness) {
				h.register(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp("2001:db8:100::/64")))
				h.advance(oldTunnelLinger) // the old tunnel lingers (tunnels.go)
			},
			want: []string{
				"add tunnel " + t2 + " ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:2::2 hoplimit 64",
				"replace route " + v6(t2),
				"add filter tunnel-source " + t2 + " 2001:db8:100::/64",
				"add filter tunnel " + t2,
				"del filter tunnel-source " + t1 + " 2001:db8:100::/64",
				"del filter tunnel " + t1,
				"del tunnel " + t1 + " ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:1::2 hoplimit 64",
			},
		},
		{
			name:  "RFC 5213 5.3.5: deregistration removes routes, sources, then the unchecked tunnel",
			setup: func(h *harness) { h.register(h.ap1, h.newPBU("alice@example.net")) },
			act: func(h *harness) {
				h.register(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp("2001:db8:100::/64"), hi(mh.HandoffStateNotChanged)))
				h.advance(10 * time.Second) // MinDelayBeforeBCEDelete
			},
			want: []string{
				"del route " + v6(t1),
				"del filter tunnel-source " + t1 + " 2001:db8:100::/64",
				"del filter tunnel " + t1,
				"del tunnel " + t1 + " ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:1::2 hoplimit 64",
			},
		},
		{
			name: "RFC 5845 3: GRE sessions share the flow-based device, checked like any tunnel",
			act: func(h *harness) {
				h.register(h.ap1, h.newPBU("printer@example.net", with(&mh.GREKey{HasKey: true, Key: 0x1234}), v4req("0.0.0.0/0")))
			},
			wantGRE: func(up uint32) []string {
				return []string{
					"add tunnel pmip-gre6 ip6gre external",
					"replace route 2001:db8:200:1::/64 encap ip6 id 4660 key dst 2001:db8:1:1::2 src 2001:db8:ffff::1 hoplimit 64 dev pmip-gre6 table 254 metric 1024",
					"replace route 10.30.0.5/32 encap ip6 id 4660 key dst 2001:db8:1:1::2 src 2001:db8:ffff::1 hoplimit 64 dev pmip-gre6 table 254",
					"add filter tunnel-source pmip-gre6 2001:db8:200:1::/64",
					"add filter tunnel-source pmip-gre6 10.30.0.5/32",
					"add filter tunnel pmip-gre6",
					fmt.Sprintf("add filter gre-source 2001:db8:1:1::2 key %d 2001:db8:200:1::/64", up),
					fmt.Sprintf("add filter gre-source 2001:db8:1:1::2 key %d 10.30.0.5/32", up),
					"add filter gre-peer 2001:db8:1:1::2",
				}
			},
		},
		{
			name: "RFC 5845 3: a new downlink key replaces the routes; the source stays on the device",
			setup: func(h *harness) {
				h.register(h.ap1, h.newPBU("printer@example.net", with(&mh.GREKey{HasKey: true, Key: 0x1234}), v4req("0.0.0.0/0")))
			},
			act: func(h *harness) {
				h.register(h.ap1, h.newPBU("printer@example.net", hi(mh.HandoffStateNotChanged), hnp("2001:db8:200:1::/64"),
					with(&mh.GREKey{HasKey: true, Key: 0x99}), v4req("10.30.0.5/32")))
			},
			want: []string{
				"replace route 2001:db8:200:1::/64 encap ip6 id 153 key dst 2001:db8:1:1::2 src 2001:db8:ffff::1 hoplimit 64 dev pmip-gre6 table 254 metric 1024",
				"replace route 10.30.0.5/32 encap ip6 id 153 key dst 2001:db8:1:1::2 src 2001:db8:ffff::1 hoplimit 64 dev pmip-gre6 table 254",
			},
		},
		{
			name: "RFC 5845 3, RFC 5844 4: a GRE session moving to a MAG on IPv4 moves to the IPv4 GRE device",
			setup: func(h *harness) {
				h.register(h.ap1, h.newPBU("printer@example.net", with(&mh.GREKey{HasKey: true, Key: 0x1234}), v4req("0.0.0.0/0")))
			},
			act: func(h *harness) {
				h.register(h.ap4, h.newPBU("printer@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp("2001:db8:200:1::/64"),
					with(&mh.GREKey{HasKey: true, Key: 0x99}, &mh.IPv4CareOfAddress{Addr: ap4Addr.Addr()}), v4req("10.30.0.5/32")))
				h.advance(oldTunnelLinger) // the old device lingers (tunnels.go)
			},
			// The uplink key stays with the session; the MAG changes.
			wantGRE: func(up uint32) []string {
				return []string{
					"add tunnel pmip-gre4 gre external",
					"replace route 2001:db8:200:1::/64 encap ip id 153 key dst 198.51.100.22 src 198.51.100.1 hoplimit 64 dev pmip-gre4 table 254 metric 1024",
					"replace route 10.30.0.5/32 encap ip id 153 key dst 198.51.100.22 src 198.51.100.1 hoplimit 64 dev pmip-gre4 table 254",
					"add filter tunnel-source pmip-gre4 2001:db8:200:1::/64",
					"add filter tunnel-source pmip-gre4 10.30.0.5/32",
					"add filter tunnel pmip-gre4",
					fmt.Sprintf("add filter gre-source 198.51.100.22 key %d 2001:db8:200:1::/64", up),
					fmt.Sprintf("add filter gre-source 198.51.100.22 key %d 10.30.0.5/32", up),
					"add filter gre-peer 198.51.100.22",
					"del filter tunnel-source pmip-gre6 2001:db8:200:1::/64",
					"del filter tunnel-source pmip-gre6 10.30.0.5/32",
					fmt.Sprintf("del filter gre-source 2001:db8:1:1::2 key %d 2001:db8:200:1::/64", up),
					fmt.Sprintf("del filter gre-source 2001:db8:1:1::2 key %d 10.30.0.5/32", up),
					"del filter gre-peer 2001:db8:1:1::2",
					"del filter tunnel pmip-gre6",
					"del tunnel pmip-gre6 ip6gre external",
				}
			},
		},
		{
			name: "RFC 5844 4: IPv4 transport, IPv6 and IPv4 home addresses through the sit tunnel",
			act: func(h *harness) {
				h.register(h.ap4, h.newPBU("alice@example.net", with(&mh.IPv4CareOfAddress{Addr: ap4Addr.Addr()}), v4req("0.0.0.0/0")))
			},
			want: []string{
				"add tunnel " + t4 + " sit local 198.51.100.1 remote 198.51.100.22 hoplimit 64",
				"replace route " + v6(t4),
				"replace route 10.20.0.2/32 dev " + t4 + " table 254",
				"add filter tunnel-source " + t4 + " 2001:db8:100::/64",
				"add filter tunnel-source " + t4 + " 10.20.0.2/32",
				"add filter tunnel " + t4,
			},
		},
		{
			name: "restart: one Set rebuilds tunnels, sysctls, routes, then the filter (sources before their tunnel)",
			setup: func(h *harness) {
				h.register(h.ap1, h.newPBU("alice@example.net"))
				h.register(h.ap4, h.newPBU("bob@example.net", llid(mac2), with(&mh.IPv4CareOfAddress{Addr: ap4Addr.Addr()}), v4req("0.0.0.0/0")))
				h.stop()
				// The kernel lost everything (a reboot).
				h.dp = newFakeDP()
			},
			act: func(h *harness) { h.start() },
			want: []string{
				"add tunnel " + t4 + " sit local 198.51.100.1 remote 198.51.100.22 hoplimit 64",
				"add tunnel " + t1 + " ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:1::2 hoplimit 64",
				"replace sysctl net.ipv4.conf.all.forwarding=1",
				"replace sysctl net.ipv4.conf.all.rp_filter=0",
				"replace sysctl net.ipv6.conf.all.forwarding=1",
				"replace route 10.20.0.2/32 dev " + t4 + " table 254",
				"replace route 2001:db8:100:1::/64 dev " + t4 + " table 254 metric 1024",
				"replace route " + v6(t1),
				"add filter table",
				"add filter tunnel-source " + t4 + " 10.20.0.2/32",
				"add filter tunnel-source " + t4 + " 2001:db8:100:1::/64",
				"add filter tunnel-source " + t1 + " 2001:db8:100::/64",
				"add filter tunnel " + t4,
				"add filter tunnel " + t1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testCfg(t, true, ""))
			if tt.setup != nil {
				tt.setup(h)
			}
			if h.e != nil {
				h.sync()
			}
			h.dp.Kernel.Ops()
			tt.act(h)
			h.sync()
			got := h.dp.Kernel.Ops()
			want := tt.want
			if tt.wantGRE != nil {
				bs, err := h.e.Bindings(t.Context(), BindingFilter{MobileNode: "printer@example.net"})
				if err != nil || len(bs) != 1 || !bs[0].HasGREUplinkKey {
					t.Fatalf("GRE binding %+v %v", bs, err)
				}
				want = tt.wantGRE(bs[0].GREUplinkKey)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("data plane operations (-want +got):\n%s", diff)
			}
			if n := h.e.Counters().DataplaneErrors; n != 0 {
				t.Errorf("%d data plane errors", n)
			}
			// Whatever the events, the kernel holds exactly what a
			// whole-state Set would make it hold.
			held := h.dp.String()
			if err := h.e.call(t.Context(), func() {}); err != nil {
				t.Fatal(err)
			}
			fresh := newFakeDP()
			var full string
			if err := h.e.call(t.Context(), func() {
				if err := fresh.Set(t.Context(), h.e.fullState()); err != nil {
					t.Error(err)
				}
				full = fresh.String()
			}); err != nil {
				t.Fatal(err)
			}
			if full != held {
				t.Errorf("after the changes the kernel holds:\n%s\na whole Set makes:\n%s", held, full)
			}
			if !strings.Contains(held, "filter table") {
				t.Error("no filter table")
			}
		})
	}
}

func newFakeDP() *dataplanetest.Fake { return dataplanetest.New() }

// The periodic resynchronisation (dataplane_resync_interval) puts back
// what was removed by hand: here a route and its allowed source deleted
// behind the engine's back come back at the next period, and not before;
// with the interval 0 they do not.
func TestPeriodicResync(t *testing.T) {
	for _, interval := range []time.Duration{10 * time.Minute, 0} {
		t.Run(interval.String(), func(t *testing.T) {
			cfg := testCfg(t, true, "")
			cfg.HeartbeatInterval = 0 // no probes to drain
			cfg.DataplaneResyncInterval = interval
			h := newHarness(t, cfg)
			h.register(h.ap1, h.newPBU("alice@example.net"))
			h.sync()
			want := h.dp.String()
			route := "route 2001:db8:100::/64 dev " + tun1()
			for _, o := range []dataplane.Object{
				dataplane.Route{Dst: mustPrefix("2001:db8:100::/64"), Dev: tun1(), Table: 254, Metric: 1024},
				dataplane.TunnelSource{Dev: tun1(), Prefix: mustPrefix("2001:db8:100::/64")},
			} {
				if err := h.dp.Kernel.Apply(t.Context(), dataplane.Op{Action: dataplane.Del, Obj: o}); err != nil {
					t.Fatal(err)
				}
			}
			h.advance(9 * time.Minute)
			if strings.Contains(h.dp.String(), route) {
				t.Fatal("the route came back before the period")
			}
			h.advance(time.Minute)
			got := h.dp.String()
			if interval == 0 {
				if strings.Contains(got, route) || h.e.Counters().DataplaneResyncs != 0 {
					t.Fatalf("resynchronised with the interval off:\n%s", got)
				}
				return
			}
			if got != want {
				t.Fatalf("after the period:\n%s\nwant:\n%s", got, want)
			}
			// And again at every period.
			h.dp.Kernel.Apply(t.Context(), dataplane.Op{Action: dataplane.Del, Obj: dataplane.TunnelIface(tun1())})
			h.advance(10 * time.Minute)
			if got := h.dp.String(); got != want {
				t.Fatalf("after the second period:\n%s\nwant:\n%s", got, want)
			}
			if c := h.e.Counters(); c.DataplaneResyncs != 2 || c.DataplaneErrors != 0 {
				t.Errorf("counters: %d resyncs, %d errors", c.DataplaneResyncs, c.DataplaneErrors)
			}
		})
	}
}
