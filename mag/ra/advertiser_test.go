package ra

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

var (
	t0      = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	macA    = net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	macB    = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 2}
	llA     = netip.MustParseAddr("fe80::aa:ff:fe00:1")
	hnpA    = netip.MustParsePrefix("2001:db8:a:1::/64")
	hnpA2   = netip.MustParsePrefix("2001:db8:a:2::/64")
	allNode = netip.MustParseAddr("ff02::1")
)

func newTest(t testing.TB, mod func(*Config)) (*Advertiser, *l2test.Conn, *clocktest.Clock) {
	t.Helper()
	conn := l2test.New()
	clk := clocktest.New(t0)
	cfg := Config{
		Interface:         "wlan0",
		Conn:              conn,
		Clock:             clk,
		Rand:              rand.New(rand.NewPCG(1, 2)),
		MaxRtrAdvInterval: 30 * time.Second,
		MinRtrAdvInterval: 10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, conn, clk
}

// sentRA is a parsed RA as the client receives it.
type sentRA struct {
	nd  *l2.ND
	ra  *ndp.RouterAdvertisement
	pio []*ndp.PrefixInformation
	lla net.HardwareAddr
}

func parseRAs(t *testing.T, frames [][]byte) []sentRA {
	t.Helper()
	var out []sentRA
	for _, f := range frames {
		nd, err := l2.ParseND(f)
		if err != nil {
			t.Fatalf("written frame is not valid ND: %v", err)
		}
		// mdlayher/ndp reads the RA: a codec independent of l2's writer.
		m, err := ndp.ParseMessage(nd.IP.Payload)
		if err != nil {
			t.Fatalf("ndp cannot read the written RA: %v", err)
		}
		ra, ok := m.(*ndp.RouterAdvertisement)
		if !ok {
			t.Fatalf("written %T, want RA", m)
		}
		s := sentRA{nd: nd, ra: ra}
		for _, o := range ra.Options {
			switch o := o.(type) {
			case *ndp.PrefixInformation:
				s.pio = append(s.pio, o)
			case *ndp.LinkLayerAddress:
				s.lla = o.Addr
			}
		}
		out = append(out, s)
	}
	return out
}

func TestServeSendsUnicastRAAtOnce(t *testing.T) {
	a, conn, _ := newTest(t, func(c *Config) { c.AdvLinkMTU = 1460 })
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, 300*time.Second); err != nil {
		t.Fatal(err)
	}
	ras := parseRAs(t, conn.Written())
	if len(ras) != 1 {
		t.Fatalf("%d RAs written by Serve, want 1", len(ras))
	}
	r := ras[0]
	// RFC 5213 6.9.3: fixed router identity; layer-2 unicast to the client.
	if !bytes.Equal(r.nd.Eth.Dst, macA) || !bytes.Equal(r.nd.Eth.Src, DefaultRouterMAC) {
		t.Errorf("ethernet %s -> %s, want %s -> %s", r.nd.Eth.Src, r.nd.Eth.Dst, DefaultRouterMAC, macA)
	}
	if r.nd.IP.Src != DefaultRouterLinkLocal || r.nd.IP.Dst != llA {
		t.Errorf("ipv6 %s -> %s, want %s -> %s", r.nd.IP.Src, r.nd.IP.Dst, DefaultRouterLinkLocal, llA)
	}
	if !bytes.Equal(r.lla, DefaultRouterMAC) {
		t.Errorf("source link-layer option %s, want %s", r.lla, DefaultRouterMAC)
	}
	// RFC 4861 6.2.1 defaults bounded by the binding: AdvDefaultLifetime is
	// 3 * 30 s = 90 s here, under the 300 s binding.
	if r.ra.RouterLifetime != 90*time.Second || r.ra.CurrentHopLimit != 64 {
		t.Errorf("router lifetime %s hop limit %d, want 90s 64", r.ra.RouterLifetime, r.ra.CurrentHopLimit)
	}
	want := &ndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
		ValidLifetime: 300 * time.Second, PreferredLifetime: 300 * time.Second, Prefix: hnpA.Addr()}
	if len(r.pio) != 1 || *r.pio[0] != *want {
		t.Errorf("prefix options %+v, want exactly %+v", r.pio, want)
	}
	var mtu *ndp.MTU
	for _, o := range r.ra.Options {
		if m, ok := o.(*ndp.MTU); ok {
			mtu = m
		}
	}
	if mtu == nil || mtu.MTU != 1460 {
		t.Errorf("MTU option %v, want 1460", mtu)
	}
}

