package mag

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport/transporttest"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/magconfig"
	"github.com/openpmip/pmip/mag/sniff"
)

// The test topology, all in memory:
//
//	fake access side (RA, DHCP, sniff recorders)    clocktest
//	        │ Serve/LeaseReady/Registered/Forget       │
//	     Engine ── transporttest (MAG 2001:db8:1:1::2) ─┼─ LMA 2001:db8:ffff::1 (the test)
//	        │ Set
//	dataplanetest.Fake (devices br-lan, lan4)

var (
	lmaAddr  = netip.MustParseAddr("2001:db8:ffff::1")
	magAddr  = netip.MustParseAddr("2001:db8:1:1::2")
	lmaAP    = netip.AddrPortFrom(lmaAddr, 0)
	client1  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	client2  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	hnp1     = netip.MustParsePrefix("2001:db8:100:1::/64")
	hnp2     = netip.MustParsePrefix("2001:db8:100:2::/64")
	hoa1     = netip.MustParsePrefix("10.20.0.5/24")
	router1  = netip.MustParseAddr("10.20.0.1")
	start    = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	baseConf = `
config mag 'main'
	option lma_address '2001:db8:ffff::1'
	list proxy_coa '2001:db8:1:1::2'
	option binding_lifetime '3600'
	option heartbeat_interval '60'
	option missing_heartbeats_allowed '3'
	option link_local_address 'fe80::200:5eff:fe00:5213'
	option link_layer_address '00:00:5e:00:52:13'
	option max_pending_clients '4'
	# Triggers register at once; identity_test.go turns the wait on.
	option identity_wait '0'

config access 'lan'
	option interface 'br-lan'
	option att '802.11'
	list trigger 'hostapd'
	list trigger 'dhcp'
	list trigger 'rs'
	list trigger 'ns'
	list hostapd_iface 'wlan0'

config access 'wired'
	option interface 'lan4'
	option att '802.3'
	list trigger 'dhcp'
	list trigger 'rs'

config policy
	option use_8021x_identity '1'
	option mac_identifier 'nai'
	option realm 'ap.example.net'
	option ipv6 '1'
	option ipv4 '1'

config client 'printer'
	option mac '02:00:00:00:00:99'
	option serve '0'
`
)

// recorder records what the engine asks of the access side, one line per
// call, in order, across links.
type recorder struct {
	mu     sync.Mutex
	e      *Engine
	events []string
	notify chan string // if set, receives every event (dropped when full)
}

func (r *recorder) add(format string, args ...any) {
	ev := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.notify != nil {
		select {
		case r.notify <- ev:
		default:
		}
	}
}

// take returns the events since the last call.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

type fakeRA struct {
	r     *recorder
	iface string
}

