package mag

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/sniff"
)

func ctrlConnected(mac net.HardwareAddr, identity string, fast bool) hostapd.Event {
	return hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: mac, Identity: identity, Source: hostapd.SourceCtrl, FastReassoc: fast}
}

func hiOf(p *mh.ProxyBindingUpdate) mh.HandoffIndicator {
	hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](p.Options)
	return hi.HI
}

// docs/handover.md 5.3, RFC 5213 6.9.1.1 and 8.4: a station hostapd's
// monitor saw reassociate without EAP (802.11r FT, PMKSA cache) is
// registered with Handoff Indicator 3, a full-EAP association with 4;
// either way a refresh says 5 (6.9.1.3).
func TestHandoffIndicatorFromMonitor(t *testing.T) {
	for _, tc := range []struct {
		name string
		fast bool
		want mh.HandoffIndicator
	}{
		{"fast reassociation: handoff between MAGs", true, mh.HandoffBetweenMAGsSameInterface},
		{"full EAP: state unknown", false, mh.HandoffStateUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseConf, noHeartbeat)
			h.e.OnStation(ctrlConnected(client1, "alice@example.net", tc.fast))
			p := h.nextPBU()
			h.quiet()
			id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](p.Options)
			if got := []any{id.String(), hiOf(p)}; !cmp.Equal(got, []any{"alice@example.net", tc.want}) {
				t.Fatalf("MN-ID, HI = %v, want alice@example.net, %v", got, tc.want)
			}
			h.deliver(pba(p, mh.StatusAccepted, time.Hour, grant()...))
			h.rec.take()
			// A duplicate event (the hook beside the monitor, a resync)
			// registers nothing more.
			h.e.OnStation(ctrlConnected(client1, "alice@example.net", tc.fast))
			h.quiet()
			h.clk.Advance(time.Hour * RefreshNum / RefreshDen)
			if r := h.nextPBU(); hiOf(r) != mh.HandoffStateNotChanged || r.Lifetime != time.Hour {
				t.Errorf("refresh: HI %v lifetime %v, want 5 and 1h", hiOf(r), r.Lifetime)
			}
		})
	}
}

// The hint survives the identity wait: the client's RS is held, the
// monitor's event ends the wait, the registration says 3.
func TestHandoffIndicatorAfterIdentityWait(t *testing.T) {
	h := newHarness(t, waitConf, noHeartbeat)
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation, LinkLocal: netip.MustParseAddr("fe80::1")})
	h.quiet()
	h.e.OnStation(ctrlConnected(client1, "alice@example.net", true))
	if p := h.nextPBU(); hiOf(p) != mh.HandoffBetweenMAGsSameInterface {
		t.Errorf("HI %v, want 3", hiOf(p))
	}
	h.quiet()
}

// Without the wait, the client's own frame registers first with 4; the
// monitor's event then tells of the fast reassociation, and the
// retransmissions say 3.
func TestHandoffIndicatorUpgradedOnRetransmission(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.e.OnSniffAttach(rsTrigger(client1))
	if p := h.nextPBU(); hiOf(p) != mh.HandoffStateUnknown {
		t.Fatalf("first PBU HI %v, want 4", hiOf(p))
	}
	h.e.OnStation(ctrlConnected(client1, "", true))
	h.quiet()
	h.clk.Advance(h.cfg.InitialBindackTimeoutFirstReg)
	if p := h.nextPBU(); hiOf(p) != mh.HandoffBetweenMAGsSameInterface {
		t.Errorf("retransmission HI %v, want 3", hiOf(p))
	}
}