func TestLifetimesNeverOutliveBinding(t *testing.T) {
	a, conn, clk := newTest(t, nil)
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, 40*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range parseRAs(t, conn.Written()) {
		if r.ra.RouterLifetime != 40*time.Second || r.pio[0].ValidLifetime != 40*time.Second {
			t.Errorf("first RA: router %s valid %s, want 40s each", r.ra.RouterLifetime, r.pio[0].ValidLifetime)
		}
	}
	clk.Advance(39 * time.Second)
	for _, r := range parseRAs(t, conn.Written()) {
		sent := r.ra.RouterLifetime
		if sent > 40*time.Second || r.pio[0].ValidLifetime != sent || r.pio[0].PreferredLifetime != sent {
			t.Errorf("periodic RA: router %s valid %s preferred %s", sent, r.pio[0].ValidLifetime, r.pio[0].PreferredLifetime)
		}
	}
	// The binding ends without refresh: a final RA, then silence.
	clk.Advance(2 * time.Second)
	ras := parseRAs(t, conn.Written())
	if len(ras) != 1 || ras[0].ra.RouterLifetime != 0 || ras[0].pio[0].ValidLifetime != 0 {
		t.Fatalf("at binding end: %d RAs %+v, want one final RA", len(ras), ras)
	}
	if a.Serving(macA) || a.Stats().Expired != 1 {
		t.Errorf("still serving after expiry (stats %+v)", a.Stats())
	}
	clk.Advance(time.Hour)
	if n := len(conn.Written()); n != 0 {
		t.Errorf("%d RAs after expiry", n)
	}
}

func TestPeriodicSchedule(t *testing.T) {
	a, conn, clk := newTest(t, func(c *Config) {
		c.MaxRtrAdvInterval = 100 * time.Second
		c.MinRtrAdvInterval = 40 * time.Second
	})
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	conn.Written()
	var times []time.Time
	for range 3000 {
		clk.Advance(time.Second)
		for range conn.Written() {
			times = append(times, clk.Now())
		}
	}
	if len(times) < 20 {
		t.Fatalf("%d periodic RAs in 3000 s, want at least 20", len(times))
	}
	prev := t0
	for i, at := range times {
		d := at.Sub(prev)
		// RFC 4861 6.2.4: the first MAX_INITIAL_RTR_ADVERTISEMENTS (the one
		// Serve sent included) at most 16 s apart; then MinRtrAdvInterval
		// to MaxRtrAdvInterval.
		if i < MaxInitialRtrAdvertisements-1 {
			if d > MaxInitialRtrAdvertInterval {
				t.Errorf("initial RA %d after %s, want at most %s", i+1, d, MaxInitialRtrAdvertInterval)
			}
		} else if d < 40*time.Second || d > 100*time.Second+time.Second {
			t.Errorf("RA %d after %s, want within [40s, 100s]", i+1, d)
		}
		prev = at
	}
}

