package mag

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/sniff"
)

// Issue 4 "Attach and detach detection", RFC 5213 6.9.1.1: every trigger
// attaches, each with the MN-ID the policy gives and the Handoff Indicator
// its evidence supports.
func TestAttachByTrigger(t *testing.T) {
	global := netip.MustParseAddr("2001:db8:100:1::1234")
	ll := netip.MustParseAddr("fe80::1234")
	tests := []struct {
		name    string
		fire    func(*Engine)
		noPBU   bool
		mnid    string
		hi      mh.HandoffIndicator
		att     mh.AccessTechnology
		request string // IPv4 Home Address Request
	}{
		{name: "hostapd_cli AP-STA-CONNECTED with identity", mnid: "alice@example.net", hi: mh.HandoffStateUnknown, att: mh.ATTIEEE80211, request: "0.0.0.0/0",
			fire: func(e *Engine) {
				e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Identity: "alice@example.net", Source: hostapd.SourceAction})
			}},
		{name: "ubus assoc waits for sta-authorized", noPBU: true,
			fire: func(e *Engine) {
				e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceUbus})
			}},
		{name: "ubus sta-authorized without identity: MAC-derived NAI", mnid: "020000000001@ap.example.net", hi: mh.HandoffStateUnknown, att: mh.ATTIEEE80211, request: "0.0.0.0/0",
			fire: func(e *Engine) {
				e.OnStation(hostapd.Event{Kind: hostapd.Authorized, Interface: "wlan0", MAC: client1, Source: hostapd.SourceUbus})
			}},
		{name: "hostapd event on a BSS no access link lists", noPBU: true,
			fire: func(e *Engine) {
				e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan9", MAC: client1, Source: hostapd.SourceAction})
			}},
		{name: "router solicitation", mnid: "020000000001@ap.example.net", hi: mh.HandoffStateUnknown, att: mh.ATTIEEE80211, request: "0.0.0.0/0",
			fire: func(e *Engine) {
				e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation, LinkLocal: ll})
			}},
		{name: "DAD of a link-local address", mnid: "020000000001@ap.example.net", hi: mh.HandoffStateUnknown, att: mh.ATTIEEE80211, request: "0.0.0.0/0",
			fire: func(e *Engine) {
				e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindDAD, LinkLocal: ll})
			}},
		{name: "DAD of a global address: handoff between MAGs", mnid: "020000000001@ap.example.net", hi: mh.HandoffBetweenMAGsSameInterface, att: mh.ATTIEEE80211, request: "0.0.0.0/0",
			fire: func(e *Engine) {
				e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindDAD, Address: global})
			}},
		{name: "DAD where the link does not enable ns", noPBU: true,
			fire: func(e *Engine) {
				e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "lan4", Kind: sniff.KindDAD, LinkLocal: ll})
			}},
		{name: "DHCPDISCOVER without requested address: new attachment", mnid: "020000000001@ap.example.net", hi: mh.HandoffNewInterface, att: mh.ATTIEEE8023, request: "0.0.0.0/0",
			fire: func(e *Engine) {
				e.DHCPEngine("lan4").OnClientSeen(dhcpserver.Client{HardwareAddr: client1, MessageType: "DISCOVER"})
			}},
		{name: "DHCPREQUEST INIT-REBOOT: handoff, the address asked of the LMA", mnid: "020000000001@ap.example.net", hi: mh.HandoffBetweenMAGsSameInterface, att: mh.ATTIEEE8023, request: "10.20.0.5/32",
			fire: func(e *Engine) {
				e.DHCPEngine("lan4").OnClientSeen(dhcpserver.Client{HardwareAddr: client1, MessageType: "REQUEST", Requested: hoa1.Addr()})
			}},
		{name: "client the policy does not serve", noPBU: true,
			fire: func(e *Engine) {
				e.OnSniffAttach(sniff.Trigger{MAC: []byte{2, 0, 0, 0, 0, 0x99}, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
			}},
		{name: "multicast source MAC", noPBU: true,
			fire: func(e *Engine) {
				e.OnSniffAttach(sniff.Trigger{MAC: []byte{1, 0, 0x5e, 0, 0, 1}, Interface: "br-lan", Kind: sniff.KindRouterSolicitation})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, baseConf, nil)
			tt.fire(h.e)
			if tt.noPBU {
				h.quiet()
				return
			}
			pbu := h.nextPBU()
			h.quiet()
			id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](pbu.Options)
			hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](pbu.Options)
			att, _ := mh.FirstOption[*mh.AccessTechnologyTypeOption](pbu.Options)
			req, _ := mh.FirstOption[*mh.IPv4HomeAddressRequest](pbu.Options)
			got := []any{id.String(), hi.HI, att.ATT, req.Prefix.String()}
			want := []any{tt.mnid, tt.hi, tt.att, tt.request}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MN-ID, HI, ATT, IPv4 request (-want +got):\n%s", diff)
			}
		})
	}
}

