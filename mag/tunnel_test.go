package mag

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/magconfig"
)

var (
	greConf = strings.Replace(baseConf, "option binding_lifetime '3600'", "option binding_lifetime '3600'\n\toption tunnel 'gre'", 1)
	v4Conf  = strings.Replace(strings.Replace(baseConf,
		"option lma_address '2001:db8:ffff::1'\n\tlist proxy_coa '2001:db8:1:1::2'",
		"option transport 'ipv4'\n\toption lma_ipv4_address '198.51.100.1'\n\tlist proxy_coa '198.51.100.21'", 1),
		"option binding_lifetime '3600'", "option binding_lifetime '3600'\n\toption tunnel 'ipip'", 1)
)

// RFC 5845 3.1, 6.1: with GRE the PBU carries the MAG's downlink key, the
// PBA the LMA's uplink key, and the client's traffic leaves through the
// flow-based GRE device with its session's key, from its own table.
func TestGREKeys(t *testing.T) {
	h := newHarness(t, greConf, nil)
	pbu := h.attach1()
	down, ok := mh.FirstOption[*mh.GREKey](pbu.Options)
	if !ok || !down.HasKey || down.Key == 0 {
		t.Fatalf("PBU without a downlink GRE key: %v", pbu)
	}
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, append(grant(), &mh.GREKey{HasKey: true, Key: 0xabcd})...))
	want := lines(`
tunnel pmip0 ip6gre external
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
route 0.0.0.0/0 encap ip6 id 43981 key dst 2001:db8:ffff::1 src 2001:db8:1:1::2 hoplimit 64 dev pmip0 table 1000
route 10.20.0.5/32 dev br-lan table 254
route 2001:db8:100:1::/64 dev br-lan table 254 metric 1024
route ::/0 encap ip6 id 43981 key dst 2001:db8:ffff::1 src 2001:db8:1:1::2 hoplimit 64 dev pmip0 table 1000 metric 1024
rule 900 from 10.20.0.5/32 iif br-lan lookup 1000
rule 900 from 2001:db8:100:1::/64 iif br-lan lookup 1000
filter table
filter access br-lan
filter access lan4
filter source 02:00:00:00:00:01 10.20.0.5/32
filter source 02:00:00:00:00:01 2001:db8:100:1::/64
`)
	if diff := cmp.Diff(want, lines(h.dp.String())); diff != "" {
		t.Errorf("data plane (-want +got):\n%s", diff)
	}
	// A second client gets another key and another table; the first
	// one's table is freed when it leaves and reused.
	h.e.OnSniffDetach(snDetach(client1))
	h.e.OnSniffAttach(rsTrigger(client2))
	p2 := h.next().(*mh.ProxyBindingUpdate) // the deregistration of client 1
	if p2.Lifetime != 0 {
		t.Fatalf("want the deregistration first, got %v", p2)
	}
	reg2 := h.nextPBU()
	k2, _ := mh.FirstOption[*mh.GREKey](reg2.Options)
	if k2.Key == down.Key {
		t.Errorf("two sessions share downlink key %d", k2.Key)
	}
	h.deliver(pba(reg2, mh.StatusAccepted, time.Hour, &mh.HomeNetworkPrefix{Prefix: hnp2}, &mh.GREKey{HasKey: true, Key: 7}))
	if got := h.dp.String(); !strings.Contains(got, "id 7 key dst 2001:db8:ffff::1 src 2001:db8:1:1::2 hoplimit 64 dev pmip0 table 1000") {
		t.Errorf("second client's table:\n%s", got)
	}
}

// RFC 5844 4: over an IPv4 transport network the PBU goes in UDP to port
// 5436 with the IPv4 Proxy-CoA in an IPv4 Care-of Address option; the
// tunnel is IPv4 (sit "mode any" carries IPv6 and IPv4).
func TestIPv4Transport(t *testing.T) {
	h := newHarness(t, v4Conf, nil)
	pbu := h.attach1()
	coa, ok := mh.FirstOption[*mh.IPv4CareOfAddress](pbu.Options)
	if !ok || coa.Addr.String() != "198.51.100.21" {
		t.Errorf("PBU without the IPv4 Proxy-CoA: %v", pbu)
	}
	pk := h.net.Packets()
	if last := pk[len(pk)-1]; last.To.String() != "198.51.100.1:5436" {
		t.Errorf("PBU sent to %v, want the LMA's UDP port 5436", last.To)
	}
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
	if got := h.dp.String(); !strings.Contains(got, "tunnel pmip0 sit local 198.51.100.21 remote 198.51.100.1") {
		t.Errorf("data plane:\n%s", got)
	}
	// Heartbeats are answered to the UDP port they came from.
	h.deliver(&mh.Heartbeat{Sequence: 1})
	pk = h.net.Packets()
	if last := pk[len(pk)-1]; last.To.String() != "198.51.100.1:5436" {
		t.Errorf("heartbeat response to %v", last.To)
	}
}

