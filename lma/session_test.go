package lma

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

func tun1() string { return tunnelName(1, ap1Addr.Addr()) }
func tun2() string { return tunnelName(1, ap2Addr.Addr()) }

// Accepted registrations and what their PBA and data plane carry.
func TestRegistrationAccepted(t *testing.T) {
	tests := []struct {
		name  string
		nai   string
		from  func(*harness) (at interface{}, _ bool)
		v4    bool
		opts  []pbuOpt
		check func(t *testing.T, h *harness, a *mh.ProxyBindingAck)
	}{
		{name: "RFC 5844 3.2.1: dual stack, IPv4 home address and default router from the pool", nai: "alice@example.net",
			opts: []pbuOpt{v4req("0.0.0.0/0")},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				rep := opt[*mh.IPv4HomeAddressReply](t, a.Options)
				if rep.Status != mh.IPv4HoASuccess || rep.Prefix != mustPrefix("10.20.0.2/16") {
					t.Errorf("IPv4 reply %v", rep)
				}
				if r := opt[*mh.IPv4DefaultRouterAddress](t, a.Options); r.Addr != netip.MustParseAddr("10.20.0.1") {
					t.Errorf("default router %v", r.Addr)
				}
				if !strings.Contains(h.dp.String(), "route 10.20.0.2/32 dev "+tun1()) {
					t.Errorf("no IPv4 route:\n%s", h.dp.String())
				}
			}},
		{name: "RFC 5844 3.2.1: a requested free address is honoured", nai: "alice@example.net",
			opts: []pbuOpt{v4req("10.20.3.4/32")},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if rep := opt[*mh.IPv4HomeAddressReply](t, a.Options); rep.Prefix != mustPrefix("10.20.3.4/16") {
					t.Errorf("IPv4 reply %v", rep)
				}
			}},
		{name: "RFC 5213 5.3.2: a requested free prefix of the pool is honoured", nai: "alice@example.net",
			opts: []pbuOpt{hnp("2001:db8:100:77::/64")},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if got := hnps(a); len(got) != 1 || got[0] != mustPrefix("2001:db8:100:77::/64") {
					t.Errorf("prefixes %v", got)
				}
			}},
		{name: "RFC 5844 3.2.1: IPv4 only", nai: "carol@v4.example.net",
			opts: []pbuOpt{without(mh.OptHomeNetworkPrefix), v4req("0.0.0.0/0")},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if len(hnps(a)) != 0 {
					t.Errorf("prefixes %v for an IPv4-only node", hnps(a))
				}
				if rep := opt[*mh.IPv4HomeAddressReply](t, a.Options); rep.Status != mh.IPv4HoASuccess {
					t.Errorf("IPv4 reply %v", rep)
				}
			}},
		{name: "RFC 5845 3: GRE with a downlink key; the PBA gives the uplink key", nai: "printer@example.net",
			opts: []pbuOpt{with(&mh.GREKey{HasKey: true, Key: 0x1234}), v4req("0.0.0.0/0")},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				up := opt[*mh.GREKey](t, a.Options)
				if !up.HasKey || up.Key == 0 {
					t.Errorf("uplink key %v", up)
				}
				if got := hnps(a); len(got) != 1 || got[0] != mustPrefix("2001:db8:200:1::/64") {
					t.Errorf("static prefix %v", got)
				}
				if rep := opt[*mh.IPv4HomeAddressReply](t, a.Options); rep.Prefix != mustPrefix("10.30.0.5/24") {
					t.Errorf("static IPv4 %v", rep)
				}
				want := "tunnel pmip-gre6 ip6gre external\n" + lmaSysctlLines +
					"route 10.30.0.5/32 encap ip6 id 4660 key dst 2001:db8:1:1::2 src 2001:db8:ffff::1 hoplimit 64 dev pmip-gre6 table 254\n" +
					"route 2001:db8:200:1::/64 encap ip6 id 4660 key dst 2001:db8:1:1::2 src 2001:db8:ffff::1 hoplimit 64 dev pmip-gre6 table 254 metric 1024\n" +
					"filter table\n" +
					"filter tunnel pmip-gre6\n" +
					"filter tunnel-source pmip-gre6 10.30.0.5/32\n" +
					"filter tunnel-source pmip-gre6 2001:db8:200:1::/64\n" +
					// RFC 5845 3: the MAG's GRE with the uplink key
					// carries only this session's addresses.
					"filter gre-peer 2001:db8:1:1::2\n" +
					fmt.Sprintf("filter gre-source 2001:db8:1:1::2 key %d 10.30.0.5/32\n", up.Key) +
					fmt.Sprintf("filter gre-source 2001:db8:1:1::2 key %d 2001:db8:200:1::/64\n", up.Key)
				if got := h.dp.String(); got != want {
					t.Errorf("data plane:\n%s\nwant:\n%s", got, want)
				}
			}},
		{name: "RFC 5845 6.2: GRE offered to a MAG without GRE: accepted with status 2, no key", nai: "alice@example.net",
			from: func(h *harness) (interface{}, bool) { return h.ap2, true },
			opts: []pbuOpt{with(&mh.GREKey{HasKey: true, Key: 7})},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if a.Status != mh.StatusGREKeyOptionNotRequired {
					t.Errorf("status %v", a.Status)
				}
				if _, ok := mh.FirstOption[*mh.GREKey](a.Options); ok {
					t.Errorf("GRE key in the PBA")
				}
			}},
		{name: "RFC 5845 6.3: the T flag is not supported: status 3, plain GRE", nai: "alice@example.net",
			opts: []pbuOpt{with(&mh.GREKey{HasKey: true, Key: 7}), func(p *mh.ProxyBindingUpdate) { p.Flags |= mh.BUFlagT }},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if a.Status != mh.StatusGRETLVHeaderNotSupported || a.Flags&mh.BAFlagT != 0 {
					t.Errorf("status %v flags %v", a.Status, a.Flags)
				}
			}},
		{name: "RFC 5213 5.3.1: lifetime above the maximum gets the default", nai: "alice@example.net",
			opts: []pbuOpt{lifetime(10000 * time.Second)},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if a.Lifetime != 3600*time.Second {
					t.Errorf("lifetime %v", a.Lifetime)
				}
			}},
		{name: "RFC 5213 5.3.6: link-local address copied", nai: "alice@example.net",
			opts: []pbuOpt{with(&mh.LinkLocalAddress{Addr: netip.MustParseAddr("fe80::1")})},
			check: func(t *testing.T, h *harness, a *mh.ProxyBindingAck) {
				if o := opt[*mh.LinkLocalAddress](t, a.Options); o.Addr != netip.MustParseAddr("fe80::1") {
					t.Errorf("link-local %v", o.Addr)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testCfg(t, true, ""))
			from := h.ap1
			if tt.from != nil {
				c, _ := tt.from(h)
				from = c.(*transporttest.Conn)
			}
			a := h.register(from, h.newPBU(tt.nai, tt.opts...))
			h.sync()
			tt.check(t, h, a)
		})
	}
}