// Issue 4: one client, one registration, whichever triggers fire.
func TestDeduplication(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	ll := netip.MustParseAddr("fe80::1")
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation, LinkLocal: ll})
	h.e.DHCPEngine("br-lan").OnClientSeen(dhcpserver.Client{HardwareAddr: client1, MessageType: "DISCOVER"})
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindDAD, LinkLocal: ll})
	// The sniffed copy of the DISCOVER the server reported is not a
	// trigger where a DHCP server runs.
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindDHCPDiscover})
	pbu := h.nextPBU()
	h.quiet()
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
	h.rec.take()
	// Triggers of a registered client (its renewals, its RSs) are not
	// attachments either.
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "br-lan", Kind: sniff.KindRouterSolicitation, LinkLocal: ll})
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceAction})
	h.quiet()
	if s := h.e.Stats(); s.Triggers != 5 || s.Deduplicated != 4 || s.PBUSent != 1 {
		t.Errorf("stats %+v, want 5 triggers, 4 deduplicated, 1 PBU", s)
	}
}

// Where no DHCP server runs, a sniffed DHCP frame attaches the client.
func TestSniffedDHCPWithoutServer(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	if err := h.e.SetAccess("lan4", AccessSide{RA: fakeRA{h.rec, "lan4"}}); err != nil {
		t.Fatal(err)
	}
	h.e.OnSniffAttach(sniff.Trigger{MAC: client1, Interface: "lan4", Kind: sniff.KindDHCPRequest})
	h.nextPBU()
}

// A client that moves between two access links of the same MAG keeps its
// binding (same session, same Proxy-CoA: nothing to tell the LMA); its
// service moves to the new link.
func TestMoveBetweenLinks(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	h.register1(time.Hour)
	h.e.DHCPEngine("lan4").OnClientSeen(dhcpserver.Client{HardwareAddr: client1, MessageType: "REQUEST", Requested: hoa1.Addr()})
	h.quiet()
	want := []string{
		"br-lan ra forget 02:00:00:00:00:01", "br-lan dhcp forget 02:00:00:00:00:01", "br-lan sniff forget 02:00:00:00:00:01",
		"lan4 dhcp ready 02:00:00:00:00:01 lease=true/10.20.0.5/24 router=10.20.0.1 lifetime=1h0m0s",
		"lan4 ra serve 02:00:00:00:00:01 ll=invalid IP [2001:db8:100:1::/64] 1h0m0s",
		"lan4 sniff registered 02:00:00:00:00:01 [10.20.0.5]",
	}
	if diff := cmp.Diff(want, h.rec.take()); diff != "" {
		t.Errorf("access side (-want +got):\n%s", diff)
	}
	if got := h.dp.String(); !strings.Contains(got, "rule 900 from 2001:db8:100:1::/64 iif lan4 lookup 158") ||
		strings.Contains(got, "iif br-lan") {
		t.Errorf("data plane did not follow the client:\n%s", got)
	}
}

