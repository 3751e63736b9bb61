package lma

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/syncbuf"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// orderLog records in one sequence the data plane changes the engine
// applies and the messages it hands to its sockets.
type orderLog struct {
	mu     sync.Mutex
	events []string
	// hold, when set, blocks a Change whose operations' rendering
	// contains it until release is closed.
	hold    string
	release chan struct{}
	held    chan struct{} // closed when a Change is held
}

func (l *orderLog) add(s string) {
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

func (l *orderLog) reset() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

// recordingDP applies through the harness's fake and logs each Change
// once applied, as "dp: op; op; ...".
type recordingDP struct {
	dataplane.Dataplane
	log *orderLog
}

func (d *recordingDP) Change(ctx context.Context, ops ...dataplane.Op) error {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = o.String()
	}
	line := "dp: " + strings.Join(s, "; ")
	d.log.mu.Lock()
	hold, release, held := d.log.hold, d.log.release, d.log.held
	d.log.mu.Unlock()
	if hold != "" && strings.Contains(line, hold) {
		close(held)
		<-release
	}
	err := d.Dataplane.Change(ctx, ops...)
	d.log.add(line)
	return err
}

// recordingConn logs every message the engine sends, as "send TYPE to
// ADDR", when it is handed to the socket.
type recordingConn struct {
	transport.Conn
	log *orderLog
}

func (c *recordingConn) record(b []byte, to netip.AddrPort) {
	m, err := mh.Parse(b)
	what := "malformed"
	if err == nil {
		what = fmt.Sprintf("%T", m)
		what = what[strings.LastIndex(what, ".")+1:]
	}
	c.log.add("send " + what + " to " + to.Addr().String())
}

func (c *recordingConn) WriteTo(b []byte, to netip.AddrPort) error {
	c.record(b, to)
	return c.Conn.WriteTo(b, to)
}

func (c *recordingConn) WriteBatch(msgs []transport.Message) (int, error) {
	for _, m := range msgs {
		c.record(m.Buf[:m.N], m.Addr)
	}
	return c.Conn.WriteBatch(msgs)
}

// newOrderHarness is newHarness whose engine's data plane and sockets
// record into one orderLog.
func newOrderHarness(t *testing.T) (*harness, *orderLog) {
	t.Helper()
	log := &orderLog{}
	// newHarnessWith's parts (network, MAGs, a store over
	// store.Submitter as over the WAL, fake data plane, clock), and an
	// engine over them with the recording wrappers.
	h := &harness{t: t, clk: clocktest.New(t0), net: transporttest.NewNetwork(), dp: dataplanetest.New(), st: newMemStore(), cfg: testCfg(t, true, ""), submitter: true}
	h.ap1, _ = h.net.Listen(ap1Addr)
	h.ap2, _ = h.net.Listen(ap2Addr)
	h.ap4, _ = h.net.Listen(ap4Addr)
	h.rog, _ = h.net.Listen(rogue)
	c6, err := h.net.Listen(lmaAddr)
	if err != nil {
		t.Fatal(err)
	}
	c4, err := h.net.Listen(lma4Addr)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Config: h.cfg, Conns: []transport.Conn{&recordingConn{c6, log}, &recordingConn{c4, log}},
		Dataplane: &recordingDP{h.dp, log}, Store: newSubStore(h.st), Clock: h.clk, Writers: 8})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	h.base = h.sent
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		_ = e.Run(context.Background())
	}()
	t.Cleanup(h.stop)
	return h, log
}

// index returns the position of the first event containing all of subs,
// or -1.
func index(events []string, subs ...string) int {
	return slices.IndexFunc(events, func(e string) bool {
		for _, s := range subs {
			if !strings.Contains(e, s) {
				return false
			}
		}
		return true
	})
}