// RFC 5844 4: a MAG on IPv4 transport signals over UDP/IPv4; the PBA goes
// back the same way with the IPv4 care-of address, and the tunnel is
// IPv4-transport.
func TestIPv4Transport(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	coa := &mh.IPv4CareOfAddress{Addr: ap4Addr.Addr()}
	a := h.register(h.ap4, h.newPBU("alice@example.net", with(coa), v4req("0.0.0.0/0")))
	if o := opt[*mh.IPv4CareOfAddress](t, a.Options); o.Addr != ap4Addr.Addr() {
		t.Errorf("IPv4 CoA %v", o.Addr)
	}
	name := tunnelName(3, ap4Addr.Addr())
	want := "tunnel " + name + " sit local 198.51.100.1 remote 198.51.100.22 hoplimit 64\n" + lmaSysctlLines +
		"route 10.20.0.2/32 dev " + name + " table 254\n" +
		"route 2001:db8:100::/64 dev " + name + " table 254 metric 1024\n" +
		"filter table\n" +
		"filter tunnel " + name + "\n" +
		"filter tunnel-source " + name + " 10.20.0.2/32\n" +
		"filter tunnel-source " + name + " 2001:db8:100::/64\n"
	if got := h.dp.String(); got != want {
		t.Errorf("data plane:\n%s\nwant:\n%s", got, want)
	}
}