func (f fakeRA) Serve(mac net.HardwareAddr, ll netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error {
	f.r.add("%s ra serve %s ll=%v %v %v", f.iface, mac, ll, prefixes, lifetime)
	return nil
}
func (f fakeRA) AnnounceRouter(mac net.HardwareAddr) error {
	f.r.add("%s ra announce %s", f.iface, mac)
	return nil
}
func (f fakeRA) Withdraw(mac net.HardwareAddr) { f.r.add("%s ra withdraw %s", f.iface, mac) }
func (f fakeRA) Forget(mac net.HardwareAddr)   { f.r.add("%s ra forget %s", f.iface, mac) }

type fakeDHCP struct {
	r     *recorder
	iface string
}

// LeaseReady records the lease the server would hand out at this moment.
func (f fakeDHCP) LeaseReady(mac net.HardwareAddr) {
	l, ok := f.r.e.Lookup(mac)
	f.r.add("%s dhcp ready %s lease=%v/%v router=%v lifetime=%v", f.iface, mac, ok, l.Addr, l.Router, l.Lifetime)
}
func (f fakeDHCP) Forget(mac net.HardwareAddr) { f.r.add("%s dhcp forget %s", f.iface, mac) }

type fakeSniff struct {
	r     *recorder
	iface string
}

func (f fakeSniff) Registered(mac net.HardwareAddr, probes ...netip.Addr) error {
	f.r.add("%s sniff registered %s %v", f.iface, mac, probes)
	return nil
}
func (f fakeSniff) Forget(mac net.HardwareAddr) { f.r.add("%s sniff forget %s", f.iface, mac) }

type harness struct {
	t   testing.TB
	clk *clocktest.Clock
	net *transporttest.Network
	lma *transporttest.Conn
	dp  *dataplanetest.Fake
	e   *Engine
	rec *recorder
	cfg magconfig.Config
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MAG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newHarness builds an engine on conf (edit applied to the parsed
// config) and starts it without the read loop: the test hands it the
// LMA's messages with deliver, and reads what it sent with next.
func newHarness(t testing.TB, conf string, edit func(*magconfig.Config)) *harness {
	t.Helper()
	cfg, err := magconfig.Parse("test.conf", []byte(conf))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if edit != nil {
		edit(&cfg)
	}
	h := &harness{t: t, clk: clocktest.New(start), net: transporttest.NewNetwork(), rec: &recorder{}, cfg: cfg}
	var magConn *transporttest.Conn
	if cfg.Transport == magconfig.TransportIPv4 {
		magConn = h.net.MustListen(netip.AddrPortFrom(cfg.IPv4ProxyCoA, 40000).String())
		h.lma = h.net.MustListen(netip.AddrPortFrom(cfg.LMAIPv4Address, 5436).String())
	} else {
		magConn = h.net.MustListen(netip.AddrPortFrom(magAddr, 0).String())
		h.lma = h.net.MustListen(lmaAP.String())
	}
	h.dp = dataplanetest.New("br-lan", "lan4")
	h.e, err = New(cfg, Options{RestartCounter: 7, Rand: rand.New(rand.NewPCG(1, 2))}, testLogger(t), h.clk, magConn, h.dp)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.rec.e = h.e
	for _, iface := range []string{"br-lan", "lan4"} {
		side := AccessSide{RA: fakeRA{h.rec, iface}, DHCP: fakeDHCP{h.rec, iface}, Sniff: fakeSniff{h.rec, iface}}
		if err := h.e.SetAccess(iface, side); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.e.applyDataplane(); err != nil {
		t.Fatalf("base data plane: %v", err)
	}
	h.e.startHeartbeat()
	h.dp.Kernel.Ops()
	return h
}

// next returns the next message the engine sent to the LMA.
func (h *harness) next() mh.Message {
	h.t.Helper()
	if h.lma.Pending() == 0 {
		h.t.Fatalf("the engine sent nothing to the LMA")
	}
	buf := make([]byte, 2048)
	n, _, err := h.lma.ReadFrom(buf)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := mh.Parse(buf[:n])
	if err != nil {
		h.t.Fatalf("engine sent a bad message: %v", err)
	}
	return m
}

func (h *harness) nextPBU() *mh.ProxyBindingUpdate {
	h.t.Helper()
	m := h.next()
	p, ok := m.(*mh.ProxyBindingUpdate)
	if !ok {
		h.t.Fatalf("engine sent %v, want a PBU", m)
	}
	return p
}

// quiet checks that the engine sent nothing more.
func (h *harness) quiet() {
	h.t.Helper()
	if n := h.lma.Pending(); n != 0 {
		h.t.Fatalf("engine sent %d unexpected messages, first %v", n, h.next())
	}
}

// deliver hands the engine a message from the LMA.
func (h *harness) deliver(m mh.Message) {
	h.t.Helper()
	b, err := mh.Marshal(m)
	if err != nil {
		h.t.Fatal(err)
	}
	h.e.HandleMessage(b, h.lma.LocalAddr())
}

// pba answers pbu with status and the options given, copying the MN-ID
// as an LMA does (RFC 5213 5.3.6).
func pba(pbu *mh.ProxyBindingUpdate, status mh.Status, lifetime time.Duration, opts ...mh.Option) *mh.ProxyBindingAck {
	id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](pbu.Options)
	head := []mh.Option{id}
	if ts, ok := mh.FirstOption[*mh.Timestamp](pbu.Options); ok && status != mh.StatusTimestampMismatch {
		head = append(head, ts) // RFC 5213 5.3.6: echoed
	}
	return &mh.ProxyBindingAck{Status: status, Flags: mh.BAFlagP, Sequence: pbu.Sequence, Lifetime: lifetime,
		Options: append(head, opts...)}
}

// grant is what the LMA assigns client 1.
func grant() []mh.Option {
	return []mh.Option{
		&mh.HomeNetworkPrefix{Prefix: hnp1},
		&mh.IPv4HomeAddressReply{Status: mh.IPv4HoASuccess, Prefix: hoa1},
		&mh.IPv4DefaultRouterAddress{Addr: router1},
	}
}

// optionSummary renders a PBU's options for comparison.
func optionSummary(p *mh.ProxyBindingUpdate) []string {
	var s []string
	for _, o := range p.Options {
		switch o := o.(type) {
		case *mh.Timestamp:
			s = append(s, "timestamp")
		case interface {
			mh.Option
			String() string
		}:
			s = append(s, fmt.Sprintf("%v=%v", o.Code(), o))
		default:
			s = append(s, o.Code().String())
		}
	}
	return s
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func contains(list []string, substr string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, substr) })
}

func rsTrigger(mac net.HardwareAddr) sniff.Trigger {
	return sniff.Trigger{MAC: mac, Interface: "br-lan", Kind: sniff.KindRouterSolicitation}
}

func snDetach(mac net.HardwareAddr) sniff.Detach {
	return sniff.Detach{MAC: mac, Interface: "br-lan"}
}

func dhcpClient(mac net.HardwareAddr, msg string, requested netip.Addr) dhcpserver.Client {
	return dhcpserver.Client{HardwareAddr: mac, MessageType: msg, Requested: requested}
}
