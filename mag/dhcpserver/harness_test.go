package dhcpserver_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
)

// Unit topology: no kernel, the server's two packet sockets are in-memory
// conns the test writes client frames into and reads replies from.
//
//	test (client frames) ──dconn──> Server ──Lookup/OnClientSeen──> fake Engine
//	test (ARP requests)  ──aconn──>   │
//	test <── replies ─────────────────┘

var (
	routerMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	clientMAC = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	homeAddr  = netip.MustParsePrefix("10.20.0.17/24")
	router    = netip.MustParseAddr("10.20.0.1")
	dnsAddr   = netip.MustParseAddr("10.20.0.53")
	zero4     = netip.IPv4Unspecified()
	bcast4    = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	epoch     = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
)

func testLease() dhcpserver.Lease {
	return dhcpserver.Lease{Addr: homeAddr, Router: router, DNS: []netip.Addr{dnsAddr}, Lifetime: 2 * time.Hour}
}

type harness struct {
	t     testing.TB
	clk   *clocktest.Clock
	eng   *dhcpservertest.Engine
	dconn *dhcpservertest.Conn
	aconn *dhcpservertest.Conn
	srv   *dhcpserver.Server

	injected, injectedARP uint64 // frames handed to each conn
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newHarness(t testing.TB, mod func(*dhcpserver.Config)) *harness {
	t.Helper()
	h := &harness{
		t:     t,
		clk:   clocktest.New(epoch),
		eng:   dhcpservertest.NewEngine(),
		dconn: dhcpservertest.NewConn(256),
		aconn: dhcpservertest.NewConn(256),
	}
	cfg := dhcpserver.Config{
		Engine:    h.eng,
		RouterMAC: routerMAC,
		LeaseTime: time.Hour,
		Logger:    testLogger(t),
		Clock:     h.clk,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := dhcpserver.New(cfg, h.dconn, h.aconn)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

// process hands the server one DHCP frame and returns once it has been
// handled: a sentinel frame queued behind it is being read.
func (h *harness) process(frame []byte) {
	h.t.Helper()
	h.inject(frame)
	h.inject(sentinel) // counted as ignored
	h.waitFor(func() bool { return h.srv.Stats().Received >= h.injected })
}

// inject queues a DHCP frame without waiting for it.
func (h *harness) inject(frame []byte) {
	h.injected++
	h.dconn.Inject(frame)
}

// processARP is process for the ARP conn.
func (h *harness) processARP(frame []byte) {
	h.t.Helper()
	h.injectedARP += 2
	h.aconn.Inject(frame)
	h.aconn.Inject(arpSentinel)
	h.waitFor(func() bool { return h.srv.Stats().ARPReceived >= h.injectedARP })
}

// sentinel is a frame of a local experimental EtherType (IEEE 802
// 88-B5): the DHCP path ignores it silently.
var sentinel = []byte{0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x88, 0xb5}

// arpSentinel is an ARP reply: the responder ignores it silently.
var arpSentinel = func() []byte {
	b := dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), router)
	b[14+7] = 2
	return b
}()

func (h *harness) waitFor(cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatal("timed out waiting for the server")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// reply returns the one frame the server has written, failing if there
// is none or more than one. Call it after process or LeaseReady, which
// write synchronously.
func (h *harness) reply() dhcpservertest.ServerFrame {
	h.t.Helper()
	var f dhcpservertest.Frame
	select {
	case f = <-h.dconn.Sent():
	default:
		h.t.Fatal("server sent nothing")
	}
	h.noReply()
	sf, err := dhcpservertest.ParseServerFrame(f.Data)
	if err != nil {
		h.t.Fatalf("reply frame: %v", err)
	}
	if f.To.String() != sf.DstMAC.String() {
		h.t.Fatalf("written to %v, frame addressed to %v", f.To, sf.DstMAC)
	}
	return sf
}

func (h *harness) noReply() {
	h.t.Helper()
	select {
	case f := <-h.dconn.Sent():
		sf, err := dhcpservertest.ParseServerFrame(f.Data)
		if err != nil {
			h.t.Fatalf("unexpected unparseable frame: %v", err)
		}
		h.t.Fatalf("unexpected %s", sf.Msg.Summary())
	default:
	}
}

// client message builders, as RFC 2131 4.3 and table 5 describe them.

func discover(t testing.TB, hw net.HardwareAddr, broadcast bool, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.NewDiscovery(hw, append([]dhcpv4.Modifier{dhcpv4.WithBroadcast(broadcast)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func request(t testing.TB, hw net.HardwareAddr, xid dhcpv4.TransactionID, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithHwAddr(hw),
		dhcpv4.WithTransactionID(xid),
		dhcpv4.WithBroadcast(false),
	}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func withRequested(a netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(a.AsSlice()))
}

func withServerID(a netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(a.AsSlice()))
}

// bcastFrame is a client frame broadcast from 0.0.0.0 (INIT states).
func bcastFrame(hw net.HardwareAddr, m *dhcpv4.DHCPv4) []byte {
	return dhcpservertest.ClientFrame(hw, dhcpservertest.Broadcast, zero4, bcast4, m)
}
