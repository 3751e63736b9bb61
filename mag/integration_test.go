package mag

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"github.com/openpmip/pmip/mag/ra"
	"github.com/openpmip/pmip/mag/sniff"
)

// The real access-side packages on in-memory conns:
//
//	client frames ─> dhcpservertest.Conn ─> dhcpserver.Server ─┐ OnClientSeen / LeaseReady
//	                                                           Engine ── transporttest ── LMA (test)
//	RAs written   <─ l2test.Conn        <─ ra.Advertiser   ────┘ Serve
type realAccess struct {
	srv   *dhcpserver.Server
	dconn *dhcpservertest.Conn
	adv   *ra.Advertiser
	rconn *l2test.Conn
}

func newRealAccess(tb testing.TB, h *harness) *realAccess {
	tb.Helper()
	x := &realAccess{dconn: dhcpservertest.NewConn(1024), rconn: l2test.New()}
	var err error
	x.srv, err = dhcpserver.New(dhcpserver.Config{
		Engine: h.e.DHCPEngine("br-lan"), RouterMAC: h.cfg.LinkLayerAddress, Clock: h.clk,
		TriggerRate: 1e9, TriggerBurst: 1e9, MaxPending: 1 << 20,
	}, x.dconn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	x.adv, err = ra.New(ra.Config{Interface: "br-lan", Conn: x.rconn, Clock: h.clk,
		RouterMAC: h.cfg.LinkLayerAddress, RouterLinkLocal: h.cfg.LinkLocalAddress, MaxRADelay: -1})
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.e.SetAccess("br-lan", AccessSide{RA: x.adv, DHCP: x.srv}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.srv.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("dhcp Serve: %v", err)
		}
	})
	return x
}

// discover injects a DHCPDISCOVER from mac and waits until the engine has
// sent the resulting PBU (sent counts the LMA's packets so far).
func (x *realAccess) discover(tb testing.TB, h *harness, mac net.HardwareAddr, sent int) *mh.ProxyBindingUpdate {
	tb.Helper()
	d, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		tb.Fatal(err)
	}
	x.dconn.Inject(dhcpservertest.ClientFrame(mac, dhcpservertest.Broadcast,
		netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), d))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.net.WaitSent(ctx, sent+1); err != nil {
		tb.Fatalf("no PBU after the DISCOVER: %v", err)
	}
	// The network logs a packet before it queues it at the LMA: read
	// blocking rather than checking what is queued.
	buf := make([]byte, 2048)
	n, _, err := h.lma.ReadFrom(buf)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := mh.Parse(buf[:n])
	p, ok := m.(*mh.ProxyBindingUpdate)
	if err != nil || !ok {
		tb.Fatalf("engine sent %v (%v), want a PBU", m, err)
	}
	return p
}

// RFC 5844 3.4.1, RFC 5213 6.7: through the real DHCP server and RA
// sender, a DHCPDISCOVER attaches the client, and the PBA's address and
// prefix reach it: an OFFER of exactly the IPv4 home address, mask and
// router, and an RA with exactly the home network prefix.
func TestRealAccessSide(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	x := newRealAccess(t, h)
	pbu := x.discover(t, h, client1, len(h.net.Packets()))
	if hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](pbu.Options); hi.HI != mh.HandoffNewInterface {
		t.Errorf("HI %v for a fresh DISCOVER", hi.HI)
	}
	select {
	case f := <-x.dconn.Sent():
		t.Fatalf("DHCP answered before the PBA: %x", f.Data)
	default:
	}
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))

	f, ok := x.dconn.Next(5 * time.Second)
	if !ok {
		t.Fatal("no OFFER after the PBA")
	}
	offer, err := dhcpv4.FromBytes(f.Data[14+20+8:])
	if err != nil {
		t.Fatal(err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || offer.YourIPAddr.String() != "10.20.0.5" ||
		!slices.ContainsFunc(offer.Router(), func(r net.IP) bool { return r.String() == "10.20.0.1" }) ||
		net.IP(offer.SubnetMask()).String() != "255.255.255.0" {
		t.Errorf("OFFER %s", offer.Summary())
	}
	w := x.rconn.Written()
	if len(w) != 2 {
		t.Fatalf("%d ND frames written, want 2 (the router's announcement, then the RA)", len(w))
	}
	if m, err := ndp.ParseMessage(w[0][14+40:]); err != nil {
		t.Fatal(err)
	} else if na, ok := m.(*ndp.NeighborAdvertisement); !ok || !na.Router || na.Solicited || !na.Override {
		t.Fatalf("first frame %+v, want an unsolicited NA (R, O) for the router", m)
	}
	m, err := ndp.ParseMessage(w[1][14+40:])
	if err != nil {
		t.Fatal(err)
	}
	adv, ok := m.(*ndp.RouterAdvertisement)
	if !ok {
		t.Fatalf("wrote %T", m)
	}
	var got []netip.Prefix
	for _, o := range adv.Options {
		if p, ok := o.(*ndp.PrefixInformation); ok {
			got = append(got, netip.PrefixFrom(p.Prefix, int(p.PrefixLength)))
		}
	}
	if !slices.Equal(got, []netip.Prefix{hnp1}) {
		t.Errorf("RA prefixes %v, want exactly %v", got, hnp1)
	}
}

// The real sniffer on an in-memory link: an RS attaches the client, the
// accepted binding makes the sniffer watch it, and its silence past the
// detach timeout deregisters it (issue 4; RFC 5213 6.9.1.4).
//
//	l2test.Conn ─> sniff.Sniffer ─OnAttach/OnDetach─> Engine ── LMA (test)
func TestRealSniffer(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	sn, err := sniff.New(sniff.Config{Interface: "br-lan", Conn: l2test.New(), Clock: h.clk,
		OnAttach: h.e.OnSniffAttach, OnDetach: h.e.OnSniffDetach,
		DetachTimeout: time.Minute, ProbeCount: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	if err := h.e.SetAccess("br-lan", AccessSide{RA: fakeRA{h.rec, "br-lan"}, Sniff: sn}); err != nil {
		t.Fatal(err)
	}
	ll := netip.MustParseAddr("fe80::1234")
	sn.HandleFrame(l2test.RS(client1, ll))
	pbu := h.nextPBU()
	sn.HandleFrame(l2test.RS(client1, ll)) // deduplicated by the sniffer
	h.quiet()
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
	if ev := h.rec.take(); !contains(ev, "ra serve 02:00:00:00:00:01 ll=fe80::1234") {
		t.Errorf("RA not sent to the link-local the RS came from: %v", ev)
	}
	if sn.Pending() != 0 {
		t.Errorf("sniffer still has %d pending after the PBA", sn.Pending())
	}
	h.clk.Advance(2 * time.Minute)
	if d := h.nextPBU(); d.Lifetime != 0 {
		t.Errorf("silence did not deregister: %v", d)
	}
}