// RFC 5213 5.3.3: a refresh from the same MAG keeps the prefix and
// extends the lifetime; RFC 5213 5.5: an older timestamp is refused.
func TestRefresh(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)[0]
	h.advance(1000 * time.Second)
	b := h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(p.String())))
	if hnps(b)[0] != p {
		t.Fatalf("refresh changed the prefix: %v", hnps(b))
	}
	bs, _ := h.e.Bindings(context.Background(), BindingFilter{})
	if len(bs) != 1 || !bs[0].Expires.Equal(t0.Add(4600*time.Second)) {
		t.Fatalf("bindings %+v", bs)
	}
	before := h.state()
	h.send(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(p.String()),
		replace(mh.TimestampFromTime(t0.Add(999*time.Second+900*time.Millisecond)))))
	if s := h.pba(h.ap1).Status; s != mh.StatusTimestampLowerThanPrevAccepted {
		t.Fatalf("older timestamp: %v", s)
	}
	if before != h.state() {
		t.Error("a rejected refresh changed state")
	}
	// A retransmission of the initial PBU (its PBA lost) finds the
	// session instead of making a second one.
	h.register(h.ap1, h.newPBU("alice@example.net"))
	if n := h.e.Counters().Bindings; n != 1 {
		t.Errorf("%d bindings after a retransmitted initial PBU", n)
	}
}

// RFC 5213 5.3.4, 5.4.1: handoff to another MAG with HI 3 moves the
// session: same prefix, routes into the new MAG's tunnel, the old tunnel
// removed, and the old MAG told with a BRI (RFC 5846 8.1).
func TestHandoff(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)[0]
	b := h.register(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String())))
	if hnps(b)[0] != p {
		t.Fatalf("handoff changed the prefix: %v", hnps(b))
	}
	// The old MAG's tunnel lingers oldTunnelLinger (tunnels.go), still
	// checked but carrying nothing, then goes.
	if got := h.dp.String(); !strings.Contains(got, "tunnel "+tun1()+" ip6tnl") || !strings.Contains(got, "filter tunnel "+tun1()) ||
		!strings.Contains(got, "route 2001:db8:100::/64 dev "+tun2()) || strings.Contains(got, "tunnel-source "+tun1()) {
		t.Errorf("data plane right after the handoff:\n%s", got)
	}
	bri, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication)
	if !ok || bri.Trigger != mh.TriggerInterMAGSameAccess || bri.Flags&mh.RevocationProxy == 0 {
		t.Fatalf("old MAG got %v", bri)
	}
	h.send(h.ap1, &mh.BindingRevocationAck{Sequence: bri.Sequence, Flags: mh.RevocationProxy})
	h.advance(oldTunnelLinger)
	want := "tunnel " + tun2() + " ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:2::2 hoplimit 64\n" + lmaSysctlLines +
		"route 2001:db8:100::/64 dev " + tun2() + " table 254 metric 1024\n" +
		"filter table\n" +
		"filter tunnel " + tun2() + "\n" +
		"filter tunnel-source " + tun2() + " 2001:db8:100::/64\n"
	if got := h.dp.String(); got != want {
		t.Errorf("data plane:\n%s\nwant:\n%s", got, want)
	}
	// RFC 5213 5.3.5: the old MAG's late deregistration changes nothing.
	before := h.state()
	h.send(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp(p.String()), hi(mh.HandoffStateNotChanged)))
	if s := h.pba(h.ap1).Status; s != mh.StatusAccepted {
		t.Fatalf("late deregistration: %v", s)
	}
	if before != h.state() {
		t.Errorf("late deregistration changed state:\n%s", h.state())
	}
	// Without the HNP (ALL_ZERO), HI 3 finds the session by link-layer
	// identifier and access technology (RFC 5213 5.4.1.2).
	c := h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface)))
	if hnps(c)[0] != p {
		t.Errorf("ALL_ZERO handoff got %v", hnps(c))
	}
}

