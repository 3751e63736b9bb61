package lma

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/store"
)

// Test topology: three MAGs and the LMA on one in-memory network.
//
//	ap1 2001:db8:1:1::2 ─┐ raw IPv6 (MH)
//	ap2 2001:db8:1:2::2 ─┼────────────── LMA 2001:db8:ffff::1
//	rogue 2001:db8:9::9 ─┘              (and 198.51.100.1:5436 UDP)
//	ap4 198.51.100.22:5436 ─ UDP/IPv4 ──┘
const testConfig = `
config lma 'main'
	option address '2001:db8:ffff::1'
	option ipv4_address '198.51.100.1'
	option heartbeat_interval '60'
	option missing_heartbeats_allowed '2'
	option default_lifetime '3600'
	option max_lifetime '7200'
	option timestamps '%s'

config mag 'ap1'
	list address '2001:db8:1:1::2'

config mag 'ap2'
	list address '2001:db8:1:2::2'
	list tunnel 'ip6ip6'

config mag 'ap4'
	list address '198.51.100.22'

config pool 'hnp'
	option prefix '2001:db8:100::/48'
	option delegated_length '64'

config pool 'v4'
	option subnet '10.20.0.0/16'
	option prefix_length '16'
	option default_router '10.20.0.1'

config policy 'staff'
	option match '*@example.net'
	option prefix_pool 'hnp'
	option ipv4_pool 'v4'

config policy 'printer'
	option match 'printer@example.net'
	list home_prefix '2001:db8:200:1::/64'
	option ipv4_address '10.30.0.5/24'
	option ipv4_default_router '10.30.0.1'
	list tunnel 'gre'
	option gre_key_required '1'

config policy 'v6only'
	option match '*@v6.example.net'
	option prefix_pool 'hnp'

config policy 'v4only'
	option match '*@v4.example.net'
	option ipv4_pool 'v4'
`

