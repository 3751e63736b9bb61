package mag

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/magconfig"
	"github.com/openpmip/pmip/mag/sniff"
)

// noHeartbeat turns RFC 5847 heartbeats off, for tests that watch PBUs
// over minutes.
func noHeartbeat(c *magconfig.Config) { c.HeartbeatInterval = 0 }

// attach1 attaches client 1 on br-lan by an RS and returns its PBU.
func (h *harness) attach1() *mh.ProxyBindingUpdate {
	h.t.Helper()
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
	return h.nextPBU()
}

// register1 attaches client 1 and accepts it with lifetime.
func (h *harness) register1(lifetime time.Duration) {
	h.t.Helper()
	h.deliver(pba(h.attach1(), mh.StatusAccepted, lifetime, grant()...))
	h.rec.take()
}

// RFC 5213 6.9.1.2, 8.9; RFC 5844 3.2; RFC 5845 6.2: every status a PBA
// can carry. Accepted ones serve the client; rejected ones stop, tell the
// access side, and serve nothing.
func TestPBAStatus(t *testing.T) {
	accepted := []mh.Status{mh.StatusAccepted, mh.StatusAcceptedPrefixDiscovery, mh.StatusGREKeyOptionNotRequired, mh.StatusGRETLVHeaderNotSupported}
	rejected := []mh.Status{
		mh.StatusReasonUnspecified, mh.StatusAdministrativelyProhibited, mh.StatusInsufficientResources,
		mh.StatusHomeRegistrationNotSupported, mh.StatusNotHomeSubnet, mh.StatusNotHomeAgentForThisMN,
		mh.StatusDuplicateAddressDetection, mh.StatusExpiredHomeNonceIndex, mh.StatusExpiredCareOfNonceIndex,
		mh.StatusExpiredNonces, mh.StatusRegistrationTypeChange, mh.StatusInvalidCareOfAddress,
		mh.StatusProxyRegNotEnabled, mh.StatusNotLMAForThisMobileNode, mh.StatusMAGNotAuthorizedForProxyReg,
		mh.StatusNotAuthorizedForHomeNetworkPrefix, mh.StatusMissingHomeNetworkPrefixOption,
		mh.StatusBCEPBUPrefixSetDoNotMatch, mh.StatusMissingMNIdentifierOption, mh.StatusMissingHandoffIndicatorOption,
		mh.StatusMissingAccessTechTypeOption, mh.StatusGREKeyOptionRequired, mh.StatusNotAuthorizedForIPv4MobilityService,
		mh.StatusNotAuthorizedForIPv4HomeAddress, mh.StatusNotAuthorizedForIPv6MobilityService,
		mh.StatusMultipleIPv4HoANotSupported, mh.StatusInvalidMobileNodeGroupIdentifier, mh.Status(250),
	}
	for _, st := range accepted {
		t.Run(fmt.Sprintf("%d %v", st, st), func(t *testing.T) {
			h := newHarness(t, baseConf, nil)
			h.deliver(pba(h.attach1(), st, time.Hour, grant()...))
			if _, ok := h.e.Lookup(client1); !ok {
				t.Error("accepted status served no lease")
			}
			if ev := h.rec.take(); !contains(ev, "ra serve") {
				t.Errorf("accepted status served no RA: %v", ev)
			}
		})
	}
	for _, st := range rejected {
		t.Run(fmt.Sprintf("%d %v", st, st), func(t *testing.T) {
			h := newHarness(t, baseConf, nil)
			pbu := h.attach1()
			h.deliver(pba(pbu, st, 0))
			want := []string{"br-lan ra forget 02:00:00:00:00:01", "br-lan dhcp forget 02:00:00:00:00:01", "br-lan sniff forget 02:00:00:00:00:01"}
			if diff := cmp.Diff(want, h.rec.take()); diff != "" {
				t.Errorf("access side (-want +got):\n%s", diff)
			}
			if _, ok := h.e.Lookup(client1); ok {
				t.Error("rejected client has a lease")
			}
			if s := h.e.Stats(); s.Rejected != 1 {
				t.Errorf("rejected %d", s.Rejected)
			}
			// Its triggers are absorbed for RejectHoldoff, then it may
			// try again; nothing was retransmitted meanwhile.
			h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
			h.clk.Advance(RejectHoldoff - time.Second)
			h.quiet()
			h.clk.Advance(time.Second)
			h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
			if p := h.nextPBU(); p.Lifetime != time.Hour {
				t.Errorf("after the hold-off: %v", p)
			}
		})
	}
}