func TestRouterSolicitation(t *testing.T) {
	a, conn, clk := newTest(t, nil)
	// Not served yet: nothing (RFC 5213: no home link before the PBA).
	a.HandleFrame(l2test.RS(macA, llA))
	clk.Advance(time.Second)
	if n := len(conn.Written()); n != 0 {
		t.Fatalf("%d RAs to an unserved client", n)
	}
	if err := a.Serve(macA, netip.Addr{}, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	ras := parseRAs(t, conn.Written())
	if ras[0].nd.IP.Dst != allNode || !bytes.Equal(ras[0].nd.Eth.Dst, macA) {
		t.Errorf("without link-local: %s/%s, want ff02::1 at layer 2 unicast", ras[0].nd.IP.Dst, ras[0].nd.Eth.Dst)
	}
	// An RS right after: answered no sooner than MIN_DELAY_BETWEEN_RAS
	// after the last RA, plus at most MAX_RA_DELAY_TIME; it teaches the
	// client's link-local.
	clk.Advance(time.Second)
	a.HandleFrame(l2test.RS(macA, llA))
	clk.Advance(MinDelayBetweenRAs - time.Second - time.Millisecond)
	if n := len(conn.Written()); n != 0 {
		t.Fatalf("answer %d RAs before MIN_DELAY_BETWEEN_RAS", n)
	}
	clk.Advance(MaxRADelayTime + time.Millisecond)
	ras = parseRAs(t, conn.Written())
	if len(ras) != 1 || ras[0].nd.IP.Dst != llA {
		t.Fatalf("solicited answer: %d RAs %+v, want one to %s", len(ras), ras, llA)
	}
	// A storm of RSs: one answer per MIN_DELAY_BETWEEN_RAS.
	for range 100 {
		a.HandleFrame(l2test.RS(macA, llA))
		clk.Advance(100 * time.Millisecond)
	}
	n := len(conn.Written())
	if n < 2 || n > 4 {
		t.Errorf("%d RAs for 100 RS in 10 s, want about 10s/3s", n)
	}
	st := a.Stats()
	if st.RSReceived != 102 || st.RSUnknown != 1 || st.Solicited < 3 {
		t.Errorf("stats %+v", st)
	}
	// An RS from :: is answered to all-nodes (RFC 4861 6.2.6), still
	// layer-2 unicast.
	clk.Advance(10 * time.Second)
	conn.Written()
	a.HandleFrame(l2test.RS(macA, netip.IPv6Unspecified()))
	clk.Advance(time.Second)
	ras = parseRAs(t, conn.Written())
	if len(ras) != 1 || !bytes.Equal(ras[0].nd.Eth.Dst, macA) {
		t.Fatalf("answer to RS from ::: %+v", ras)
	}
	// A bad RS counts and is dropped.
	bad := l2test.RS(macA, llA)
	bad[21] = 64
	a.HandleFrame(bad)
	if a.Stats().RSInvalid != 1 {
		t.Errorf("invalid RS not counted: %+v", a.Stats())
	}
}

func TestNoRADelay(t *testing.T) {
	a, conn, clk := newTest(t, func(c *Config) { c.MaxRADelay = -1 })
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	conn.Written()
	a.HandleFrame(l2test.RS(macA, llA))
	clk.Advance(0)
	if n := len(conn.Written()); n != 1 {
		t.Errorf("%d RAs, want 1 at once", n)
	}
}

func TestWithdraw(t *testing.T) {
	a, conn, clk := newTest(t, func(c *Config) { c.FinalAdvertisements = 3 })
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA, hnpA2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	conn.Written()
	a.Withdraw(macA)
	a.Withdraw(macA) // idempotent
	clk.Advance(time.Minute)
	ras := parseRAs(t, conn.Written())
	// RFC 4861 6.2.5: up to MAX_FINAL_RTR_ADVERTISEMENTS final RAs with
	// router lifetime 0; RFC 5213 6.12: prefixes with zero lifetimes.
	if len(ras) != 3 {
		t.Fatalf("%d final RAs, want 3", len(ras))
	}
	for _, r := range ras {
		if r.ra.RouterLifetime != 0 || len(r.pio) != 2 {
			t.Fatalf("final RA: router lifetime %s, %d prefixes", r.ra.RouterLifetime, len(r.pio))
		}
		for _, p := range r.pio {
			if p.ValidLifetime != 0 || p.PreferredLifetime != 0 {
				t.Errorf("final RA prefix %s lifetimes %s/%s", p.Prefix, p.ValidLifetime, p.PreferredLifetime)
			}
		}
	}
	if a.Serving(macA) {
		t.Error("still serving after withdrawal")
	}
	a.HandleFrame(l2test.RS(macA, llA))
	clk.Advance(time.Minute)
	if n := len(conn.Written()); n != 0 {
		t.Errorf("%d RAs after withdrawal", n)
	}
}

func TestForgetIsSilent(t *testing.T) {
	a, conn, clk := newTest(t, nil)
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	conn.Written()
	a.Forget(macA)
	clk.Advance(time.Hour)
	if n := len(conn.Written()); n != 0 || clk.Pending() != 0 {
		t.Errorf("%d RAs, %d timers after Forget", n, clk.Pending())
	}
}

func TestRenumbering(t *testing.T) {
	a, conn, clk := newTest(t, nil)
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	conn.Written()
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	ras := parseRAs(t, conn.Written())
	if len(ras) != 1 || len(ras[0].pio) != 2 {
		t.Fatalf("renumbering RA: %+v", ras)
	}
	for _, p := range ras[0].pio {
		switch p.Prefix {
		case hnpA2.Addr():
			if p.ValidLifetime != time.Hour {
				t.Errorf("new prefix lifetime %s", p.ValidLifetime)
			}
		case hnpA.Addr():
			// RFC 5213 6.12: the old prefix goes with zero lifetimes.
			if p.ValidLifetime != 0 || p.PreferredLifetime != 0 {
				t.Errorf("old prefix lifetimes %s/%s, want 0", p.ValidLifetime, p.PreferredLifetime)
			}
		default:
			t.Errorf("unexpected prefix %s", p.Prefix)
		}
	}
	clk.Advance(time.Minute)
	for _, r := range parseRAs(t, conn.Written()) {
		if len(r.pio) != 1 || r.pio[0].Prefix != hnpA2.Addr() {
			t.Errorf("later RA prefixes %+v, want only %s", r.pio, hnpA2)
		}
	}
}

func TestServeRejectsBadInput(t *testing.T) {
	a, conn, _ := newTest(t, nil)
	cases := []struct {
		name     string
		mac      net.HardwareAddr
		ll       netip.Addr
		prefixes []netip.Prefix
		lifetime time.Duration
		want     error
	}{
		{"multicast mac", net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, llA, []netip.Prefix{hnpA}, time.Hour, ErrBadMAC},
		{"short mac", net.HardwareAddr{2, 0, 0}, llA, []netip.Prefix{hnpA}, time.Hour, ErrBadMAC},
		{"no prefix", macA, llA, nil, time.Hour, ErrNoPrefix},
		{"ipv4 prefix", macA, llA, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, time.Hour, ErrBadPrefix},
		{"link-local prefix", macA, llA, []netip.Prefix{netip.MustParsePrefix("fe80::/64")}, time.Hour, ErrBadPrefix},
		{"multicast prefix", macA, llA, []netip.Prefix{netip.MustParsePrefix("ff02::/64")}, time.Hour, ErrBadPrefix},
		{"long prefix", macA, llA, []netip.Prefix{netip.MustParsePrefix("2001:db8::/65")}, time.Hour, ErrBadPrefix},
		{"unmasked prefix", macA, llA, []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}, time.Hour, ErrBadPrefix},
		{"invalid prefix", macA, llA, []netip.Prefix{{}}, time.Hour, ErrBadPrefix},
		{"zero lifetime", macA, llA, []netip.Prefix{hnpA}, 0, ErrLifetime},
		{"global client address", macA, netip.MustParseAddr("2001:db8::1"), []netip.Prefix{hnpA}, time.Hour, nil},
	}
	for _, tc := range cases {
		err := a.Serve(tc.mac, tc.ll, tc.prefixes, tc.lifetime)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Serve = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := len(conn.Written()); n != 0 || a.Serving(macA) {
		t.Errorf("bad Serve calls wrote %d RAs", n)
	}
}

func TestWriteErrorReported(t *testing.T) {
	a, conn, _ := newTest(t, nil)
	conn.WriteErr = errors.New("boom")
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err == nil {
		t.Fatal("Serve hid the write error")
	}
	if a.Stats().WriteErrors != 1 || !a.Serving(macA) {
		t.Errorf("after write error: stats %+v serving %v (want retried later)", a.Stats(), a.Serving(macA))
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{},
		{Conn: l2test.New(), RouterMAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}},
		{Conn: l2test.New(), RouterLinkLocal: netip.MustParseAddr("2001:db8::1")},
		{Conn: l2test.New(), MaxRtrAdvInterval: time.Second},
		{Conn: l2test.New(), MaxRtrAdvInterval: time.Hour},
		{Conn: l2test.New(), MaxRtrAdvInterval: 10 * time.Second, MinRtrAdvInterval: 9 * time.Second},
		{Conn: l2test.New(), AdvDefaultLifetime: time.Second},
		{Conn: l2test.New(), AdvDefaultLifetime: 10000 * time.Second},
		{Conn: l2test.New(), AdvLinkMTU: 1000},
		{Conn: l2test.New(), FinalAdvertisements: 4},
		{Conn: l2test.New(), RDNSS: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
	}
	for i, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("config %d accepted: %+v", i, c)
		}
	}
	a, err := New(Config{Conn: l2test.New()})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 4861 6.2.1 defaults.
	if a.cfg.MaxRtrAdvInterval != 600*time.Second || a.cfg.MinRtrAdvInterval != 198*time.Second ||
		a.cfg.AdvDefaultLifetime != 1800*time.Second || a.cfg.MaxRADelay != MaxRADelayTime {
		t.Errorf("defaults %+v", a.cfg)
	}
}

