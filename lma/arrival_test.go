package lma

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// RFC 5213 5.5: a PBU's timestamp is checked against the LMA's clock when
// the PBU arrived, not when a busy loop got round to it: a PBU that was
// within TimestampValidityWindow on arrival is accepted even if it waited
// longer than the window in the LMA's queue.
//
//	ap1 ── PBU (timestamp t0) ──► LMA reads it at t0, loop busy until t0+1s
func TestTimestampCheckedAtArrival(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	window := h.cfg.TimestampValidityWindow
	// Hold the loop, as a burst of work would.
	busy, release := make(chan struct{}), make(chan struct{})
	go h.e.call(context.Background(), func() { close(busy); <-release })
	<-busy
	read := make(chan struct{}, 1)
	onRead := func() {
		select {
		case read <- struct{}{}:
		default:
		}
	}
	h.e.afterRead.Store(&onRead)
	h.send(h.ap1, h.newPBU("alice@example.net"))
	// Wait until the receiver has read it (stamped its arrival) and
	// waits for the loop.
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver never read the PBU")
	}
	h.e.afterRead.Store(nil)
	h.clk.Advance(window + time.Second)
	close(release)
	a := h.pba(h.ap1)
	if a.Status != mh.StatusAccepted {
		t.Fatalf("PBU within the window on arrival, processed %v later: status %v, want accepted", window+time.Second, a.Status)
	}

	// A PBU whose timestamp was already outside the window on arrival is
	// still refused, and the PBA carries the LMA's time at arrival.
	late := h.newPBU("bob@example.net", replace(mh.TimestampFromTime(h.clk.Now().Add(-2*window))))
	h.send(h.ap1, late)
	a = h.pba(h.ap1)
	if a.Status != mh.StatusTimestampMismatch {
		t.Fatalf("stale timestamp: status %v, want %v", a.Status, mh.StatusTimestampMismatch)
	}
	if got := opt[*mh.Timestamp](t, a.Options).Time(); got.Sub(h.clk.Now()).Abs() > time.Millisecond {
		t.Errorf("TIMESTAMP_MISMATCH carries %v, want the LMA's time %v", got, h.clk.Now())
	}
}

// stampedConn reports every message as received age ago, as a kernel
// timestamp (transport.Options.Timestamps) would for a message that
// queued in the socket that long.
type stampedConn struct {
	*transporttest.Conn
	age time.Duration
}

func (c *stampedConn) ReadBatch(msgs []transport.Message) (int, error) {
	n, err := c.Conn.ReadBatch(msgs)
	for i := range n {
		msgs[i].Time = time.Now().Add(-c.age)
	}
	return n, err
}

// On the wall clock the engine takes a PBU's arrival from the socket's
// receive timestamp (RFC 5213 5.5: the LMA's time when it received the
// PBU), so a PBU that queued in the socket past TimestampValidityWindow
// is refused with TIMESTAMP_MISMATCH (156) and the PBA carries that
// arrival, while one just received is accepted.
//
//	ap1 ── PBU (timestamp now) ──► socket says: received 2 windows ago ──► LMA
func TestTimestampFromKernelArrival(t *testing.T) {
	cfg := testCfg(t, true, "")
	// A wide window: the PBU is stamped "now" when built and judged when
	// the engine reads it, and a loaded host can put more than the default
	// 300 ms between the two (the just-arrived case would fail falsely).
	cfg.TimestampValidityWindow = 10 * time.Second
	window := cfg.TimestampValidityWindow
	for _, tt := range []struct {
		name string
		age  time.Duration
		want mh.Status
	}{
		{"just arrived", 0, mh.StatusAccepted},
		{"queued past the window", 2 * window, mh.StatusTimestampMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			net := transporttest.NewNetwork()
			ap1, _ := net.Listen(ap1Addr)
			c6, err := net.Listen(lmaAddr)
			if err != nil {
				t.Fatal(err)
			}
			// Clock nil: the wall clock, with which kernel times agree.
			e, err := New(Options{Config: cfg, Conns: []transport.Conn{&stampedConn{c6, tt.age}}, Store: newMemStore()})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = e.Run(context.Background()) }()
			defer func() { e.Close(); <-done }()

			sent := time.Now()
			pbu := &mh.ProxyBindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: time.Hour, Options: []mh.Option{
				mh.NewNAI("alice@example.net"),
				&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
				&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
				&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
				mh.TimestampFromTime(sent),
			}}
			b, err := mh.Marshal(pbu)
			if err != nil {
				t.Fatal(err)
			}
			if err := ap1.WriteTo(b, lmaAddr); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, transport.MaxMessageLen)
			got := make(chan error, 1)
			var n int
			go func() {
				var err error
				n, _, err = ap1.ReadFrom(buf)
				got <- err
			}()
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				ap1.Close()
				t.Fatal("no answer to the PBU")
			}
			m, err := mh.Parse(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			a, ok := m.(*mh.ProxyBindingAck)
			if !ok || a.Status != tt.want {
				t.Fatalf("answer %v, want a PBA with status %v", m, tt.want)
			}
			if tt.want == mh.StatusTimestampMismatch {
				// The LMA's time at arrival, as the socket reported it.
				got := opt[*mh.Timestamp](t, a.Options).Time()
				if d := got.Sub(sent.Add(-tt.age)); d < -time.Millisecond || d > window/2 {
					t.Errorf("TIMESTAMP_MISMATCH carries %v, want about %v", got, sent.Add(-tt.age))
				}
			}
		})
	}
}
