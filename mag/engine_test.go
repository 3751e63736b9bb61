package mag

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/hostapd"
)

// RFC 5213 6.9.1.1, 6.9.1.2, 6.10; RFC 5844 3.1, 3.4.1: the vertical slice.
// A station associates with its 802.1X identity; the MAG sends a PBU with
// P and A and every required option; the PBA's prefix and IPv4 home
// address become the data plane, the DHCP lease and the RAs, exactly.
func TestAttachRegisterServe(t *testing.T) {
	h := newHarness(t, baseConf, nil)
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1,
		Identity: "alice@example.net", Source: hostapd.SourceAction})

	pbu := h.nextPBU()
	if pbu.Flags != mh.BUFlagA|mh.BUFlagP || pbu.Lifetime != time.Hour {
		t.Errorf("PBU flags %v lifetime %v, want [A P] 1h", pbu.Flags, pbu.Lifetime)
	}
	want := []string{
		"Mobile Node Identifier=alice@example.net",
		"Home Network Prefix=::/0",
		"Handoff Indicator=Handoff state unknown",
		"Access Technology Type=IEEE 802.11a/b/g",
		"Mobile Node Link-layer Identifier=02:00:00:00:00:01",
		"Link-local Address=fe80::200:5eff:fe00:5213",
		"timestamp",
		"IPv4 Home Address Request=0.0.0.0/0",
		"IPv4 DHCP Support Mode",
	}
	if diff := cmp.Diff(want, optionSummary(pbu)); diff != "" {
		t.Errorf("PBU options (-want +got):\n%s", diff)
	}
	ts, _ := mh.FirstOption[*mh.Timestamp](pbu.Options)
	if got := ts.Time(); got.Sub(start).Abs() > time.Millisecond {
		t.Errorf("timestamp %v, want the clock's %v (RFC 5213 5.5)", got, start)
	}
	if ev := h.rec.take(); len(ev) != 0 {
		t.Errorf("access side told %v before the PBA; RFC 5213 6.9.1.1: nothing is served before", ev)
	}
	if _, ok := h.e.Lookup(client1); ok {
		t.Error("lease before the PBA")
	}

	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))

	wantDP := lines(`
tunnel pmip0 ip6tnl local 2001:db8:1:1::2 remote 2001:db8:ffff::1 hoplimit 64
link br-lan address 00:00:5e:00:52:13
link lan4 address 00:00:5e:00:52:13
link br-lan addrgenmode none
link lan4 addrgenmode none
sysctl net.ipv4.conf.all.forwarding=1
sysctl net.ipv4.conf.all.rp_filter=0
sysctl net.ipv6.conf.all.forwarding=1
sysctl net.ipv6.conf.br-lan.accept_ra=0
sysctl net.ipv6.conf.br-lan.forwarding=1
sysctl net.ipv6.conf.lan4.accept_ra=0
sysctl net.ipv6.conf.lan4.forwarding=1
address 10.20.0.1/32 dev br-lan noprefixroute
address fe80::200:5eff:fe00:5213/64 dev br-lan nodad noprefixroute
address fe80::200:5eff:fe00:5213/64 dev lan4 nodad noprefixroute
route 0.0.0.0/0 dev pmip0 table 158
route 10.20.0.5/32 dev br-lan table 254
route 2001:db8:100:1::/64 dev br-lan table 254 metric 1024
route ::/0 dev pmip0 table 158 metric 1024
rule 900 from 10.20.0.5/32 iif br-lan lookup 158
rule 900 from 2001:db8:100:1::/64 iif br-lan lookup 158
filter table
filter access br-lan
filter access lan4
filter source 02:00:00:00:00:01 10.20.0.5/32
filter source 02:00:00:00:00:01 2001:db8:100:1::/64
`)
	if diff := cmp.Diff(wantDP, lines(h.dp.String())); diff != "" {
		t.Errorf("data plane (-want +got):\n%s", diff)
	}
	wantEv := []string{
		"br-lan dhcp ready 02:00:00:00:00:01 lease=true/10.20.0.5/24 router=10.20.0.1 lifetime=1h0m0s",
		"br-lan ra announce 02:00:00:00:00:01",
		"br-lan ra serve 02:00:00:00:00:01 ll=invalid IP [2001:db8:100:1::/64] 1h0m0s",
		"br-lan sniff registered 02:00:00:00:00:01 [10.20.0.5]",
	}
	if diff := cmp.Diff(wantEv, h.rec.take()); diff != "" {
		t.Errorf("access side (-want +got):\n%s", diff)
	}
	h.quiet()
}

// Bindings is the list pmipctl shows.
func TestBindings(t *testing.T) {
	h := newHarness(t, greConf, nil)
	h.deliver(pba(h.attach1(), mh.StatusAccepted, time.Hour, append(grant(), &mh.GREKey{HasKey: true, Key: 9})...))
	h.e.OnSniffAttach(rsTrigger(client2))
	got := h.e.Bindings()
	if len(got) != 2 {
		t.Fatalf("%d bindings", len(got))
	}
	b1, b2 := got[0], got[1]
	if b1.State != "registered" || b1.MNID != "020000000001@ap.example.net" || b1.HoA != hoa1 ||
		len(b1.Prefixes) != 1 || b1.Prefixes[0] != hnp1 || b1.GREKeyOut != 9 || b1.GREKeyIn == 0 ||
		!b1.Expires.Equal(start.Add(time.Hour)) || b1.Interface != "br-lan" {
		t.Errorf("client 1: %+v", b1)
	}
	if b2.State != "registering" || !b2.Expires.IsZero() || b2.MAC.String() != client2.String() {
		t.Errorf("client 2: %+v", b2)
	}
}

// A registration changes only its client's kernel objects (O(1) whatever
// the number of clients); a failed change is repaired by installing the
// whole state again.
func TestDataplaneChangesAndResync(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.register1(time.Hour)
	want := []string{
		"add address 10.20.0.1/32 dev br-lan noprefixroute",
		"replace route 10.20.0.5/32 dev br-lan table 254",
		"replace route 2001:db8:100:1::/64 dev br-lan table 254 metric 1024",
		"add rule 900 from 10.20.0.5/32 iif br-lan lookup 158",
		"add rule 900 from 2001:db8:100:1::/64 iif br-lan lookup 158",
		"add filter source 02:00:00:00:00:01 10.20.0.5/32",
		"add filter source 02:00:00:00:00:01 2001:db8:100:1::/64",
	}
	if diff := cmp.Diff(want, h.dp.Kernel.Ops()); diff != "" {
		t.Errorf("kernel operations of one registration (-want +got):\n%s", diff)
	}
	full := h.dp.String()

	// The kernel refuses client 2's route: the change fails, so does the
	// full installation that follows, and both are counted.
	h.dp.Kernel.Fail("2001:db8:100:2::/64 dev br-lan", syscall.ENOBUFS)
	h.e.OnSniffAttach(rsTrigger(client2))
	h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour, &mh.HomeNetworkPrefix{Prefix: hnp2}))
	if s := h.e.Stats(); s.DataplaneFailures != 2 {
		t.Errorf("data plane failures %d, want 2 (the change, then the full Set)", s.DataplaneFailures)
	}
	// Once the kernel accepts again, the next change installs everything.
	h.dp.Kernel.Fail("2001:db8:100:2::/64 dev br-lan", nil)
	h.e.OnSniffDetach(snDetach(client1))
	got := h.dp.String()
	if !strings.Contains(got, "route 2001:db8:100:2::/64 dev br-lan") || strings.Contains(got, hnp1.String()) || got == full {
		t.Errorf("after the resynchronisation:\n%s", got)
	}
}