// RFC 5213 6.9.1.2 with 5.5 and RFC 6275 11.7.1: the statuses after which
// the MAG corrects itself and sends once more.
func TestPBAResync(t *testing.T) {
	lmaTime := start.Add(90 * time.Second) // the LMA's clock is 90 s ahead
	tests := []struct {
		name   string
		answer func(*mh.ProxyBindingUpdate) *mh.ProxyBindingAck
		check  func(t *testing.T, first, again *mh.ProxyBindingUpdate)
	}{
		{name: "156 TIMESTAMP_MISMATCH: timestamps corrected by the LMA's clock",
			answer: func(p *mh.ProxyBindingUpdate) *mh.ProxyBindingAck {
				return pba(p, mh.StatusTimestampMismatch, 0, mh.TimestampFromTime(lmaTime))
			},
			check: func(t *testing.T, _, again *mh.ProxyBindingUpdate) {
				ts, _ := mh.FirstOption[*mh.Timestamp](again.Options)
				if d := ts.Time().Sub(lmaTime).Abs(); d > time.Millisecond {
					t.Errorf("resent timestamp %v, want the LMA's time %v", ts.Time(), lmaTime)
				}
			}},
		{name: "157 TIMESTAMP_LOWER_THAN_PREV_ACCEPTED: registers again",
			answer: func(p *mh.ProxyBindingUpdate) *mh.ProxyBindingAck {
				return pba(p, mh.StatusTimestampLowerThanPrevAccepted, 0)
			}},
		{name: "135 sequence out of window: continues from the LMA's number",
			answer: func(p *mh.ProxyBindingUpdate) *mh.ProxyBindingAck {
				a := pba(p, mh.StatusSequenceOutOfWindow, 0)
				a.Sequence = 40000
				return a
			},
			check: func(t *testing.T, _, again *mh.ProxyBindingUpdate) {
				if again.Sequence != 40001 {
					t.Errorf("resent sequence %d, want 40001", again.Sequence)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, baseConf, nil)
			first := h.attach1()
			h.deliver(tt.answer(first))
			again := h.nextPBU()
			if again.Sequence == first.Sequence || again.Lifetime != time.Hour {
				t.Errorf("resent PBU %v after %v", again, first)
			}
			if tt.check != nil {
				tt.check(t, first, again)
			}
			// Only once: the same answer again is a rejection.
			h.deliver(tt.answer(again))
			h.quiet()
			if s := h.e.Stats(); s.Rejected != 1 {
				t.Errorf("second identical answer: %d rejections, want 1", s.Rejected)
			}
			// Accepted on the retry instead, the client is served.
			h2 := newHarness(t, baseConf, nil)
			h2.deliver(tt.answer(h2.attach1()))
			h2.deliver(pba(h2.nextPBU(), mh.StatusAccepted, time.Hour, grant()...))
			if _, ok := h2.e.Lookup(client1); !ok {
				t.Error("not served after the resynchronised PBU was accepted")
			}
		})
	}
}

