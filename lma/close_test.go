package lma

import (
	"context"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
	"github.com/openpmip/pmip/lma/store/storetest"
)

// TestCloseSendsPBAsOfDurableWrites: Close while store writes are in
// flight waits for them and sends their PBAs before the sockets close (a
// binding made durable is acknowledged, as the doc comment promises);
// what arrives after Close began is not taken.
//
//	ap1 ── PBU ──► LMA ── Put (held) ──► store
//	              Close ... release ... PBA ──► ap1, then sockets closed
func TestCloseSendsPBAsOfDurableWrites(t *testing.T) {
	clk := clocktest.New(t0)
	nw := transporttest.NewNetwork()
	ap1, _ := nw.Listen(ap1Addr)
	c6, _ := nw.Listen(lmaAddr)
	st := storetest.New()
	e, err := New(Options{Config: testCfg(t, true, ""), Conns: []transport.Conn{c6}, Dataplane: dataplanetest.New(), Store: st, Clock: clk, Writers: 4})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- e.Run(context.Background()) }()

	release := st.Hold()
	const n = 5
	for i := range n {
		p := &mh.ProxyBindingUpdate{Sequence: uint16(i + 1), Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: time.Hour, Options: []mh.Option{
			mh.NewNAI("user" + string(rune('a'+i)) + "@example.net"),
			&mh.HomeNetworkPrefix{Prefix: mustPrefix("::/0")},
			&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
			&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
			mh.TimestampFromTime(clk.Now())}}
		b, err := mh.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ap1.WriteTo(b, lmaAddr); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the engine has handled them: their writes are held.
	deadline := time.Now().Add(5 * time.Second)
	for e.handled.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("engine handled %d of %d PBUs", e.handled.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	if ap1.Pending() != 0 {
		t.Fatal("a PBA left before its binding was durable")
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with writes still in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if got := ap1.Pending(); got != n {
		t.Fatalf("ap1 received %d PBAs after Close, want %d (one per durable binding)", got, n)
	}
	buf := make([]byte, 4096)
	for range n {
		k, _, err := ap1.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mh.Parse(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := m.(*mh.ProxyBindingAck); !ok || a.Status != mh.StatusAccepted {
			t.Fatalf("got %v, want an accepting PBA", m)
		}
	}
}