// RFC 5213 5.4: each interface of a mobile node is its own session with
// its own prefix; the PBU's prefix set must match its session's (159); a
// prefix of another mobile node is refused (155).
func TestMultihoming(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	b := h.register(h.ap2, h.newPBU("alice@example.net", llid(mac2), replace(&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE8023})))
	if hnps(a)[0] == hnps(b)[0] {
		t.Fatalf("two interfaces share %v", hnps(a))
	}
	if n := h.e.Counters().Bindings; n != 2 {
		t.Fatalf("%d bindings", n)
	}
	bs, _ := h.e.Bindings(context.Background(), BindingFilter{MobileNode: "alice@example.net"})
	if len(bs) != 2 {
		t.Fatalf("filter by mobile node: %d", len(bs))
	}
	before := h.state()
	h.send(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(hnps(a)[0].String()), with(&mh.HomeNetworkPrefix{Prefix: hnps(b)[0]})))
	if s := h.pba(h.ap1).Status; s != mh.StatusBCEPBUPrefixSetDoNotMatch {
		t.Errorf("prefixes of two sessions: %v", s)
	}
	h.send(h.ap1, h.newPBU("bob@example.net", hi(mh.HandoffStateNotChanged), hnp(hnps(a)[0].String())))
	if s := h.pba(h.ap1).Status; s != mh.StatusNotAuthorizedForHomeNetworkPrefix {
		t.Errorf("another node's prefix: %v", s)
	}
	if before != h.state() {
		t.Error("rejections changed state")
	}
}

// RFC 5213 5.3.5: deregistration keeps the entry MinDelayBeforeBCEDelete,
// then removes it with its routes, pool entry and stored record; a handoff
// in between takes the session over.
func TestDeregistration(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net", v4req("0.0.0.0/0")))
	p := hnps(a)[0]
	d := h.register(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp(p.String()), hi(mh.HandoffStateNotChanged)))
	if d.Lifetime != 0 {
		t.Errorf("deregistration PBA lifetime %v", d.Lifetime)
	}
	bs, _ := h.e.Bindings(context.Background(), BindingFilter{})
	if len(bs) != 1 || bs[0].State != "deregistered" {
		t.Fatalf("bindings %+v", bs)
	}
	h.advance(9999 * time.Millisecond)
	if h.e.Counters().Bindings != 1 {
		t.Fatal("removed before MinDelayBeforeBCEDelete")
	}
	h.advance(time.Millisecond)
	want := "pool hnp used 0\npool v4 used 0\n" + emptyDataplane
	if got := h.state(); got != want {
		t.Errorf("after MinDelayBeforeBCEDelete:\n%s", got)
	}

	// A handoff within the delay reactivates the session.
	a = h.register(h.ap1, h.newPBU("alice@example.net"))
	p = hnps(a)[0]
	h.register(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp(p.String()), hi(mh.HandoffStateNotChanged)))
	h.advance(time.Second)
	b := h.register(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String())))
	h.advance(20 * time.Second)
	bs, _ = h.e.Bindings(context.Background(), BindingFilter{})
	if len(bs) != 1 || bs[0].State != "active" || bs[0].MAG != "ap2" || hnps(b)[0] != p {
		t.Fatalf("after handoff during the delay: %+v", bs)
	}
	h.nothing(h.ap1) // deregistered first: no BRI to the old MAG
}