// RFC 5213 6.9.1.2, 5.3.6: PBAs that do not answer the PBU in flight
// (sequence number, P flag, MN-ID, echoed timestamp) are ignored.
func TestPBAUnmatched(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	pbu := h.attach1()
	wrongSeq := pba(pbu, mh.StatusAccepted, time.Hour, grant()...)
	wrongSeq.Sequence++
	noP := pba(pbu, mh.StatusAccepted, time.Hour, grant()...)
	noP.Flags = 0
	otherID := pba(pbu, mh.StatusAccepted, time.Hour, grant()...)
	otherID.Options[0] = mh.NewNAI("mallory@example.net")
	otherTS := pba(pbu, mh.StatusAccepted, time.Hour, grant()...)
	otherTS.Options[1] = mh.TimestampFromTime(start.Add(-time.Second))
	for _, m := range []*mh.ProxyBindingAck{wrongSeq, noP, otherID, otherTS} {
		h.deliver(m)
	}
	if s := h.e.Stats(); s.UnmatchedPBA != 4 || s.Accepted != 0 {
		t.Errorf("stats %+v, want 4 unmatched, none accepted", s)
	}
	// A message from another address than the LMA's is not even parsed.
	b, _ := mh.Marshal(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
	h.e.HandleMessage(b, lmaAP)
	h.e.HandleMessage(b[:7], lmaAP) // truncated
	if _, ok := h.e.Lookup(client1); !ok {
		t.Error("the matching PBA was not accepted")
	}
	if s := h.e.Stats(); s.BadMessages != 1 {
		t.Errorf("bad messages %d, want 1", s.BadMessages)
	}
}

// RFC 5213 6.9.4, RFC 6275 11.8: retransmission from
// InitialBindackTimeoutFirstReg (1.5 s) doubling up to MaxBindackTimeout
// (32 s), each with a new sequence number and a fresh timestamp; an
// unanswered initial registration then gives up and tells the access side.
func TestRetransmissionSchedule(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.attach1()
	var at []time.Duration
	var seqs []uint16
	for range 200 { // 100 ms steps over 100 s
		h.clk.Advance(500 * time.Millisecond)
		for h.lma.Pending() > 0 {
			p := h.nextPBU()
			at = append(at, h.clk.Now().Sub(start))
			seqs = append(seqs, p.Sequence)
			ts, _ := mh.FirstOption[*mh.Timestamp](p.Options)
			if !ts.Time().Equal(h.clk.Now()) {
				t.Errorf("retransmission at %v carries timestamp %v", h.clk.Now(), ts.Time())
			}
		}
	}
	want := []time.Duration{1500 * time.Millisecond, 4500 * time.Millisecond, 10500 * time.Millisecond,
		22500 * time.Millisecond, 46500 * time.Millisecond}
	if diff := cmp.Diff(want, at); diff != "" {
		t.Errorf("retransmission times (-want +got):\n%s", diff)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] == seqs[i-1] {
			t.Errorf("retransmission %d reuses sequence number %d", i, seqs[i])
		}
	}
	ev := h.rec.take()
	if !contains(ev, "dhcp forget") || !contains(ev, "sniff forget") {
		t.Errorf("access side not told of the give-up (at 78.5 s): %v", ev)
	}
	if s := h.e.Stats(); s.GaveUp != 1 || s.Retransmissions != 5 {
		t.Errorf("stats %+v", s)
	}
}