// RFC 5213 6.9.1.1, 6.9.3, 5.4.1: a client that moved here from another
// MAG (same MN-ID, a DHCP request for its address) registers with Handoff
// Indicator 3; the LMA returns the same prefix and address, which this
// MAG then serves from the same fixed router identity.
func TestHandover(t *testing.T) {
	// The previous MAG: the client registered there.
	old := newHarness(t, baseConf, noHeartbeat)
	old.register1(time.Hour)

	// The new MAG: the client's DHCP client asks for its address again.
	h := newHarness(t, baseConf, noHeartbeat)
	h.e.DHCPEngine("br-lan").OnClientSeen(dhcpClient(client1, "REQUEST", hoa1.Addr()))
	pbu := h.nextPBU()
	want := []string{
		"Mobile Node Identifier=020000000001@ap.example.net",
		"Home Network Prefix=::/0",
		"Handoff Indicator=Handoff between mobile access gateways for the same interface",
		"Access Technology Type=IEEE 802.11a/b/g",
		"Mobile Node Link-layer Identifier=02:00:00:00:00:01",
		"Link-local Address=fe80::200:5eff:fe00:5213",
		"timestamp",
		"IPv4 Home Address Request=10.20.0.5/32",
		"IPv4 DHCP Support Mode",
	}
	if diff := cmp.Diff(want, optionSummary(pbu)); diff != "" {
		t.Errorf("handover PBU (-want +got):\n%s", diff)
	}
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
	ev := h.rec.take()
	if l, ok := h.e.Lookup(client1); !ok || l.Addr != hoa1 || l.Router != router1 {
		t.Errorf("lease %v, want the same address and router as before", l)
	}
	if !contains(ev, "ra serve 02:00:00:00:00:01 ll=invalid IP [2001:db8:100:1::/64]") {
		t.Errorf("RA not the same prefix: %v", ev)
	}
	// Both MAGs present the same router (RFC 5213 6.9.3): same
	// link-local address on the access link.
	if a, b := h.dp.String(), old.dp.String(); !strings.Contains(a, "fe80::200:5eff:fe00:5213/64 dev br-lan") || !strings.Contains(b, "fe80::200:5eff:fe00:5213/64 dev br-lan") {
		t.Errorf("fixed link-local missing:\n%s\n%s", a, b)
	}
	// The LMA then revokes the old MAG's binding (RFC 5846, inter-MAG
	// handover): forgotten there without deregistration.
	old.deliver(&mh.BindingRevocationIndication{Trigger: mh.TriggerInterMAGSameAccess, Sequence: 1,
		Flags: mh.RevocationProxy, Options: []mh.Option{mh.NewNAI("020000000001@ap.example.net")}})
	if bra := old.nextBRA(); bra.Status != mh.RevocationSuccess {
		t.Errorf("old MAG BRA %v", bra)
	}
	old.quiet()
}

// New refuses configurations the engine cannot run with.
func TestNewRejects(t *testing.T) {
	for name, edit := range map[string]func(*magconfig.Config){
		"no Proxy-CoA":        func(c *magconfig.Config) { c.ProxyCoA = magconfig.Config{}.ProxyCoA },
		"lifetime not 4 s":    func(c *magconfig.Config) { c.BindingLifetime = 10 * time.Second },
		"timers inverted":     func(c *magconfig.Config) { c.MaxBindackTimeout = time.Second },
		"no access link":      func(c *magconfig.Config) { c.Access = nil },
		"link-local not fe80": func(c *magconfig.Config) { c.LinkLocalAddress = lmaAddr },
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := magconfig.Parse("t", []byte(baseConf))
			if err != nil {
				t.Fatal(err)
			}
			edit(&cfg)
			if _, err := New(cfg, Options{}, nil, nil, nil, nil); err == nil {
				t.Error("accepted")
			}
			h := newHarness(t, baseConf, nil)
			if _, err := New(cfg, Options{}, nil, nil, h.lma, h.dp); err == nil {
				t.Error("accepted")
			}
		})
	}
}