// TestHandoffOrder: a handoff between MAGs switches the downlink route
// into the new MAG's tunnel (creating it first: the MAG's first session)
// before the PBA is handed to the socket, and the revocation of the old
// MAG (RFC 5846 8.1) leaves after the PBA (RFC 5213 5.3.4, handoff.go).
// The anti-spoofing sources and the old tunnel's removal are a change of
// their own behind the switch.
func TestHandoffOrder(t *testing.T) {
	h, log := newOrderHarness(t)
	a := h.register(h.ap1, h.newPBU("alice@example.net", v4req("0.0.0.0/0")))
	p := hnps(a)[0]
	log.reset()

	h.send(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String()), v4req("0.0.0.0/0")))
	if st := h.pba(h.ap2).Status; st != mh.StatusAccepted {
		t.Fatalf("handoff: %v", st)
	}
	if _, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication); !ok {
		t.Fatal("no BRI at the old MAG")
	}
	h.advance(oldTunnelLinger) // the old tunnel lingers (tunnels.go)
	ev := log.reset()
	ap1, ap2 := ap1Addr.Addr().String(), ap2Addr.Addr().String()
	sw := index(ev, "dp: ", "replace route "+p.String(), "dev "+tun2())
	pba := index(ev, "send ProxyBindingAck to "+ap2)
	bri := index(ev, "send BindingRevocationIndication to "+ap1)
	cleanup := index(ev, "dp: ", "del tunnel "+tun1())
	if sw < 0 || pba < 0 || bri < 0 || cleanup < 0 {
		t.Fatalf("missing events (switch %d, PBA %d, BRI %d, cleanup %d):\n%s", sw, pba, bri, cleanup, strings.Join(ev, "\n"))
	}
	if !(sw < pba && pba < bri && sw < cleanup) {
		t.Errorf("order: switch %d, PBA %d, BRI %d, cleanup %d; want switch < PBA < BRI, switch < cleanup:\n%s", sw, pba, bri, cleanup, strings.Join(ev, "\n"))
	}
	// The switch is the new tunnel (first) and both routes, nothing else:
	// the filter's elements never delay it.
	want := []string{"add tunnel " + tun2(), "replace route " + p.String(), "replace route 10.20.0.2/32"}
	got := strings.Split(strings.TrimPrefix(ev[sw], "dp: "), "; ")
	if len(got) != len(want) {
		t.Fatalf("switch change %q, want %d operations %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("switch op %d = %q, want %q...", i, got[i], want[i])
		}
	}
	if strings.Contains(ev[sw], "source") {
		t.Errorf("anti-spoofing sources in the route switch: %s", ev[sw])
	}
	if src := index(ev, "dp: ", "add filter tunnel-source "+tun2()); src <= sw {
		t.Errorf("new sources at %d, before the switch at %d:\n%s", src, sw, strings.Join(ev, "\n"))
	}
}

// TestHandoffPBAWaitsForRouteSwitch: a handoff's PBA does not leave while
// its route switch is being applied, even once the binding is durable;
// nor does the revocation. Both follow the switch.
func TestHandoffPBAWaitsForRouteSwitch(t *testing.T) {
	h, log := newOrderHarness(t)
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)[0]
	log.mu.Lock()
	log.hold, log.release, log.held = "replace route "+p.String(), make(chan struct{}), make(chan struct{})
	log.mu.Unlock()

	h.send(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String())))
	select {
	case <-log.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the route switch never reached the data plane")
	}
	// The binding's write completes meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.e.writes.wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.e.out {
		if err := s.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.ap2.Pending(); n != 0 {
		t.Fatalf("new MAG got %d messages before its route was switched", n)
	}
	if n := h.ap1.Pending(); n != 0 {
		t.Fatalf("old MAG got %d messages before the new MAG's route was switched", n)
	}
	close(log.release)
	if st := h.pba(h.ap2).Status; st != mh.StatusAccepted {
		t.Fatalf("handoff: %v", st)
	}
	if _, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication); !ok {
		t.Fatal("no BRI at the old MAG")
	}
}

// TestHandoffWriteFailsBRIStillSent: when a handoff's write fails, its
// PBA refuses it (not durable, issue 3) and the session goes; the BRI held
// for that PBA is sent by its retransmission timer (RFC 5846 11,
// InitialBRITimeout) and retransmitted as usual.
func TestHandoffWriteFailsBRIStillSent(t *testing.T) {
	h, _ := newOrderHarness(t)
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)[0]
	h.st.mu.Lock()
	h.st.fail = fmt.Errorf("disk on fire")
	h.st.mu.Unlock()
	h.send(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String())))
	if st := h.pba(h.ap2).Status; st.Accepted() {
		t.Fatalf("handoff with a failed write: %v", st)
	}
	h.nothing(h.ap1)
	h.advance(InitialBRITimeout)
	if _, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication); !ok {
		t.Fatal("no BRI at the old MAG after its timer")
	}
	h.advance(2 * InitialBRITimeout)
	if _, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication); !ok {
		t.Fatal("the BRI was not retransmitted")
	}
}

