package sniff

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// recorder collects events.
type recorder struct {
	mu       sync.Mutex
	attaches []Trigger
	detaches []Detach
	ch       chan Trigger
}

func (r *recorder) attach(t Trigger) {
	r.mu.Lock()
	r.attaches = append(r.attaches, t)
	r.mu.Unlock()
	if r.ch != nil {
		r.ch <- t
	}
}

func (r *recorder) detach(d Detach) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.detaches = append(r.detaches, d)
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attaches), len(r.detaches)
}

func newTest(t *testing.T, mod func(*Config)) (*Sniffer, *l2test.Conn, *clocktest.Clock, *recorder) {
	t.Helper()
	conn := l2test.New()
	clk := clocktest.New(t0)
	rec := &recorder{}
	cfg := Config{
		Interface:     "wlan0",
		Conn:          conn,
		Clock:         clk,
		OnAttach:      rec.attach,
		OnDetach:      rec.detach,
		Ignore:        []net.HardwareAddr{{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}},
		DetachTimeout: 60 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, conn, clk, rec
}

func randMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x10, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

func TestOneClientOneAttach(t *testing.T) {
	s, _, _, rec := newTest(t, nil)
	s.HandleFrame(l2test.DAD(macA, llA))
	s.HandleFrame(l2test.RS(macA, llA))
	s.HandleFrame(l2test.DHCP(macA, l2test.DHCPDiscover, nil))
	if s.Offer(Trigger{MAC: macA, Kind: KindDHCPServer}) {
		t.Error("Offer of a pending MAC reported new")
	}
	if s.Offer(Trigger{MAC: macA, Kind: KindStation}) {
		t.Error("Offer of a pending MAC reported new")
	}
	if n, _ := rec.counts(); n != 1 {
		t.Fatalf("%d attaches, want 1", n)
	}
	got := rec.attaches[0]
	if got.Kind != KindDAD || got.LinkLocal != llA || got.Interface != "wlan0" || !got.At.Equal(t0) {
		t.Errorf("attach = %+v", got)
	}
	st := s.Stats()
	if st.Deduplicated != 4 || st.Attaches != 1 {
		t.Errorf("stats = %+v, want 4 deduplicated, 1 attach", st)
	}
	// Registered: still deduplicated, and RS/DHCP renewals only refresh it.
	if err := s.Registered(macA); err != nil {
		t.Fatal(err)
	}
	s.HandleFrame(l2test.RS(macA, llA))
	if s.Offer(Trigger{MAC: macA, Kind: KindStation}) {
		t.Error("Offer of a registered MAC reported new")
	}
	if n, _ := rec.counts(); n != 1 {
		t.Fatalf("%d attaches after registration, want 1", n)
	}
	// Forgotten: the next trigger is a new attachment.
	s.Forget(macA)
	if !s.Offer(Trigger{MAC: macA, Kind: KindStation}) {
		t.Error("Offer after Forget not new")
	}
}

func TestOfferFromOtherSourcesFirst(t *testing.T) {
	s, _, _, rec := newTest(t, nil)
	if !s.Offer(Trigger{MAC: macB, Kind: KindDHCPServer}) {
		t.Fatal("first Offer not new")
	}
	s.HandleFrame(l2test.RS(macB, llA))
	if n, _ := rec.counts(); n != 1 {
		t.Fatalf("%d attaches, want 1", n)
	}
	if rec.attaches[0].Kind != KindDHCPServer || rec.attaches[0].Interface != "wlan0" {
		t.Errorf("attach = %+v", rec.attaches[0])
	}
}

func TestIgnoredAndBadSources(t *testing.T) {
	s, _, _, rec := newTest(t, nil)
	s.HandleFrame(l2test.RS(net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}, llA)) // our own router MAC
	s.HandleFrame(l2test.RS(net.HardwareAddr{0x03, 0, 0, 0, 0, 1}, llA))                // group bit
	s.HandleFrame(l2test.RS(net.HardwareAddr{0, 0, 0, 0, 0, 0}, llA))                   // zero
	if s.Offer(Trigger{MAC: net.HardwareAddr{1, 2, 3}}) {
		t.Error("Offer of a 3-byte MAC accepted")
	}
	if n, _ := rec.counts(); n != 0 {
		t.Fatalf("%d attaches, want 0", n)
	}
	if st := s.Stats(); st.Ignored != 4 {
		t.Errorf("ignored = %d, want 4", st.Ignored)
	}
}

