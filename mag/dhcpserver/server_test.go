package dhcpserver_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
)

// checkConfig checks what a client configures from an OFFER or ACK: the
// LMA's address, prefix length, router and the lease bounds.
func checkConfig(t *testing.T, f dhcpservertest.ServerFrame, lease time.Duration) {
	t.Helper()
	m := f.Msg
	if got := m.YourIPAddr.String(); got != homeAddr.Addr().String() {
		t.Errorf("yiaddr %s, want %s", got, homeAddr.Addr())
	}
	if ones, _ := m.SubnetMask().Size(); ones != homeAddr.Bits() {
		t.Errorf("subnet mask /%d, want /%d", ones, homeAddr.Bits())
	}
	if r := m.Router(); len(r) != 1 || r[0].String() != router.String() {
		t.Errorf("routers %v, want [%s]", r, router)
	}
	if d := m.DNS(); len(d) != 1 || d[0].String() != dnsAddr.String() {
		t.Errorf("dns %v, want [%s]", d, dnsAddr)
	}
	if sid := m.ServerIdentifier(); sid.String() != router.String() {
		t.Errorf("server identifier %v, want %s", sid, router)
	}
	if got := m.IPAddressLeaseTime(0); got != lease {
		t.Errorf("lease time %v, want %v", got, lease)
	}
	if got := m.IPAddressRenewalTime(0); got != (lease / 2).Truncate(time.Second) {
		t.Errorf("T1 %v, want %v", got, lease/2)
	}
	if got := m.IPAddressRebindingTime(0); got != (lease * 7 / 8).Truncate(time.Second) {
		t.Errorf("T2 %v, want %v", got, lease*7/8)
	}
	if f.SrcMAC.String() != routerMAC.String() || f.SrcIP != router {
		t.Errorf("sent from %v %v, want %v %v", f.SrcMAC, f.SrcIP, routerMAC, router)
	}
	if m.OpCode != dhcpv4.OpcodeBootReply || m.ClientHWAddr.String() != clientMAC.String() {
		t.Errorf("op %v chaddr %v", m.OpCode, m.ClientHWAddr)
	}
}

func checkDest(t *testing.T, f dhcpservertest.ServerFrame, hw net.HardwareAddr, ip netip.Addr) {
	t.Helper()
	if f.DstMAC.String() != hw.String() || f.DstIP != ip {
		t.Errorf("sent to %v %v, want %v %v", f.DstMAC, f.DstIP, hw, ip)
	}
}