// TestHandoffNoAckFlag: a handoff PBU without the A flag gets no PBA (RFC
// 6275 11.7.1) but its revocation still leaves once the route is
// switched and the binding durable.
func TestHandoffNoAckFlag(t *testing.T) {
	h, _ := newOrderHarness(t)
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)[0]
	pbu := h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String()))
	pbu.Flags &^= mh.BUFlagA
	h.send(h.ap2, pbu)
	h.nothing(h.ap2)
	if _, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication); !ok {
		t.Fatal("no BRI at the old MAG")
	}
	if !strings.Contains(h.dp.String(), "route "+p.String()+" dev "+tun2()) {
		t.Errorf("route not moved:\n%s", h.dp.String())
	}
}

// TestHandoffBackWithinLinger: a client that moves back to its old MAG
// while that MAG's tunnel still lingers (oldTunnelLinger, tunnels.go)
// takes the tunnel back as it is: its PBA waits for no tunnel creation,
// nothing deletes the tunnel later, and the tunnel it left in turn goes
// one linger after that second handoff. Without a return the old tunnel
// goes one linger after the first (TestHandoff).
func TestHandoffBackWithinLinger(t *testing.T) {
	h, log := newOrderHarness(t)
	a := h.register(h.ap1, h.newPBU("alice@example.net", v4req("0.0.0.0/0")))
	p := hnps(a)[0]
	h.register(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String()), v4req("0.0.0.0/0")))
	h.advance(oldTunnelLinger / 2)
	log.reset()

	h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p.String()), v4req("0.0.0.0/0")))
	h.advance(oldTunnelLinger/2 + time.Millisecond) // the first linger's end
	ev := strings.Join(log.reset(), "\n")
	if strings.Contains(ev, "add tunnel "+tun1()) || strings.Contains(ev, "del tunnel "+tun1()) || strings.Contains(ev, "del filter tunnel "+tun1()) {
		t.Errorf("the lingering tunnel was recreated or removed:\n%s", ev)
	}
	if !strings.Contains(h.dp.String(), "route "+p.String()+" dev "+tun1()) {
		t.Errorf("the route is not back in the old MAG's tunnel:\n%s", h.dp.String())
	}
	if !strings.Contains(h.dp.String(), "tunnel "+tun2()) {
		t.Errorf("the second MAG's tunnel went before its linger:\n%s", h.dp.String())
	}
	h.advance(oldTunnelLinger)
	if got := h.dp.String(); strings.Contains(got, tun2()) || !strings.Contains(got, "tunnel "+tun1()) || !strings.Contains(got, "filter tunnel "+tun1()) {
		t.Errorf("one linger after the move back:\n%s", got)
	}
	if n := h.e.Counters().DataplaneErrors; n != 0 {
		t.Errorf("%d data plane errors", n)
	}
}

// TestHandoffDebugLine: with debug logging, a handoff's PBA is followed by
// one line with its timeline from the PBU's arrival and, on Linux, the
// process's CPU time and preemptions between the decision and the PBA
// (whether a slow PBA computed or waited for a CPU).
func TestHandoffDebugLine(t *testing.T) {
	var buf syncbuf.Buffer
	h := &harness{t: t, clk: clocktest.New(t0), net: transporttest.NewNetwork(), dp: dataplanetest.New(), st: newMemStore(), cfg: testCfg(t, true, ""),
		log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	h.ap1, _ = h.net.Listen(ap1Addr)
	h.ap2, _ = h.net.Listen(ap2Addr)
	h.ap4, _ = h.net.Listen(ap4Addr)
	h.rog, _ = h.net.Listen(rogue)
	h.start()
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	h.register(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(hnps(a)[0].String())))
	var line string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "lma: handoff acknowledged") {
			line = l
		}
	}
	want := []string{"decided=", "issued=", "durable=", "route_switched=", "switch_ops=2", "pba_sent=", "bri_sent=true"}
	if runtime.GOOS == "linux" {
		want = append(want, "cpu=", "preempted=")
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("handoff line lacks %q: %q", w, line)
		}
	}
}