func TestRDNSS(t *testing.T) {
	dns := netip.MustParseAddr("2001:db8::53")
	a, conn, _ := newTest(t, func(c *Config) { c.RDNSS = []netip.Addr{dns} })
	if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	a.Withdraw(macA)
	var lifetimes []time.Duration
	for _, r := range parseRAs(t, conn.Written()) {
		for _, o := range r.ra.Options {
			if d, ok := o.(*ndp.RecursiveDNSServer); ok && len(d.Servers) == 1 && d.Servers[0] == dns {
				lifetimes = append(lifetimes, d.Lifetime)
			}
		}
	}
	if len(lifetimes) != 2 || lifetimes[0] != 90*time.Second || lifetimes[1] != 0 {
		t.Errorf("RDNSS lifetimes %v, want [90s 0s]", lifetimes)
	}
}

func TestRunAnswersRS(t *testing.T) {
	conn := l2test.New()
	a, err := New(Config{Conn: conn, Clock: clock.Real{}, MaxRADelay: -1, MinDelayBetweenRAs: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Serve(macB, netip.Addr{}, []netip.Prefix{hnpA}, time.Hour); err != nil {
		t.Fatal(err)
	}
	conn.Written()
	<-conn.WriteSignal() // Serve's
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// The filter keeps everything but RSs in the kernel.
	if conn.Inject(l2test.DAD(macB, llA)) {
		t.Error("filter passed a DAD probe")
	}
	// The RS arrives MIN_DELAY_BETWEEN_RAS after Serve's RA at the latest.
	if !conn.Inject(l2test.RS(macB, llA)) {
		t.Fatal("filter dropped an RS")
	}
	select {
	case <-conn.WriteSignal():
	case <-time.After(MinDelayBetweenRAs + 5*time.Second):
		t.Fatal("no answer to RS")
	}
	ras := parseRAs(t, conn.Written())
	if len(ras) != 1 || ras[0].nd.IP.Dst != llA {
		t.Errorf("answer %+v", ras)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run = %v", err)
	}
}

// BenchmarkServe measures the PBA-to-RA path up to the socket write: the
// time Serve takes to validate, build and write one RA.
func BenchmarkServe(b *testing.B) {
	a, conn, _ := newTest(b, nil)
	prefixes := []netip.Prefix{hnpA}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := a.Serve(macA, llA, prefixes, time.Hour); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 {
			conn.Written()
		}
	}
}