func TestFloodIsBounded(t *testing.T) {
	s, _, clk, rec := newTest(t, func(c *Config) {
		c.MaxPending = 16
		c.AttachRate = 1000
		c.AttachBurst = 1000
	})
	for i := range 10000 {
		s.HandleFrame(l2test.DHCP(randMAC(i), l2test.DHCPDiscover, nil))
	}
	n, _ := rec.counts()
	st := s.Stats()
	if n != 16 || s.Pending() != 16 {
		t.Fatalf("%d attaches, %d pending, want 16 each", n, s.Pending())
	}
	if st.DroppedPendingFull != 10000-16 {
		t.Errorf("dropped (pending full) = %d, want %d", st.DroppedPendingFull, 10000-16)
	}
	// Unanswered pending MACs expire and free room.
	clk.Advance(DefaultPendingTimeout + 2*time.Second)
	if s.Pending() != 0 {
		t.Fatalf("%d pending after timeout, want 0", s.Pending())
	}
	if st := s.Stats(); st.PendingExpired != 16 {
		t.Errorf("expired = %d, want 16", st.PendingExpired)
	}
	s.HandleFrame(l2test.DHCP(randMAC(0), l2test.DHCPDiscover, nil))
	if n, _ := rec.counts(); n != 17 {
		t.Errorf("%d attaches after expiry, want 17", n)
	}
}