// TestExchange runs a client through its whole life: DISCOVER with no
// lease (trigger, no OFFER), LeaseReady (OFFER at once, same xid),
// REQUEST (ACK), RENEW, REBIND, RELEASE.
func TestExchange(t *testing.T) {
	h := newHarness(t, nil)
	disc := discover(t, clientMAC, false, dhcpv4.WithOption(dhcpv4.OptHostName("phone")),
		dhcpv4.WithOption(dhcpv4.OptClientIdentifier([]byte{1, 2, 0x11, 0x22, 0x33, 0x44, 0x55})))
	h.process(bcastFrame(clientMAC, disc))

	// RFC 5844 3.4.1: no OFFER before the PBA, but the engine is asked.
	h.noReply()
	seen := h.eng.Seen()
	if len(seen) != 1 {
		t.Fatalf("OnClientSeen calls: %d, want 1", len(seen))
	}
	want := dhcpserver.Client{HardwareAddr: clientMAC, ClientID: []byte{1, 2, 0x11, 0x22, 0x33, 0x44, 0x55},
		Hostname: "phone", MessageType: "DISCOVER"}
	if d := cmp.Diff(want, seen[0], cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("OnClientSeen (-want +got):\n%s", d)
	}
	if h.srv.Pending() != 1 {
		t.Errorf("pending %d, want 1", h.srv.Pending())
	}

	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	offer := h.reply()
	if offer.Msg.MessageType() != dhcpv4.MessageTypeOffer || offer.Msg.TransactionID != disc.TransactionID {
		t.Fatalf("got %s, want OFFER for xid %v", offer.Msg.Summary(), disc.TransactionID)
	}
	checkConfig(t, offer, time.Hour)
	// Broadcast bit clear: unicast to chaddr and yiaddr (RFC 2131 4.1).
	checkDest(t, offer, clientMAC, homeAddr.Addr())
	// RFC 6842: client identifier echoed.
	if got := offer.Msg.Options.Get(dhcpv4.OptionClientIdentifier); len(got) != 7 {
		t.Errorf("client identifier not echoed: %x", got)
	}
	if h.srv.Pending() != 0 {
		t.Errorf("pending %d after the answer, want 0", h.srv.Pending())
	}

	// SELECTING, with the broadcast bit set: ACK broadcast.
	req := request(t, clientMAC, disc.TransactionID, withServerID(router), withRequested(homeAddr.Addr()),
		dhcpv4.WithBroadcast(true))
	h.process(bcastFrame(clientMAC, req))
	ack := h.reply()
	if ack.Msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("got %s, want ACK", ack.Msg.Summary())
	}
	checkConfig(t, ack, time.Hour)
	checkDest(t, ack, dhcpservertest.Broadcast, bcast4)

	// RENEWING: unicast to the server identifier, ciaddr set; the ACK
	// goes to ciaddr.
	renew := request(t, clientMAC, dhcpv4.TransactionID{9, 9, 9, 9}, dhcpv4.WithClientIP(homeAddr.Addr().AsSlice()))
	h.process(dhcpservertest.ClientFrame(clientMAC, routerMAC, homeAddr.Addr(), router, renew))
	ack = h.reply()
	if ack.Msg.MessageType() != dhcpv4.MessageTypeAck || ack.Msg.TransactionID != renew.TransactionID {
		t.Fatalf("got %s, want ACK to the renewal", ack.Msg.Summary())
	}
	checkConfig(t, ack, time.Hour)
	checkDest(t, ack, clientMAC, homeAddr.Addr())
	if ack.Msg.ClientIPAddr.String() != homeAddr.Addr().String() {
		t.Errorf("ACK ciaddr %v, want the request's", ack.Msg.ClientIPAddr)
	}

	// REBINDING: the same, broadcast.
	rebind := request(t, clientMAC, dhcpv4.TransactionID{8, 8, 8, 8}, dhcpv4.WithClientIP(homeAddr.Addr().AsSlice()))
	h.process(dhcpservertest.ClientFrame(clientMAC, dhcpservertest.Broadcast, homeAddr.Addr(), bcast4, rebind))
	ack = h.reply()
	if ack.Msg.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("got %s, want ACK to the rebinding", ack.Msg.Summary())
	}
	checkDest(t, ack, clientMAC, homeAddr.Addr())

	rel, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithHwAddr(clientMAC),
		dhcpv4.WithClientIP(homeAddr.Addr().AsSlice()), withServerID(router))
	if err != nil {
		t.Fatal(err)
	}
	h.process(dhcpservertest.ClientFrame(clientMAC, routerMAC, homeAddr.Addr(), router, rel))
	h.noReply()
	if d := cmp.Diff([]dhcpservertest.Event{{HardwareAddr: clientMAC, Addr: homeAddr.Addr()}}, h.eng.Releases(),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("releases (-want +got):\n%s", d)
	}

	st := h.srv.Stats()
	if st.Offers != 1 || st.Acks != 3 || st.Naks != 0 || st.Triggers != 1 || st.Answered != 1 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestOfferWithLease: a client the engine already knows is offered at
// once, without a trigger.
func TestOfferWithLease(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.SetLease(clientMAC, testLease())
	disc := discover(t, clientMAC, true, withRequested(netip.MustParseAddr("192.168.1.50")))
	h.process(bcastFrame(clientMAC, disc))
	offer := h.reply()
	if offer.Msg.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("got %s", offer.Msg.Summary())
	}
	// The LMA's address, not the requested one (RFC 5844: the LMA assigns).
	checkConfig(t, offer, time.Hour)
	checkDest(t, offer, dhcpservertest.Broadcast, bcast4)
	if n := len(h.eng.Seen()); n != 0 {
		t.Errorf("OnClientSeen called %d times for a known client", n)
	}
}

