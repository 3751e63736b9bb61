package ra

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
)

// TestServeAnnouncedOneBurst: the frames handed over, the unsolicited NA
// (byte for byte AnnounceRouter's) and the first RA leave in one
// WriteFrames call, in that order; then RAs go on as after Serve.
func TestServeAnnouncedOneBurst(t *testing.T) {
	a, conn, clk := newTest(t, nil)
	arp := append(bytes.Repeat([]byte{0xee}, 12), 0x08, 0x06, 1, 2, 3)
	if err := a.ServeAnnounced([][]byte{arp}, macA, llA, []netip.Prefix{hnpA}, 300*time.Second); err != nil {
		t.Fatal(err)
	}
	b := conn.Batches()
	if n := len(conn.Written()); len(b) != 1 || len(b[0]) != 3 || n != 3 {
		t.Fatalf("batches %d, written %d: want one batch of 3", len(b), n)
	}
	if !bytes.Equal(b[0][0], arp) {
		t.Errorf("first frame % x, want the one handed over", b[0][0])
	}
	if diff := cmp.Diff(goldenAnnounceA, b[0][1]); diff != "" {
		t.Errorf("second frame, the NA (-want +got):\n%s", diff)
	}
	nd, err := l2.ParseND(b[0][2])
	if err != nil {
		t.Fatal(err)
	}
	m, err := ndp.ParseMessage(nd.IP.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*ndp.RouterAdvertisement); !ok || nd.IP.Dst != llA {
		t.Errorf("third frame %T to %s, want the RA to %s", m, nd.IP.Dst, llA)
	}
	if s := a.Stats(); s.Announced != 1 || s.Sent != 1 {
		t.Errorf("stats %+v: want 1 announced, 1 RA", s)
	}
	// The schedule is Serve's: the next RA on its own.
	clk.Advance(MaxInitialRtrAdvertInterval + time.Second)
	if ras := parseRAs(t, conn.Written()); len(ras) != 1 {
		t.Errorf("%d RAs after the first interval, want 1", len(ras))
	}
	if n := len(conn.Batches()); n != 1 {
		t.Errorf("%d batches after a periodic RA, want 1", n)
	}

	// No frames handed over: the NA and the RA, one batch.
	if err := a.ServeAnnounced(nil, macB, netip.Addr{}, []netip.Prefix{hnpA}, 300*time.Second); err != nil {
		t.Fatal(err)
	}
	if b := conn.Batches(); len(b) != 2 || len(b[1]) != 2 {
		t.Errorf("batches %v: want a second one of NA and RA", len(b))
	}
}

// TestServeAnnouncedBadInput: a bad argument writes only the frames
// handed over (they are another component's), never the NA or an RA.
func TestServeAnnouncedBadInput(t *testing.T) {
	a, conn, _ := newTest(t, nil)
	arp := append(bytes.Repeat([]byte{0xee}, 12), 0x08, 0x06)
	err := a.ServeAnnounced([][]byte{arp}, macA, llA, nil, 300*time.Second)
	if !errors.Is(err, ErrNoPrefix) {
		t.Fatalf("no prefix: %v", err)
	}
	if w := conn.Written(); len(w) != 1 || !bytes.Equal(w[0], arp) {
		t.Errorf("written %d frames, want only the one handed over", len(w))
	}
	if err := a.ServeAnnounced(nil, net.HardwareAddr{1, 2, 3}, llA, []netip.Prefix{hnpA}, time.Minute); !errors.Is(err, ErrBadMAC) {
		t.Errorf("bad MAC: %v", err)
	}
	if s := a.Stats(); s.Announced != 0 || s.Sent != 0 {
		t.Errorf("stats %+v after bad input", s)
	}
}
