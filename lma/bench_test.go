package lma

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
	"github.com/openpmip/pmip/lma/store"
)

// nullDataplane accepts everything: the benchmark measures the engine and
// the store, not the fake kernel (whose route list is a slice).
type nullDataplane struct{ ops atomic.Uint64 }

func (d *nullDataplane) Set(context.Context, *dataplane.State) error { return nil }
func (d *nullDataplane) Change(_ context.Context, ops ...dataplane.Op) error {
	d.ops.Add(uint64(len(ops)))
	return nil
}

// preload puts n sessions in the engine's cache, with pool entries, as a
// running LMA would hold them (not through the store: only the PBUs the
// benchmark sends are written).
func preload(t testing.TB, e *Engine, n int) {
	var aerr error
	err := e.call(context.Background(), func() {
		pp := e.pools.v6["hnp"]
		now := e.clk.Now()
		for i := range n {
			p, err := pp.Allocate(netip.Prefix{})
			if err != nil {
				aerr = err
				return
			}
			b := e.bc.load(&bindingRecord{id: e.nextID, mn: mnKey{subtype: mh.MNIDNAI, id: "pre" + strconv.Itoa(i) + "@example.net"},
				att: mh.ATTIEEE80211, mag: "ap1", coa: ap1Addr.Addr(), tunnel: "ip6ip6", hnps: []netip.Prefix{p},
				policy: "staff", lifetime: time.Hour, registered: now.UnixNano(), updated: now.UnixNano(),
				deadline: now.Add(time.Hour).UnixNano()})
			e.nextID++
			e.bc.add(b)
			e.ref(e.view(b).tunnel)
		}
		e.armExpiry()
	})
	if err := errors.Join(err, aerr); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPBU measures PBU-to-PBA through the engine on the in-memory
// network, with LMA_BENCH_BINDINGS (default 100,000) sessions already in
// the cache and durability on (the WAL store in a temporary directory,
// every accepted PBU durable before its PBA). Half the PBUs are new
// registrations, half refreshes. It reports PBU/s and latency
// percentiles; LMA_BENCH_WINDOW sets the PBUs in flight (default 2048);
// LMA_BENCH_STORE=mem replaces the WAL with memory, to see the engine's
// own cost; LMA_BENCH_REFRESHES=1 sends refreshes only, the paced rows'
// load of make bench-lma.
func BenchmarkPBU(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("LMA_BENCH_BINDINGS")); err == nil {
		n = v
	}
	window := 2048
	if v, err := strconv.Atoi(os.Getenv("LMA_BENCH_WINDOW")); err == nil {
		window = v
	}
	var st store.Store = newMemStore()
	if os.Getenv("LMA_BENCH_STORE") != "mem" {
		w, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		st = w
	}
	nw := transporttest.NewNetwork()
	c6, _ := nw.Listen(lmaAddr)
	mag, _ := nw.Listen(ap1Addr)
	var mu sync.Mutex
	var lat []time.Duration
	cfg := testCfg(b, false, "")
	// A /32 of /64s: room for millions of sessions.
	cfg.Pools[0].Prefix = netip.MustParsePrefix("2001:db8::/32")
	e, err := New(Options{Config: cfg, Conns: []transport.Conn{c6}, Dataplane: &nullDataplane{}, Store: st, Clock: clock.Real{},
		ObserveLatency: func(d time.Duration) {
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	go e.Run(context.Background())
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	preload(b, e, n)
	runtime.GC()
	runtime.ReadMemStats(&ms1)

	// Pre-marshal the PBUs: new sessions and refreshes of preloaded ones.
	refreshesOnly := os.Getenv("LMA_BENCH_REFRESHES") == "1" && n > 0
	msgs := make([][]byte, b.N)
	for i := range msgs {
		var p *mh.ProxyBindingUpdate
		if i%2 == 0 && !refreshesOnly {
			p = &mh.ProxyBindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: time.Hour, Options: []mh.Option{
				mh.NewNAI(fmt.Sprintf("new%d@example.net", i)),
				&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
				&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
				&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
				&mh.MobileNodeLinkLayerID{ID: mac1}}}
		} else {
			j := i / 2
			if refreshesOnly {
				j = i
			}
			k := j % max(n, 1)
			p = &mh.ProxyBindingUpdate{Sequence: uint16(2 + j/max(n, 1)), Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: time.Hour, Options: []mh.Option{
				mh.NewNAI("pre" + strconv.Itoa(k) + "@example.net"),
				&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
				&mh.HandoffIndicatorOption{HI: mh.HandoffStateNotChanged},
				&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211}}}
		}
		msgs[i], _ = mh.Marshal(p)
	}
	sem := make(chan struct{}, window)
	done := make(chan struct{})
	var got atomic.Int64
	var accepted atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for got.Load() < int64(b.N) {
			_, _, err := mag.ReadFrom(buf)
			if err != nil {
				return
			}
			if buf[2] == byte(mh.TypeBindingAck) && buf[6] < 128 {
				accepted.Add(1)
			}
			got.Add(1)
			<-sem
		}
		close(done)
	}()
	b.ResetTimer()
	start := time.Now()
	for _, m := range msgs {
		sem <- struct{}{}
		mag.WriteTo(m, lmaAddr)
	}
	<-done
	el := time.Since(start)
	b.StopTimer()
	mu.Lock()
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "PBU/s")
	b.ReportMetric(float64(pct(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/float64(max(n, 1)), "heap-B/binding")
	mu.Unlock()
	if accepted.Load() != int64(b.N) {
		b.Errorf("%d of %d accepted", accepted.Load(), b.N)
	}
}