// Issue 4: the 802.1X identity becomes the MN-ID even when it arrives
// after a DHCP trigger registered the client under its MAC-derived NAI.
func TestIdentityAfterDHCP(t *testing.T) {
	for _, accepted := range []bool{false, true} {
		name := "while registering"
		if accepted {
			name = "after the PBA"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, baseConf, nil)
			h.e.DHCPEngine("br-lan").OnClientSeen(dhcpserver.Client{HardwareAddr: client1, MessageType: "DISCOVER"})
			first := h.nextPBU()
			if accepted {
				h.deliver(pba(first, mh.StatusAccepted, time.Hour, grant()...))
			}
			h.rec.take()
			h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1,
				Identity: "bob@example.net", Source: hostapd.SourceAction})

			dereg := h.nextPBU()
			id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](dereg.Options)
			if dereg.Lifetime != 0 || id.String() != "020000000001@ap.example.net" {
				t.Errorf("first PBU: lifetime %v MN-ID %v, want the MAC-derived binding deregistered", dereg.Lifetime, id)
			}
			reg := h.nextPBU()
			id, _ = mh.FirstOption[*mh.MobileNodeIdentifier](reg.Options)
			if reg.Lifetime != time.Hour || id.String() != "bob@example.net" {
				t.Errorf("second PBU: lifetime %v MN-ID %v, want a registration under the NAI", reg.Lifetime, id)
			}
			h.quiet()
			if ev := h.rec.take(); contains(ev, "forget") {
				t.Errorf("the access side was told to forget the client it still serves: %v", ev)
			}
			// The old binding's late answer does not disturb the new one.
			h.deliver(pba(dereg, mh.StatusAccepted, 0))
			h.deliver(pba(reg, mh.StatusAccepted, time.Hour, grant()...))
			if l, ok := h.e.Lookup(client1); !ok || l.Addr != hoa1 {
				t.Errorf("lease %v %v after the new PBA", l, ok)
			}
		})
	}
}

// Issue 4, bad input: a flood of new MACs costs at most MaxPendingClients
// registrations in flight; the rest are dropped and the access side told.
func TestFloodBound(t *testing.T) {
	h := newHarness(t, baseConf, nil) // max_pending_clients 4
	for i := range 10 {
		mac := []byte{0x02, 0xff, 0, 0, 0, byte(i + 1)}
		h.e.DHCPEngine("br-lan").OnClientSeen(dhcpserver.Client{HardwareAddr: mac, MessageType: "DISCOVER"})
	}
	var pbus []*mh.ProxyBindingUpdate
	for range 4 {
		pbus = append(pbus, h.nextPBU())
	}
	h.quiet()
	s := h.e.Stats()
	if s.DroppedPending != 6 {
		t.Errorf("dropped %d, want 6", s.DroppedPending)
	}
	if n := len(h.rec.take()); n != 12 {
		t.Errorf("%d access-side calls for 6 dropped clients, want 12 (DHCP and sniff forget each)", n)
	}
	// An answered registration frees a place.
	h.deliver(pba(pbus[0], mh.StatusAccepted, time.Hour, grant()...))
	h.e.DHCPEngine("br-lan").OnClientSeen(dhcpserver.Client{HardwareAddr: client2, MessageType: "DISCOVER"})
	h.nextPBU()
	// Unanswered registrations give up and free theirs (RFC 5213 6.9.4).
	h.clk.Advance(2 * time.Minute)
	if got := h.e.Stats().GaveUp; got != 4 {
		t.Errorf("gave up %d registrations, want 4", got)
	}
	h.e.mu.Lock()
	pending, n := h.e.pending, len(h.e.clients)
	h.e.mu.Unlock()
	if pending != 0 || n != 1 {
		t.Errorf("pending %d, list %d after the give-ups; want 0 and the one accepted client", pending, n)
	}
}

// A dual-radio AP: the station roams from one BSS to the other of the same
// access link, and hostapd reports the new association before the old
// disconnection. The binding stays; a disconnection from the current BSS
// detaches.
func TestRoamBetweenBSS(t *testing.T) {
	conf := strings.Replace(baseConf, "list hostapd_iface 'wlan0'", "list hostapd_iface 'wlan0'\n\tlist hostapd_iface 'wlan1'", 1)
	h := newHarness(t, conf, noHeartbeat)
	ev := func(kind hostapd.Kind, bss string) hostapd.Event {
		return hostapd.Event{Kind: kind, Interface: bss, MAC: client1, Source: hostapd.SourceAction}
	}
	h.e.OnStation(ev(hostapd.Connected, "wlan0"))
	h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour, grant()...))
	h.e.OnStation(ev(hostapd.Connected, "wlan1"))
	h.e.OnStation(ev(hostapd.Disconnected, "wlan0"))
	h.quiet()
	if _, ok := h.e.Lookup(client1); !ok {
		t.Fatal("roaming between BSSs of one link dropped the binding")
	}
	h.e.OnStation(ev(hostapd.Disconnected, "wlan1"))
	if p := h.nextPBU(); p.Lifetime != 0 {
		t.Errorf("disconnection from the current BSS: %v", p)
	}
}