// TestLeaseTimeCappedByBinding: RFC 5844 3.4.3, the lease does not
// outlive the binding.
func TestLeaseTimeCappedByBinding(t *testing.T) {
	h := newHarness(t, nil)
	l := testLease()
	l.Lifetime = 100*time.Second + 700*time.Millisecond
	h.eng.SetLease(clientMAC, l)
	h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
	checkConfig(t, h.reply(), 100*time.Second)
}

func TestNak(t *testing.T) {
	other := netip.MustParseAddr("10.20.0.99")
	for _, tc := range []struct {
		name  string
		req   func(t *testing.T) (*dhcpv4.DHCPv4, []byte)
		state string
	}{
		{"init-reboot wrong address", func(t *testing.T) (*dhcpv4.DHCPv4, []byte) {
			m := request(t, clientMAC, dhcpv4.TransactionID{1}, withRequested(other))
			return m, bcastFrame(clientMAC, m)
		}, "INIT-REBOOT"},
		{"selecting wrong address", func(t *testing.T) (*dhcpv4.DHCPv4, []byte) {
			m := request(t, clientMAC, dhcpv4.TransactionID{2}, withRequested(other), withServerID(router))
			return m, bcastFrame(clientMAC, m)
		}, "SELECTING"},
		{"renewing wrong ciaddr", func(t *testing.T) (*dhcpv4.DHCPv4, []byte) {
			m := request(t, clientMAC, dhcpv4.TransactionID{3}, dhcpv4.WithClientIP(other.AsSlice()))
			return m, dhcpservertest.ClientFrame(clientMAC, routerMAC, other, router, m)
		}, "RENEWING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.eng.SetLease(clientMAC, testLease())
			m, frame := tc.req(t)
			h.process(frame)
			nak := h.reply()
			if nak.Msg.MessageType() != dhcpv4.MessageTypeNak || nak.Msg.TransactionID != m.TransactionID {
				t.Fatalf("got %s, want NAK", nak.Msg.Summary())
			}
			// RFC 2131 4.1: NAK broadcast; table 3: no yiaddr, no lease
			// time, no configuration, but the server identifier.
			checkDest(t, nak, dhcpservertest.Broadcast, bcast4)
			if !nak.Msg.YourIPAddr.IsUnspecified() || nak.Msg.Options.Has(dhcpv4.OptionIPAddressLeaseTime) ||
				nak.Msg.Options.Has(dhcpv4.OptionRouter) || nak.Msg.Options.Has(dhcpv4.OptionSubnetMask) {
				t.Errorf("NAK carries configuration: %s", nak.Msg.Summary())
			}
			if nak.Msg.ServerIdentifier().String() != router.String() {
				t.Errorf("NAK server identifier %v", nak.Msg.ServerIdentifier())
			}
		})
	}
}

// TestSelectingOtherServer: a REQUEST naming another server means the
// client declined our offer (RFC 2131 4.3.2): silence, nothing pending.
func TestSelectingOtherServer(t *testing.T) {
	h := newHarness(t, nil)
	disc := discover(t, clientMAC, false)
	h.process(bcastFrame(clientMAC, disc))
	req := request(t, clientMAC, disc.TransactionID, withServerID(netip.MustParseAddr("192.0.2.1")),
		withRequested(netip.MustParseAddr("192.0.2.50")))
	h.process(bcastFrame(clientMAC, req))
	if h.srv.Pending() != 0 {
		t.Errorf("pending %d, want 0", h.srv.Pending())
	}
	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	h.noReply()

	// With a lease, a REQUEST for another server is also left alone.
	h.process(bcastFrame(clientMAC, req))
	h.noReply()
}