// RFC 5213 5.4.1.3: handoff state unknown (HI 4) while the session is at
// another MAG: the LMA waits MaxDelayBeforeNewBCEAssign for that MAG's
// deregistration; if it comes, the PBU is a handoff, otherwise a new
// session.
func TestHandoffStateUnknown(t *testing.T) {
	t.Run("deregistration arrives: handoff", func(t *testing.T) {
		h := newHarness(t, testCfg(t, true, ""))
		p := hnps(h.register(h.ap1, h.newPBU("alice@example.net")))[0]
		h.send(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffStateUnknown)))
		h.nothing(h.ap2)
		h.advance(time.Second)
		h.nothing(h.ap2)
		h.register(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp(p.String()), hi(mh.HandoffStateNotChanged)))
		a := h.pba(h.ap2)
		if a.Status != mh.StatusAccepted || hnps(a)[0] != p {
			t.Fatalf("parked PBU: %v", a)
		}
		if n := h.e.Counters().Bindings; n != 1 {
			t.Errorf("%d bindings", n)
		}
	})
	t.Run("deregistration arrived first: handoff at once", func(t *testing.T) {
		// Break before make, as a Wi-Fi station that leaves its AP
		// (AP-STA-DISCONNECTED) before associating with the next: the
		// session waits out MinDelayBeforeBCEDelete (5.3.5), and the new
		// MAG's PBU finds it deregistered. Nothing is left to wait for.
		h := newHarness(t, testCfg(t, true, ""))
		p := hnps(h.register(h.ap1, h.newPBU("alice@example.net")))[0]
		h.register(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp(p.String()), hi(mh.HandoffStateNotChanged)))
		h.advance(time.Second)
		a := h.register(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffStateUnknown)))
		if a.Status != mh.StatusAccepted || hnps(a)[0] != p {
			t.Fatalf("PBU after the deregistration: %v (old prefix %v)", a, p)
		}
		h.advance(20 * time.Second)
		bs, _ := h.e.Bindings(context.Background(), BindingFilter{})
		if len(bs) != 1 || bs[0].State != "active" || bs[0].MAG != "ap2" {
			t.Fatalf("after the handoff: %+v", bs)
		}
	})
	t.Run("no deregistration: new session", func(t *testing.T) {
		h := newHarness(t, testCfg(t, true, ""))
		p := hnps(h.register(h.ap1, h.newPBU("alice@example.net")))[0]
		h.send(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffStateUnknown)))
		h.nothing(h.ap2)
		h.advance(1499 * time.Millisecond)
		h.nothing(h.ap2)
		h.advance(time.Millisecond)
		a := h.pba(h.ap2)
		if a.Status != mh.StatusAccepted || hnps(a)[0] == p {
			t.Fatalf("after MaxDelayBeforeNewBCEAssign: %v (old prefix %v)", a, p)
		}
		if n := h.e.Counters().Bindings; n != 2 {
			t.Errorf("%d bindings", n)
		}
	})
}

// RFC 6275 9.5.2 with RFC 5213 5.3.3: a session not refreshed within its
// lifetime is removed.
func TestLifetimeExpiry(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.register(h.ap1, h.newPBU("alice@example.net", lifetime(40*time.Second)))
	h.register(h.ap1, h.newPBU("bob@example.net", lifetime(80*time.Second), llid(mac2)))
	h.advance(40 * time.Second)
	bs, _ := h.e.Bindings(context.Background(), BindingFilter{})
	if len(bs) != 1 || bs[0].MobileNode != "bob@example.net" {
		t.Fatalf("after 40 s: %+v", bs)
	}
	h.advance(40 * time.Second)
	if got := h.state(); got != "pool hnp used 0\npool v4 used 0\n"+emptyDataplane {
		t.Errorf("after 80 s:\n%s", got)
	}
	if h.e.Counters().Expired != 2 {
		t.Errorf("counters %+v", h.e.Counters())
	}
}