type removals struct {
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

func (r *removals) remove(ctx context.Context, bss string, mac net.HardwareAddr) error {
	r.mu.Lock()
	r.got = append(r.got, bss+" "+mac.String())
	r.mu.Unlock()
	r.done <- struct{}{}
	return nil
}

// docs/handover.md 5.5: when the LMA revokes a binding because the client
// moved to another MAG (RFC 5846 8.1 handoff trigger), hostapd is told to
// drop the stale station without a frame; the disconnection it reports
// then is ignored quietly. Other revocations leave the station alone.
func TestRevocationRemovesStation(t *testing.T) {
	id := mh.NewNAI("alice@example.net")
	for _, tc := range []struct {
		name    string
		trigger mh.RevocationTrigger
		removed bool
	}{
		{"inter-MAG handover, same access type", mh.TriggerInterMAGSameAccess, true},
		{"inter-MAG handover, unknown", mh.TriggerInterMAGUnknown, true},
		{"administrative", mh.TriggerAdministrative, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseConf, noHeartbeat)
			rm := &removals{done: make(chan struct{}, 4)}
			h.e.opts.StationRemove = rm.remove
			h.e.OnStation(ctrlConnected(client1, "alice@example.net", false))
			h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour, grant()...))
			h.rec.take()
			h.deliver(&mh.BindingRevocationIndication{Trigger: tc.trigger, Sequence: 9, Flags: mh.RevocationProxy, Options: []mh.Option{id}})
			if bra := h.nextBRA(); bra.Status != mh.RevocationSuccess {
				t.Fatalf("BRA %v", bra)
			}
			if tc.removed {
				select {
				case <-rm.done:
				case <-time.After(5 * time.Second):
					t.Fatal("hostapd was not asked to drop the station")
				}
				if diff := cmp.Diff([]string{"wlan0 02:00:00:00:00:01"}, rm.got); diff != "" {
					t.Errorf("removals (-want +got):\n%s", diff)
				}
			} else {
				h.quiet()
				if len(rm.got) != 0 {
					t.Errorf("removals %v, want none", rm.got)
				}
			}
			h.rec.take()
			// hostapd's AP-STA-DISCONNECTED for it: nothing to do.
			h.e.OnStation(hostapd.Event{Kind: hostapd.Disconnected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceCtrl})
			h.quiet()
			if tc.removed {
				if ev := h.rec.take(); len(ev) != 0 {
					t.Errorf("access side after the late disconnect: %v", ev)
				}
			}
			if got := h.e.StationsOn("wlan0"); len(got) != 0 {
				t.Errorf("StationsOn after the disconnect: %v", got)
			}
		})
	}
}

// StationsOn lists what the monitor resynchronises against: stations
// hostapd reported on the BSS and bindings that name it.
func TestStationsOn(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.e.OnStation(ctrlConnected(client2, "", false))
	h.e.OnStation(ctrlConnected(client1, "alice@example.net", false))
	h.e.OnSniffAttach(rsTrigger(net.HardwareAddr{2, 0, 0, 0, 0, 3})) // no BSS
	got := h.e.StationsOn("wlan0")
	if !slices.EqualFunc(got, []net.HardwareAddr{client1, client2}, func(a, b net.HardwareAddr) bool { return slices.Equal(a, b) }) {
		t.Errorf("StationsOn(wlan0) = %v", got)
	}
	if got := h.e.StationsOn("wlan1"); len(got) != 0 {
		t.Errorf("StationsOn(wlan1) = %v", got)
	}
}

// The access link went down and up: the kernel dropped its addresses
// and the routes through it. ResyncDataplane reads the kernel again and
// puts everything back (a Set alone trusts its last state and would not).
func TestResyncDataplaneAfterLinkDown(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.register1(time.Hour)
	// A whole Set after the client's own changes: from now on the data
	// plane trusts what it installed.
	if err := h.e.applyDataplane(); err != nil {
		t.Fatal(err)
	}
	want := h.dp.String()
	ctx := context.Background()
	st, err := h.dp.Kernel.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Addresses {
		if err := h.dp.Kernel.Apply(ctx, dataplane.Op{Action: dataplane.Del, Obj: a}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range st.Routes {
		if err := h.dp.Kernel.Apply(ctx, dataplane.Op{Action: dataplane.Del, Obj: r}); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Addresses) == 0 || len(st.Routes) == 0 || h.dp.String() == want {
		t.Fatalf("nothing removed: the test proves nothing:\n%s", want)
	}
	if err := h.e.applyDataplane(); err != nil || h.dp.String() == want {
		t.Fatalf("a plain Set put things back (%v): the test proves nothing", err)
	}
	gone := h.dp.String()
	if err := h.e.ResyncDataplane(); err != nil {
		t.Fatal(err)
	}
	if h.dp.String() == gone {
		t.Fatal("ResyncDataplane changed nothing")
	}
	if diff := cmp.Diff(want, h.dp.String()); diff != "" {
		t.Errorf("after ResyncDataplane (-want +got):\n%s", diff)
	}
}