// A burst beyond the bucket queues instead of being dropped: the engine
// gets the burst at once, then AttachRate per second, oldest first, until
// every client of the burst has attached.
func TestBurstQueues(t *testing.T) {
	s, _, clk, rec := newTest(t, func(c *Config) {
		c.MaxPending = 1000
		c.AttachRate = 5
		c.AttachBurst = 10
	})
	for i := range 100 {
		s.HandleFrame(l2test.RS(randMAC(i), netip.IPv6Unspecified()))
	}
	if n, _ := rec.counts(); n != 10 {
		t.Fatalf("%d attaches from a burst, want 10", n)
	}
	if st := s.Stats(); st.Queued != 90 || st.Admitted != 100 || s.Pending() != 100 {
		t.Errorf("queued %d, admitted %d, pending %d; want 90, 100, 100", st.Queued, st.Admitted, s.Pending())
	}
	// A queued client's repeated triggers are deduplicated, and one
	// that is forgotten while queued is not delivered.
	s.HandleFrame(l2test.RS(randMAC(20), netip.IPv6Unspecified()))
	s.Forget(randMAC(30))
	clk.Advance(time.Second)
	if n, _ := rec.counts(); n != 15 {
		t.Fatalf("%d attaches one second later, want 15", n)
	}
	clk.Advance(17 * time.Second)
	rec.mu.Lock()
	var got []string
	for _, a := range rec.attaches {
		got = append(got, a.MAC.String())
	}
	rec.mu.Unlock()
	var want []string
	for i := range 100 {
		if i != 30 {
			want = append(want, randMAC(i).String())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attaches, in order (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Attaches != 99 || st.DroppedPendingFull != 0 {
		t.Errorf("stats %+v: want 99 attaches, nothing dropped", st)
	}
	// The queue is empty: the next client goes straight through.
	s.HandleFrame(l2test.RS(randMAC(500), netip.IPv6Unspecified()))
	if n, _ := rec.counts(); n != 100 {
		t.Errorf("%d attaches, want 100", n)
	}
}

// Issue 4: with the defaults, 64 clients arriving in the same instant
// all reach the engine at once; 96 do within two seconds, none dropped.
func TestClassroomBurst(t *testing.T) {
	for _, tt := range []struct {
		clients int
		at      time.Duration // when the last attaches
	}{{64, 0}, {96, 1600 * time.Millisecond}} {
		s, _, clk, rec := newTest(t, func(c *Config) { c.MaxPending = 128 })
		for i := range tt.clients {
			s.HandleFrame(l2test.DHCP(randMAC(i), l2test.DHCPDiscover, nil))
		}
		if tt.at > 0 {
			clk.Advance(tt.at - time.Millisecond)
			if n, _ := rec.counts(); n >= tt.clients {
				t.Errorf("%d clients: all attached before %v", tt.clients, tt.at)
			}
			clk.Advance(time.Millisecond)
		}
		if n, _ := rec.counts(); n != tt.clients {
			t.Errorf("%d clients: %d attached after %v", tt.clients, n, tt.at)
		}
	}
}

func TestSilentClientDetaches(t *testing.T) {
	s, conn, clk, rec := newTest(t, func(c *Config) {
		c.DetachTimeout = 60 * time.Second
		c.SeenInterval = 10 * time.Second
	})
	s.HandleFrame(l2test.DAD(macA, llA))
	s.HandleFrame(l2test.DAD(macB, llA))
	if err := s.Registered(macA); err != nil {
		t.Fatal(err)
	}
	if err := s.Registered(macB); err != nil {
		t.Fatal(err)
	}
	data := func(m net.HardwareAddr) []byte {
		return l2test.UDP4(m, macA, netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("8.8.8.8"), 4000, 53, make([]byte, 64))
	}
	// macA keeps talking, macB falls silent. Frames go through the fake
	// socket's filter as they would through the kernel's.
	for range 12 {
		clk.Advance(10 * time.Second)
		if conn.Inject(data(macA)) {
			buf := make([]byte, 2048)
			n, _ := conn.ReadFrame(buf)
			if n != snapSeen {
				t.Fatalf("filter delivered %d bytes of a data frame, want %d", n, snapSeen)
			}
			s.HandleFrame(buf[:n])
		}
		// Once seen in this interval, the filter keeps the rest in the kernel.
		if conn.Inject(data(macA)) {
			t.Fatal("second frame in one interval passed the filter")
		}
	}
	_, nd := rec.counts()
	if nd != 1 {
		t.Fatalf("%d detaches, want 1", nd)
	}
	d := rec.detaches[0]
	if d.MAC.String() != macB.String() || !d.LastSeen.Equal(t0) || d.At.Sub(t0) < 60*time.Second || d.At.Sub(t0) > 70*time.Second {
		t.Errorf("detach = %+v", d)
	}
	// A detached client's traffic no longer reaches userspace, and its next
	// trigger attaches it again.
	if conn.Inject(data(macB)) {
		t.Error("data frame of detached client passed the filter")
	}
	before, _ := rec.counts()
	if !conn.Inject(l2test.RS(macB, llA)) {
		t.Fatal("RS of detached client filtered")
	}
	buf := make([]byte, 2048)
	n, _ := conn.ReadFrame(buf)
	s.HandleFrame(buf[:n])
	if after, _ := rec.counts(); after != before+1 {
		t.Errorf("re-attach: %d attaches, want %d", after, before+1)
	}
}

func TestRegisteredBound(t *testing.T) {
	s, _, _, _ := newTest(t, func(c *Config) { c.MaxTracked = 2 })
	for i := range 2 {
		if err := s.Registered(randMAC(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Registered(randMAC(2)); err == nil {
		t.Fatal("third registration accepted with MaxTracked 2")
	}
	if err := s.Registered(randMAC(0)); err != nil {
		t.Errorf("re-registration refused: %v", err)
	}
	if err := s.Registered(net.HardwareAddr{1}); err == nil {
		t.Error("bad MAC accepted")
	}
}

func TestRunDeliversFromConn(t *testing.T) {
	_, conn, _, rec := newTest(t, nil)
	rec.ch = make(chan Trigger, 4)
	s2 := func() *Sniffer { // a sniffer whose Run we own
		s, err := New(Config{Interface: "wlan0", Conn: conn, OnAttach: rec.attach, Clock: clocktest.New(t0)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s2.Run(ctx) }()
	conn.Inject(l2test.RS(macA, llA))
	conn.Inject(l2test.Ethernet(macB, macA, 0x0806, make([]byte, 28))) // filtered
	select {
	case tr := <-rec.ch:
		if tr.Kind != KindRouterSolicitation {
			t.Errorf("attach = %+v", tr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no attach from Run")
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if conn.Rejected() != 1 {
		t.Errorf("filter rejected %d frames, want 1", conn.Rejected())
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{OnAttach: func(Trigger) {}}); err == nil {
		t.Error("no conn accepted")
	}
	if _, err := New(Config{Conn: l2test.New()}); err == nil {
		t.Error("no OnAttach accepted")
	}
	if _, err := New(Config{Conn: l2test.New(), OnAttach: func(Trigger) {}, MaxTracked: 5000}); err == nil {
		t.Error("MaxTracked beyond the filter accepted")
	}
	if _, err := New(Config{Conn: l2test.New(), OnAttach: func(Trigger) {}, DetachTimeout: -1}); err == nil {
		t.Error("negative DetachTimeout accepted")
	}
}