// RFC 5213 5.5 with RFC 6275 9.5.1: with timestamps off, sequence numbers
// order a session's PBUs; an old one gets 135 with the last accepted
// number.
func TestSequenceNumbers(t *testing.T) {
	h := newHarness(t, testCfg(t, false, ""))
	h.seq = 65530
	a := h.register(h.ap1, h.newPBU("alice@example.net", without(mh.OptTimestamp)))
	p := hnps(a)[0].String()
	// Wraps around 65535 -> 0: still newer.
	h.seq = 65535
	h.register(h.ap1, h.newPBU("alice@example.net", without(mh.OptTimestamp), hi(mh.HandoffStateNotChanged), hnp(p)))
	old := h.newPBU("alice@example.net", without(mh.OptTimestamp), hi(mh.HandoffStateNotChanged), hnp(p))
	old.Sequence = 65534
	h.send(h.ap1, old)
	r := h.pba(h.ap1)
	if r.Status != mh.StatusSequenceOutOfWindow || r.Sequence != 0 {
		t.Fatalf("old sequence: status %v seq %d", r.Status, r.Sequence)
	}
}

// RFC 6275 11.7.1: an accepted PBU without the A flag is not
// acknowledged; a rejected one is.
func TestNoAckFlag(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.send(h.ap1, h.newPBU("alice@example.net", func(p *mh.ProxyBindingUpdate) { p.Flags &^= mh.BUFlagA }))
	h.nothing(h.ap1)
	if h.e.Counters().Bindings != 1 {
		t.Fatal("not registered")
	}
	h.send(h.ap1, h.newPBU("mallory@elsewhere.org", func(p *mh.ProxyBindingUpdate) { p.Flags &^= mh.BUFlagA }))
	if s := h.pba(h.ap1).Status; s != mh.StatusProxyRegNotEnabled {
		t.Errorf("rejection: %v", s)
	}
}

// The operations API's filters (pmipctl bindings --mn/--mag/--prefix).
func TestBindingFilters(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net", v4req("0.0.0.0/0")))
	h.register(h.ap2, h.newPBU("bob@example.net"))
	h.register(h.ap1, h.newPBU("carol@example.net", llid(mac2)))
	ctx := context.Background()
	for _, tt := range []struct {
		f    BindingFilter
		want []string
	}{
		{BindingFilter{}, []string{"alice@example.net", "bob@example.net", "carol@example.net"}},
		{BindingFilter{MAG: "ap1"}, []string{"alice@example.net", "carol@example.net"}},
		{BindingFilter{MobileNode: "bob@example.net"}, []string{"bob@example.net"}},
		{BindingFilter{Prefix: hnps(a)[0]}, []string{"alice@example.net"}},
		{BindingFilter{Prefix: netip.MustParsePrefix("10.20.0.0/16")}, []string{"alice@example.net"}},
		{BindingFilter{Prefix: netip.MustParsePrefix("2001:db8:100::/48")}, []string{"alice@example.net", "bob@example.net", "carol@example.net"}},
		{BindingFilter{Limit: 1}, []string{"alice@example.net"}},
		{BindingFilter{MobileNode: "nobody@example.net"}, nil},
	} {
		bs, err := h.e.Bindings(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range bs {
			got = append(got, b.MobileNode)
		}
		if tt.f.Limit == 0 && strings.Join(got, ",") != strings.Join(tt.want, ",") || len(got) != len(tt.want) {
			t.Errorf("%+v: %v, want %v", tt.f, got, tt.want)
		}
	}
	ps, _ := h.e.Pools(ctx)
	if ps[0].Name != "hnp" || ps[0].Used != 3 || ps[1].Used != 1 || ps[0].Size != 1<<16 {
		t.Errorf("pools %+v", ps)
	}
}

// Reload with a pool whose range changed: the new pool re-reserves what
// sessions hold in it, so nothing is handed out twice.
func TestReloadPoolChanged(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	cfg := testCfg(t, true, "")
	cfg.Pools[0].Prefix = netip.MustParsePrefix("2001:db8:100::/47")
	if err := h.e.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ps, _ := h.e.Pools(context.Background())
	if ps[0].Used != 1 || ps[0].Size != 1<<17 {
		t.Fatalf("pools after reload %+v", ps)
	}
	b := h.register(h.ap1, h.newPBU("bob@example.net", llid(mac2)))
	if hnps(b)[0] == hnps(a)[0] {
		t.Errorf("alice's prefix handed out again")
	}
}
