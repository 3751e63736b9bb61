package sniff

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

var hoaA = netip.MustParseAddr("10.20.0.5")

// deliver passes frame through the fake socket's filter into the sniffer,
// as the kernel and Run would.
func deliver(s *Sniffer, conn *l2test.Conn, frame []byte) bool {
	if !conn.Inject(frame) {
		return false
	}
	buf := make([]byte, 2048)
	n, _ := conn.ReadFrame(buf)
	s.HandleFrame(buf[:n])
	return true
}

func probeTest(t *testing.T) (*Sniffer, *l2test.Conn, *recorder, func(time.Duration)) {
	s, conn, clk, rec := newTest(t, func(c *Config) {
		c.DetachTimeout = 60 * time.Second
		c.SeenInterval = 10 * time.Second
	})
	if err := s.Registered(macA, llA, hoaA, netip.MustParseAddr("2001:db8::1")); err != nil {
		t.Fatal(err)
	}
	return s, conn, rec, clk.Advance
}

func TestSilentClientIsProbedFirst(t *testing.T) {
	s, conn, rec, advance := probeTest(t)
	advance(59 * time.Second)
	if w := conn.Written(); len(w) != 0 {
		t.Fatalf("%d frames before the silence timeout", len(w))
	}
	advance(time.Second)
	w := conn.Written()
	if len(w) != 2 {
		t.Fatalf("%d probes at the silence timeout, want NS and ARP", len(w))
	}
	// RFC 4861 7.2.2: a unicast NS to the client's link-local, from the
	// fixed router identity with its link-layer address.
	nd, err := l2.ParseND(w[0])
	if err != nil {
		t.Fatalf("NS probe invalid: %v", err)
	}
	ns, ok := nd.Message.(*l2.NeighborSolicitation)
	lla, _ := nd.SourceLLA()
	if !ok || ns.TargetAddress != llA || nd.IP.Dst != llA || nd.IP.Src != l2.FixedRouterLinkLocal ||
		!bytes.Equal(nd.Eth.Dst, macA) || !bytes.Equal(nd.Eth.Src, l2.FixedRouterMAC) || !bytes.Equal(lla, l2.FixedRouterMAC) {
		t.Errorf("NS probe %+v %+v", nd.Message, nd.IP)
	}
	wantARP := l2test.Ethernet(l2.FixedRouterMAC, macA, 0x0806, append(append(append(
		[]byte{0, 1, 8, 0, 6, 4, 0, 1}, l2.FixedRouterMAC...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 10, 20, 0, 5))
	if !bytes.Equal(w[1], wantARP) {
		t.Errorf("ARP probe\n got %x\nwant %x", w[1], wantARP)
	}
	// The client answers (its NA passes the filter as it is unseen).
	na := l2test.MustND(macA, l2.FixedRouterMAC, llA, l2.FixedRouterLinkLocal,
		&ndp.NeighborAdvertisement{Solicited: true, TargetAddress: llA})
	if !deliver(s, conn, na) {
		t.Fatal("filter dropped the probe's answer")
	}
	advance(10 * time.Second)
	if _, nd := rec.counts(); nd != 0 {
		t.Fatalf("answered client detached")
	}
	if st := s.Stats(); st.ProbeAnswered != 1 || st.Probes != 2 {
		t.Errorf("stats %+v", st)
	}
	if len(conn.Written()) != 0 {
		t.Error("probing went on after the answer")
	}
}

func TestUnansweredProbesDetach(t *testing.T) {
	s, conn, rec, advance := probeTest(t)
	advance(60 * time.Second)
	for i := 1; i < DefaultProbeCount; i++ {
		advance(DefaultProbeInterval)
		if _, nd := rec.counts(); nd != 0 {
			t.Fatalf("detached after %d probe rounds", i)
		}
	}
	advance(DefaultProbeInterval)
	if _, nd := rec.counts(); nd != 1 {
		t.Fatalf("%d detaches after %d unanswered probes, want 1", nd, DefaultProbeCount)
	}
	if d := rec.detaches[0]; !d.At.Equal(t0.Add(63*time.Second)) || !d.LastSeen.Equal(t0) {
		t.Errorf("detach %+v", d)
	}
	if st := s.Stats(); st.Probes != 2*DefaultProbeCount || st.Detached != 1 {
		t.Errorf("stats %+v", st)
	}
	if n := len(conn.Written()); n != 2*DefaultProbeCount {
		t.Errorf("%d probe frames, want %d", n, 2*DefaultProbeCount)
	}
	advance(time.Minute)
	if _, nd := rec.counts(); nd != 1 {
		t.Error("detached twice")
	}
}

func TestForgetStopsProbing(t *testing.T) {
	s, conn, rec, advance := probeTest(t)
	advance(60 * time.Second)
	conn.Written()
	s.Forget(macA)
	advance(time.Minute)
	if _, nd := rec.counts(); nd != 0 || len(conn.Written()) != 0 {
		t.Error("a forgotten client was probed or reported")
	}
}

func TestProbingDisabled(t *testing.T) {
	s, conn, clk, rec := newTest(t, func(c *Config) { c.ProbeCount = -1; c.DetachTimeout = time.Minute })
	if err := s.Registered(macA, llA); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute + time.Second)
	if _, nd := rec.counts(); nd != 1 || len(conn.Written()) != 0 {
		t.Errorf("with ProbeCount -1: %d detaches, probes sent %v", nd, conn.Written())
	}
	if _, err := New(Config{Conn: l2test.New(), OnAttach: func(Trigger) {}, RouterMAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}}); err == nil {
		t.Error("multicast router MAC accepted")
	}
	if _, err := New(Config{Conn: l2test.New(), OnAttach: func(Trigger) {}, RouterLinkLocal: hoaA}); err == nil {
		t.Error("IPv4 router address accepted")
	}
}
