package mag

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/hostapd"
)

// orderRec puts the kernel's operations and the access side's calls in
// one sequence: each access call first takes the kernel operations made
// before it.
type orderRec struct {
	h   *harness
	mu  sync.Mutex
	seq []string
}

func (o *orderRec) add(ev string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq = append(o.seq, o.h.dp.Kernel.Ops()...)
	if ev != "" {
		o.seq = append(o.seq, ev)
	}
}

type orderRA struct{ o *orderRec }

// Serve takes 3 ms of the fake clock, for the served line's access_ms.
func (r orderRA) Serve(mac net.HardwareAddr, _ netip.Addr, _ []netip.Prefix, _ time.Duration) error {
	r.o.add("ra serve " + mac.String())
	r.o.h.clk.Advance(3 * time.Millisecond)
	return nil
}
func (r orderRA) AnnounceRouter(mac net.HardwareAddr) error {
	r.o.add("ra announce " + mac.String())
	return nil
}
func (r orderRA) Withdraw(mac net.HardwareAddr) { r.o.add("ra withdraw " + mac.String()) }
func (r orderRA) Forget(mac net.HardwareAddr)   { r.o.add("ra forget " + mac.String()) }

type orderDHCP struct{ o *orderRec }

func (d orderDHCP) LeaseReady(mac net.HardwareAddr) { d.o.add("dhcp ready " + mac.String()) }
func (d orderDHCP) Forget(mac net.HardwareAddr)     { d.o.add("dhcp forget " + mac.String()) }

// slowDP is a data plane whose every Change takes 2 ms of the fake
// clock, counted.
type slowDP struct {
	dataplane.Dataplane
	h       *harness
	changes *int
}

func (d slowDP) Change(ctx context.Context, ops ...dataplane.Op) error {
	*d.changes++
	d.h.clk.Advance(2 * time.Millisecond)
	return d.Dataplane.Change(ctx, ops...)
}

type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A station that moved here by 802.11r (hostapd's monitor saw no EAP,
// Handoff Indicator 3): on its PBA the kernel gets the client's on-link
// routes (the downlink of its flows), then its reverse-tunnel rules, then
// its anti-spoof sources, all before its DHCP lease and its RA (issue 5:
// the path first); the one served line reports each step's time.
func TestHandoffServeOrderAndTrace(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	var logs logSink
	h.e.log = slog.New(slog.NewTextHandler(&logs, nil))
	o := &orderRec{h: h}
	changes := 0
	h.e.dp = slowDP{h.dp, h, &changes}
	if err := h.e.SetAccess("br-lan", AccessSide{RA: orderRA{o}, DHCP: orderDHCP{o}, Sniff: fakeSniff{h.rec, "br-lan"}}); err != nil {
		t.Fatal(err)
	}

	seen := h.clk.Now()
	h.clk.Advance(5 * time.Millisecond) // the monitor's identity query
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Identity: "alice@example.net",
		Source: hostapd.SourceCtrl, FastReassoc: true, Seen: seen, Query: 4 * time.Millisecond})
	pbu := h.nextPBU()
	if hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](pbu.Options); hi == nil || hi.HI != mh.HandoffBetweenMAGsSameInterface {
		t.Fatalf("PBU handoff indicator %v, want 3", hi)
	}
	h.clk.Advance(30 * time.Millisecond) // the LMA
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
	o.add("")

	want := []string{
		"add address 10.20.0.1/32 dev br-lan noprefixroute",
		"replace route 10.20.0.5/32 dev br-lan table 254",
		"replace route 2001:db8:100:1::/64 dev br-lan table 254 metric 1024",
		"add rule 900 from 10.20.0.5/32 iif br-lan lookup 158",
		"add rule 900 from 2001:db8:100:1::/64 iif br-lan lookup 158",
		"add filter source 02:00:00:00:00:01 10.20.0.5/32",
		"add filter source 02:00:00:00:00:01 2001:db8:100:1::/64",
		"dhcp ready 02:00:00:00:00:01",
		"ra announce 02:00:00:00:00:01",
		"ra serve 02:00:00:00:00:01",
	}
	if diff := cmp.Diff(want, o.seq); diff != "" {
		t.Errorf("kernel and access side, in order (-want +got):\n%s", diff)
	}

	var served string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "client served") {
			served = l
		}
	}
	for _, f := range []string{
		"binding=02:00:00:00:00:01(alice@example.net)", "event_to_attach_ms=5", "query_ms=4", "attach_to_pbu_ms=0",
		"pbu_to_pba_ms=30", "pba_to_path_ms=4", "dp_routes_ms=2", "dp_ms=4",
		"dp.routes=2 dp.rules=2 dp.sources=2 dp.requests=3 dp.full=false",
		"access_ms=3", "pba_to_served_ms=7", "event_to_served_ms=42",
	} {
		if !strings.Contains(served, f) {
			t.Errorf("served line lacks %s:\n%s", f, served)
		}
	}
	if runtime.GOOS == "linux" && (!strings.Contains(served, " cpu_ms=") || !strings.Contains(served, " preempted=")) {
		t.Errorf("served line lacks the process's usage (cpu_ms, preempted):\n%s", served)
	}
	if changes != 2 {
		t.Errorf("%d data plane changes, want 2 (routes and rules, then sources)", changes)
	}
	if n := strings.Count(logs.String(), "client served"); n != 1 {
		t.Errorf("%d served lines, want 1", n)
	}
}

// The request count assumes the batching data plane's grouping: a run
// of routes and rules is one request, a run of sources another, any
// other object one each.
func TestDPReportCount(t *testing.T) {
	r4 := netip.MustParsePrefix("10.0.0.1/32")
	ops := []dataplane.Op{
		{Obj: dataplane.Rule{Src: r4}}, {Obj: dataplane.Route{Dst: r4}}, {Obj: dataplane.Source{Prefix: r4}},
		{Obj: dataplane.Route{Dst: r4}}, {Obj: dataplane.Rule{Src: r4}}, {Obj: dataplane.Source{Prefix: r4}},
		{Obj: dataplane.Source{Prefix: r4}}, {Obj: dataplane.Address{}}, {Obj: dataplane.Address{}},
	}
	var r dpReport
	r.count(ops)
	if r.routes != 2 || r.rules != 2 || r.sources != 3 || r.requests != 6 {
		t.Errorf("%+v, want 2 routes, 2 rules, 3 sources in 6 requests", r)
	}
}