// TestPendingRequest: an INIT-REBOOT client the MAG has not registered
// yet (e.g. after the MAG restarted) triggers attach and gets its ACK, or
// NAK, as soon as the lease is ready.
func TestPendingRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requested netip.Addr
		want      dhcpv4.MessageType
	}{
		{"same address", homeAddr.Addr(), dhcpv4.MessageTypeAck},
		{"other address", netip.MustParseAddr("10.20.0.200"), dhcpv4.MessageTypeNak},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			req := request(t, clientMAC, dhcpv4.TransactionID{4, 5, 6, 7}, withRequested(tc.requested))
			h.process(bcastFrame(clientMAC, req))
			h.noReply()
			seen := h.eng.Seen()
			if len(seen) != 1 || seen[0].Requested != tc.requested || seen[0].MessageType != "REQUEST" {
				t.Fatalf("OnClientSeen %+v", seen)
			}
			h.eng.SetLease(clientMAC, testLease())
			h.srv.LeaseReady(clientMAC)
			r := h.reply()
			if r.Msg.MessageType() != tc.want || r.Msg.TransactionID != req.TransactionID {
				t.Fatalf("got %s, want %s", r.Msg.Summary(), tc.want)
			}
		})
	}
}

// TestLeaseReadyFromOnClientSeen: an engine that already has the lease
// may call LeaseReady from inside OnClientSeen.
func TestLeaseReadyFromOnClientSeen(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.OnSeen = func(c dhcpserver.Client) {
		h.eng.SetLease(c.HardwareAddr, testLease())
		h.srv.LeaseReady(c.HardwareAddr)
	}
	h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
	if r := h.reply(); r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("got %s", r.Msg.Summary())
	}
}

// TestLeaseReadyWithoutTransaction and after expiry: nothing is sent.
func TestLeaseReadyWithoutTransaction(t *testing.T) {
	h := newHarness(t, func(c *dhcpserver.Config) { c.PendingTimeout = 10 * time.Second })
	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	h.noReply()

	h.eng.RemoveLease(clientMAC)
	h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
	h.clk.Advance(11 * time.Second)
	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	h.noReply()
	if st := h.srv.Stats(); st.Expired != 1 {
		t.Errorf("expired %d, want 1", st.Expired)
	}
	h.srv.LeaseReady(net.HardwareAddr{1, 2, 3}) // bad input: logged, ignored
}

func TestInform(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.SetLease(clientMAC, testLease())
	inf, err := dhcpv4.NewInform(clientMAC, homeAddr.Addr().AsSlice())
	if err != nil {
		t.Fatal(err)
	}
	h.process(dhcpservertest.ClientFrame(clientMAC, routerMAC, homeAddr.Addr(), router, inf))
	ack := h.reply()
	// RFC 2131 4.3.5: ACK to ciaddr, no yiaddr, no lease time.
	if ack.Msg.MessageType() != dhcpv4.MessageTypeAck || !ack.Msg.YourIPAddr.IsUnspecified() ||
		ack.Msg.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Fatalf("got %s", ack.Msg.Summary())
	}
	checkDest(t, ack, clientMAC, homeAddr.Addr())
	if r := ack.Msg.Router(); len(r) != 1 || r[0].String() != router.String() {
		t.Errorf("routers %v", r)
	}

	// From an address that is not the lease: ignored.
	inf2, _ := dhcpv4.NewInform(clientMAC, net.IPv4(10, 20, 0, 99))
	h.process(dhcpservertest.ClientFrame(clientMAC, routerMAC, netip.MustParseAddr("10.20.0.99"), router, inf2))
	h.noReply()
}

func TestDecline(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.SetLease(clientMAC, testLease())
	dec, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline), dhcpv4.WithHwAddr(clientMAC),
		withRequested(homeAddr.Addr()), withServerID(router))
	if err != nil {
		t.Fatal(err)
	}
	h.process(bcastFrame(clientMAC, dec))
	h.noReply()
	if got := h.eng.Declines(); len(got) != 1 || got[0].Addr != homeAddr.Addr() {
		t.Errorf("declines %+v", got)
	}
	// For another server: ignored.
	dec2, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline), dhcpv4.WithHwAddr(clientMAC),
		withRequested(homeAddr.Addr()), withServerID(netip.MustParseAddr("192.0.2.1")))
	h.process(bcastFrame(clientMAC, dec2))
	if got := h.eng.Declines(); len(got) != 1 {
		t.Errorf("declines %+v", got)
	}
}