// RFC 5213 6.9.1.3: refresh at 3/4 of the granted lifetime (the LMA's,
// when shorter than asked) with the same prefix and address and HI 5; a
// refresh keeps retransmitting at MaxBindackTimeout until the binding
// expires, then the client is withdrawn.
func TestRefresh(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.register1(400 * time.Second) // reduced by the LMA from 3600 s
	h.clk.Advance(300*time.Second - time.Millisecond)
	h.quiet()
	h.clk.Advance(time.Millisecond)
	ref := h.nextPBU()
	want := []string{
		"Mobile Node Identifier=020000000001@ap.example.net",
		"Home Network Prefix=2001:db8:100:1::/64",
		"Handoff Indicator=Handoff state not changed (Re-registration)",
		"Access Technology Type=IEEE 802.11a/b/g",
		"Mobile Node Link-layer Identifier=02:00:00:00:00:01",
		"timestamp",
		"IPv4 Home Address Request=10.20.0.5/24",
		"IPv4 DHCP Support Mode",
	}
	if diff := cmp.Diff(want, optionSummary(ref)); diff != "" {
		t.Errorf("refresh options (-want +got):\n%s", diff)
	}
	if ref.Lifetime != time.Hour {
		t.Errorf("refresh asks %v, want the configured 1h", ref.Lifetime)
	}
	h.deliver(pba(ref, mh.StatusAccepted, time.Hour, grant()...))
	if ev := h.rec.take(); !contains(ev, "ra serve 02:00:00:00:00:01 ll=invalid IP [2001:db8:100:1::/64] 1h0m0s") {
		t.Errorf("refresh did not renew the RA lifetime: %v", ev)
	} else if contains(ev, "ra announce") {
		// The client has been here all along: its router entry is fine.
		t.Errorf("a refresh announced the router again: %v", ev)
	}

	// The next refresh goes unanswered.
	h.clk.Advance(45 * time.Minute)
	h.nextPBU()
	sent := 1
	for range 15 * 60 {
		h.clk.Advance(time.Second)
		for h.lma.Pending() > 0 {
			if _, ok := h.next().(*mh.ProxyBindingUpdate); ok {
				sent++
			}
		}
	}
	// 0, 1.5, 4.5, 10.5, 22.5, 46.5, then every 32 s until 900 s.
	if want := 6 + 26; sent != want { // 46.5 + 26*32 = 878.5 s
		t.Errorf("%d refresh PBUs in the last quarter, want %d", sent, want)
	}
	ev := h.rec.take()
	if !contains(ev, "ra withdraw") || h.e.Stats().Expired != 1 {
		t.Errorf("expired binding not withdrawn: %v", ev)
	}
	if got := h.dp.String(); contains(lines(got), "2001:db8:100:1::/64") {
		t.Errorf("expired client still in the data plane:\n%s", got)
	}
}

// RFC 5213 6.9.1.4: detach deregisters with lifetime 0 and the same
// options; the data plane and the access side forget the client at once.
func TestDeregistration(t *testing.T) {
	tests := []struct {
		name   string
		detach func(*Engine)
		ra     string
	}{
		{"hostapd disconnect", func(e *Engine) {
			e.OnStation(hostapd.Event{Kind: hostapd.Disconnected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceAction})
		}, "ra forget"},
		{"silence", func(e *Engine) { e.OnSniffDetach(sniff.Detach{MAC: client1, Interface: "br-lan"}) }, "ra forget"},
		{"DHCP release", func(e *Engine) { e.DHCPEngine("br-lan").OnRelease(client1, hoa1.Addr()) }, "ra withdraw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, baseConf, noHeartbeat)
			base := h.dp.String()
			h.register1(time.Hour)
			tt.detach(h.e)
			d := h.nextPBU()
			if d.Lifetime != 0 || d.Flags != mh.BUFlagA|mh.BUFlagP {
				t.Errorf("deregistration %v", d)
			}
			if hnp, _ := mh.FirstOption[*mh.HomeNetworkPrefix](d.Options); hnp == nil || hnp.Prefix != hnp1 {
				t.Errorf("deregistration without the assigned prefix: %v", d)
			}
			if got := h.dp.String(); got != base {
				t.Errorf("data plane after detach:\n%s\nwant the base:\n%s", got, base)
			}
			ev := h.rec.take()
			if !contains(ev, tt.ra) || !contains(ev, "dhcp forget") || !contains(ev, "sniff forget") {
				t.Errorf("access side: %v", ev)
			}
			// Unanswered, it is retransmitted and given up; answered,
			// nothing more.
			h.clk.Advance(1500 * time.Millisecond)
			d2 := h.nextPBU()
			h.deliver(pba(d2, mh.StatusAccepted, 0))
			h.clk.Advance(time.Minute)
			for h.lma.Pending() > 0 {
				if p, ok := h.next().(*mh.ProxyBindingUpdate); ok {
					t.Errorf("PBU after the deregistration was acknowledged: %v", p)
				}
			}
		})
	}
	// A release of an address the client does not hold is not a detach.
	h := newHarness(t, baseConf, nil)
	h.register1(time.Hour)
	h.e.DHCPEngine("br-lan").OnRelease(client1, router1)
	h.quiet()
	// A detach of an unknown client does nothing.
	h.e.OnSniffDetach(sniff.Detach{MAC: client2, Interface: "br-lan"})
	h.quiet()
	_ = dhcpserver.Lease{}
}