var (
	lmaAddr  = netip.MustParseAddrPort("[2001:db8:ffff::1]:0")
	lma4Addr = netip.MustParseAddrPort("198.51.100.1:5436")
	ap1Addr  = netip.MustParseAddrPort("[2001:db8:1:1::2]:0")
	ap2Addr  = netip.MustParseAddrPort("[2001:db8:1:2::2]:0")
	ap4Addr  = netip.MustParseAddrPort("198.51.100.22:5436")
	rogue    = netip.MustParseAddrPort("[2001:db8:9::9]:0")
	t0       = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	mac1     = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2     = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func testCfg(t testing.TB, timestamps bool, extra string) lmaconfig.Config {
	t.Helper()
	ts := "1"
	if !timestamps {
		ts = "0"
	}
	cfg, err := lmaconfig.Parse("lma.conf", []byte(fmt.Sprintf(testConfig, ts)+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// memStore is an in-memory store.Store that can be told to fail.
type memStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail error
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Put(_ context.Context, k, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[string(k)] = slices.Clone(v)
	return nil
}

func (s *memStore) Delete(_ context.Context, k []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	delete(s.m, string(k))
	return nil
}

func (s *memStore) ForEach(fn func(k, v []byte) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if err := fn([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) Close() error { return nil }

// snapshot renders the stored bindings as sorted lines.
func (s *memStore) bindings(t testing.TB) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, v := range s.m {
		if k == restartCounterKey {
			continue
		}
		if _, ok := parseRefreshKey([]byte(k)); ok {
			// What a refresh changes is not rendered; the record must
			// still be readable.
			if _, err := decodeRefresh(v); err != nil {
				t.Fatalf("stored %s: %v", k, err)
			}
			continue
		}
		b, err := decodeBinding(v)
		if err != nil {
			t.Fatalf("stored %s: %v", k, err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %v %v %s", k, b.mn, b.mag, b.hnps, b.hoa, b.state))
	}
	sort.Strings(out)
	return out
}

func (s *memStore) restartCounter() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.m[restartCounterKey]; len(v) == 4 {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

var _ store.Store = (*memStore)(nil)

type harness struct {
	t        testing.TB
	clk      *clocktest.Clock
	net      *transporttest.Network
	ap1, ap2 *transporttest.Conn
	ap4, rog *transporttest.Conn
	dp       *dataplanetest.Fake
	st       *memStore
	e        *Engine
	seq      uint16
	cfg      lmaconfig.Config
	// sent counts messages sent to the LMA; sync waits until the
	// engine has handled as many.
	sent, base uint64
	done       chan struct{}
	// submitter runs the engine over st through store.Submitter (as
	// over the WAL) instead of Store's Put and Delete.
	submitter bool
	// log is the engine's logger; nil discards.
	log *slog.Logger
}

func newHarness(t testing.TB, cfg lmaconfig.Config) *harness {
	t.Helper()
	return newHarnessWith(t, cfg, false)
}

// newHarnessWith is newHarness, over a store.Submitter when submitter.
func newHarnessWith(t testing.TB, cfg lmaconfig.Config, submitter bool) *harness {
	t.Helper()
	h := &harness{t: t, clk: clocktest.New(t0), net: transporttest.NewNetwork(), dp: dataplanetest.New(), st: newMemStore(), cfg: cfg, submitter: submitter}
	h.ap1, _ = h.net.Listen(ap1Addr)
	h.ap2, _ = h.net.Listen(ap2Addr)
	h.ap4, _ = h.net.Listen(ap4Addr)
	h.rog, _ = h.net.Listen(rogue)
	h.start()
	return h
}

// start runs an engine over the harness's store, data plane and network.
func (h *harness) start() {
	h.t.Helper()
	c6, err := h.net.Listen(lmaAddr)
	if err != nil {
		h.t.Fatal(err)
	}
	c4, err := h.net.Listen(lma4Addr)
	if err != nil {
		h.t.Fatal(err)
	}
	var st store.Store = h.st
	if h.submitter {
		st = newSubStore(h.st)
	}
	e, err := New(Options{Config: h.cfg, Conns: []transport.Conn{c6, c4}, Dataplane: h.dp, Store: st, Clock: h.clk, Writers: 8, Logger: h.log})
	if err != nil {
		h.t.Fatal(err)
	}
	h.e = e
	h.base = h.sent
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		_ = e.Run(context.Background())
	}()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.e == nil {
		return
	}
	h.e.Close()
	<-h.done
	h.e = nil
}

func (h *harness) sync() {
	h.t.Helper()
	h.handledAll()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.e.Sync(ctx); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
}

// handledAll waits until the engine has handled every message sent, not
// for their writes (sync does both).
func (h *harness) handledAll() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.e.handled.Load() < h.sent-h.base {
		if time.Now().After(deadline) {
			h.t.Fatalf("engine handled %d of %d messages", h.e.handled.Load(), h.sent-h.base)
		}
		runtime.Gosched()
	}
}

// advance moves the fake clock and lets the engine act on it.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	h.sync()
}

// send marshals m and sends it from a MAG to the LMA.
func (h *harness) send(from *transporttest.Conn, m mh.Message) {
	h.t.Helper()
	b, err := mh.Marshal(m)
	if err != nil {
		h.t.Fatal(err)
	}
	h.sendRaw(from, b)
}

func (h *harness) sendRaw(from *transporttest.Conn, b []byte) {
	h.t.Helper()
	to := lmaAddr
	if from.LocalAddr().Addr().Is4() {
		to = lma4Addr
	}
	if err := from.WriteTo(b, to); err != nil {
		h.t.Fatal(err)
	}
	h.sent++
}

// recv returns the next message the MAG received, after the engine
// settled; it fails if there is none.
func (h *harness) recv(at *transporttest.Conn) mh.Message {
	h.t.Helper()
	h.sync()
	if at.Pending() == 0 {
		h.t.Fatalf("%v received nothing", at.LocalAddr())
	}
	buf := make([]byte, 4096)
	n, _, err := at.ReadFrom(buf)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := mh.Parse(buf[:n])
	if err != nil {
		h.t.Fatalf("LMA sent a malformed message: %v", err)
	}
	return m
}

func (h *harness) pba(at *transporttest.Conn) *mh.ProxyBindingAck {
	h.t.Helper()
	for {
		m := h.recv(at)
		if a, ok := m.(*mh.ProxyBindingAck); ok {
			return a
		}
	}
}

// nothing asserts that the MAG received nothing.
func (h *harness) nothing(at *transporttest.Conn) {
	h.t.Helper()
	h.sync()
	if n := at.Pending(); n != 0 {
		buf := make([]byte, 4096)
		k, _, _ := at.ReadFrom(buf)
		m, _ := mh.Parse(buf[:k])
		h.t.Fatalf("%v received %d messages, first %v", at.LocalAddr(), n, m)
	}
}

// drain discards what a MAG received.
func (h *harness) drain(at *transporttest.Conn) {
	h.sync()
	buf := make([]byte, 4096)
	for at.Pending() > 0 {
		_, _, _ = at.ReadFrom(buf)
	}
}

// pbuOpt changes a PBU under construction.
type pbuOpt func(*mh.ProxyBindingUpdate)

// newPBU is a MAG's initial registration of nai on a Wi-Fi interface with
// MAC mac1 (RFC 5213 6.9.1.5): HNP ALL_ZERO, HI 1, ATT 802.11, LL-ID,
// timestamp now.
func (h *harness) newPBU(nai string, opts ...pbuOpt) *mh.ProxyBindingUpdate {
	h.seq++
	p := &mh.ProxyBindingUpdate{
		Sequence: h.seq,
		Flags:    mh.BUFlagA | mh.BUFlagP,
		Lifetime: 3600 * time.Second,
		Options: []mh.Option{
			mh.NewNAI(nai),
			&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
			&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
			&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
			&mh.MobileNodeLinkLayerID{ID: mac1},
			mh.TimestampFromTime(h.clk.Now()),
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func without(t mh.OptionType) pbuOpt {
	return func(p *mh.ProxyBindingUpdate) {
		p.Options = slices.DeleteFunc(p.Options, func(o mh.Option) bool { return o.Code() == t })
	}
}

func with(o ...mh.Option) pbuOpt {
	return func(p *mh.ProxyBindingUpdate) { p.Options = append(p.Options, o...) }
}

// replace puts o in place of the options of its type.
func replace(o mh.Option) pbuOpt {
	return func(p *mh.ProxyBindingUpdate) {
		without(o.Code())(p)
		p.Options = append(p.Options, o)
	}
}

func hi(v mh.HandoffIndicator) pbuOpt { return replace(&mh.HandoffIndicatorOption{HI: v}) }
func hnp(s string) pbuOpt {
	return replace(&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix(s)})
}
func lifetime(d time.Duration) pbuOpt { return func(p *mh.ProxyBindingUpdate) { p.Lifetime = d } }
func llid(m net.HardwareAddr) pbuOpt  { return replace(&mh.MobileNodeLinkLayerID{ID: m}) }
func v4req(s string) pbuOpt {
	return replace(&mh.IPv4HomeAddressRequest{Prefix: netip.MustParsePrefix(s)})
}

// opt returns the first option of type T of a message's options.
func opt[T mh.Option](t testing.TB, opts []mh.Option) T {
	t.Helper()
	o, ok := mh.FirstOption[T](opts)
	if !ok {
		var zero T
		t.Fatalf("no %T option in %v", zero, opts)
	}
	return o
}

func hnps(a *mh.ProxyBindingAck) []netip.Prefix {
	var out []netip.Prefix
	for _, o := range mh.OptionsOf[*mh.HomeNetworkPrefix](a.Options) {
		out = append(out, o.Prefix)
	}
	return out
}

// register sends a PBU and expects it accepted; it returns the PBA.
func (h *harness) register(from *transporttest.Conn, p *mh.ProxyBindingUpdate) *mh.ProxyBindingAck {
	h.t.Helper()
	h.send(from, p)
	a := h.pba(from)
	if !a.Status.Accepted() {
		h.t.Fatalf("PBU %v: status %v", p, a.Status)
	}
	return a
}

// state renders what the test may assert unchanged: cache, pools, store,
// data plane.
func (h *harness) state() string {
	h.t.Helper()
	h.sync()
	ctx := context.Background()
	bs, err := h.e.Bindings(ctx, BindingFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	ps, err := h.e.Pools(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var b strings.Builder
	for _, x := range bs {
		fmt.Fprintf(&b, "binding %d %s %s %v %v %s %s\n", x.ID, x.MobileNode, x.MAG, x.HomePrefixes, x.IPv4HomeAddress, x.State, x.Expires.Format(time.RFC3339))
	}
	for _, p := range ps {
		fmt.Fprintf(&b, "pool %s used %d\n", p.Name, p.Used)
	}
	for _, l := range h.st.bindings(h.t) {
		fmt.Fprintf(&b, "store %s\n", l)
	}
	b.WriteString(h.dp.String())
	return b.String()
}

var errDisk = errors.New("disk on fire")

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// lmaSysctlLines are the namespace settings every LMA data plane holds
// (lmaSysctls), as the fake renders them.
const lmaSysctlLines = "sysctl net.ipv4.conf.all.forwarding=1\n" +
	"sysctl net.ipv4.conf.all.rp_filter=0\n" +
	"sysctl net.ipv6.conf.all.forwarding=1\n"

// emptyDataplane is the data plane of an LMA without sessions: its
// settings and the filter table with empty sets.
const emptyDataplane = lmaSysctlLines + "filter table\n"