// TestBadLease: a lease the engine got wrong is not served.
func TestBadLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*dhcpserver.Lease)
	}{
		{"ipv6", func(l *dhcpserver.Lease) { l.Addr = netip.MustParsePrefix("2001:db8::1/64") }},
		{"router outside", func(l *dhcpserver.Lease) { l.Router = netip.MustParseAddr("10.21.0.1") }},
		{"router is client", func(l *dhcpserver.Lease) { l.Router = homeAddr.Addr() }},
		{"slash 32", func(l *dhcpserver.Lease) { l.Addr = netip.MustParsePrefix("10.20.0.17/32") }},
		{"network address", func(l *dhcpserver.Lease) { l.Addr = netip.MustParsePrefix("10.20.0.0/24") }},
		{"broadcast address", func(l *dhcpserver.Lease) { l.Addr = netip.MustParsePrefix("10.20.0.255/24") }},
		{"no lifetime", func(l *dhcpserver.Lease) { l.Lifetime = 0 }},
		{"no router", func(l *dhcpserver.Lease) { l.Router = netip.Addr{} }},
		{"ipv6 dns", func(l *dhcpserver.Lease) { l.DNS = []netip.Addr{netip.MustParseAddr("2001:db8::53")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			l := testLease()
			tc.mod(&l)
			h.eng.SetLease(clientMAC, l)
			h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
			h.noReply()
			if st := h.srv.Stats(); st.BadLeases == 0 {
				t.Errorf("bad lease not counted: %+v", st)
			}
		})
	}
}

func TestOptionalConfig(t *testing.T) {
	h := newHarness(t, func(c *dhcpserver.Config) {
		c.MTU = 1400
		c.DomainName = "home.example"
		c.DNS = []netip.Addr{netip.MustParseAddr("192.0.2.53")}
	})
	l := testLease()
	l.DNS = nil // Config.DNS applies
	h.eng.SetLease(clientMAC, l)
	h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
	m := h.reply().Msg
	if got := m.Options.Get(dhcpv4.OptionInterfaceMTU); len(got) != 2 || int(got[0])<<8|int(got[1]) != 1400 {
		t.Errorf("MTU option %x", got)
	}
	if m.DomainName() != "home.example" {
		t.Errorf("domain %q", m.DomainName())
	}
	if d := m.DNS(); len(d) != 1 || d[0].String() != "192.0.2.53" {
		t.Errorf("dns %v", d)
	}
}

func TestConfigErrors(t *testing.T) {
	eng := dhcpservertest.NewEngine()
	conn := dhcpservertest.NewConn(1)
	for _, tc := range []struct {
		name string
		cfg  dhcpserver.Config
	}{
		{"no engine", dhcpserver.Config{RouterMAC: routerMAC}},
		{"no mac", dhcpserver.Config{Engine: eng}},
		{"multicast mac", dhcpserver.Config{Engine: eng, RouterMAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}}},
		{"mtu", dhcpserver.Config{Engine: eng, RouterMAC: routerMAC, MTU: 67}},
		{"dns", dhcpserver.Config{Engine: eng, RouterMAC: routerMAC, DNS: []netip.Addr{netip.IPv6Loopback()}}},
		{"lease", dhcpserver.Config{Engine: eng, RouterMAC: routerMAC, LeaseTime: time.Millisecond}},
		{"negative", dhcpserver.Config{Engine: eng, RouterMAC: routerMAC, MaxPending: -1}},
	} {
		if _, err := dhcpserver.New(tc.cfg, conn, nil); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
	if _, err := dhcpserver.New(dhcpserver.Config{Engine: eng, RouterMAC: routerMAC}, nil, nil); err == nil {
		t.Error("New accepted a nil conn")
	}
}

type failConn struct{ *dhcpservertest.Conn }

func (failConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errors.New("link gone") }

// TestServeErrors: a read error ends Serve with that error; Close ends it
// with nil.
func TestServeErrors(t *testing.T) {
	cfg := dhcpserver.Config{Engine: dhcpservertest.NewEngine(), RouterMAC: routerMAC}
	srv, err := dhcpserver.New(cfg, failConn{dhcpservertest.NewConn(1)}, dhcpservertest.NewConn(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "link gone") {
		t.Errorf("Serve = %v, want the read error", err)
	}
	srv, err = dhcpserver.New(cfg, dhcpservertest.NewConn(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	srv.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve after Close = %v", err)
	}
}
