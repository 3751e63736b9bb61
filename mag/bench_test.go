package mag

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/magconfig"
)

// Run end to end: the read loop takes the LMA's PBA off the transport.
//
//	hostapd event ─> Engine.Run ── transporttest ── LMA goroutine (answers PBUs)
func TestRun(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	served := make(chan string, 16)
	h.rec.notify = served
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A fresh engine on the harness's conn: Run installs the base data
	// plane itself.
	go func() { done <- h.e.Run(ctx) }()
	go func() { // the LMA
		buf := make([]byte, 2048)
		for {
			n, from, err := h.lma.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := mh.Parse(buf[:n])
			if p, ok := m.(*mh.ProxyBindingUpdate); ok && err == nil {
				b, _ := mh.Marshal(pba(p, mh.StatusAccepted, time.Hour, grant()...))
				h.lma.WriteTo(b, from)
			}
		}
	}()
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Source: hostapd.SourceAction})
	deadline := time.After(10 * time.Second)
	for got := ""; !contains([]string{got}, "ra serve"); {
		select {
		case got = <-served:
		case <-deadline:
			t.Fatal("client not served")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	h.lma.Close()
	if err := h.e.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

// discardConn is a transport.Conn that drops what is written, calling
// onWrite first; benchmarks use it so no packet log grows.
type discardConn struct {
	local   netip.AddrPort
	onWrite func([]byte)
	writes  atomic.Uint64
}

func (c *discardConn) ReadFrom([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, net.ErrClosed
}
func (c *discardConn) WriteTo(b []byte, _ netip.AddrPort) error {
	c.writes.Add(1)
	if c.onWrite != nil {
		c.onWrite(b)
	}
	return nil
}
func (c *discardConn) ReadBatch([]transport.Message) (int, error)  { return 0, net.ErrClosed }
func (c *discardConn) WriteBatch([]transport.Message) (int, error) { return 0, nil }
func (c *discardConn) BatchSize() int                              { return 1 }
func (c *discardConn) LocalAddr() netip.AddrPort                   { return c.local }
func (c *discardConn) Close() error                                { return nil }

func reportLatencies(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(d[len(d)-1].Nanoseconds())/1e3, "max-µs")
}

// Budget (issue 4): attach event to PBU sent at most 1 ms. From a
// hostapd station event to the PBU handed to the transport.
func BenchmarkAttachToPBU(b *testing.B) {
	cfg, err := magconfig.Parse("bench", []byte(baseConf))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxPendingClients = 1 << 30
	cfg.HeartbeatInterval = 0
	var sentAt time.Time
	conn := &discardConn{local: netip.AddrPortFrom(magAddr, 0), onWrite: func([]byte) { sentAt = time.Now() }}
	newEngine := func() *Engine {
		e, err := New(cfg, Options{Rand: rand.New(rand.NewPCG(1, 2))}, nil, clocktest.New(start), conn, dataplanetest.New("br-lan", "lan4"))
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	e := newEngine()
	lat := make([]time.Duration, 0, b.N)
	mac := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 0} // clear of the printer the policy refuses
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%4096 == 4095 {
			b.StopTimer()
			e = newEngine()
			b.StartTimer()
		}
		mac[3], mac[4], mac[5] = byte((i+1)>>16), byte((i+1)>>8), byte(i+1)
		t0 := time.Now()
		e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: mac, Source: hostapd.SourceAction})
		lat = append(lat, sentAt.Sub(t0))
	}
	b.StopTimer()
	if conn.writes.Load() != uint64(b.N) {
		b.Fatalf("%d PBUs for %d attaches", conn.writes.Load(), b.N)
	}
	reportLatencies(b, lat)
}

// Budget (issue 4): PBA received to client served (RA and DHCP answer
// ready) at most 5 ms. From the PBA's bytes handed to the engine to the
// OFFER and the RA written by the real DHCP server and RA sender, after
// the data plane update (dataplanetest: the kernel's share is not in it),
// with 63 other clients registered.
func BenchmarkPBAToServed(b *testing.B) {
	h := newHarness(b, baseConf, func(c *magconfig.Config) {
		c.HeartbeatInterval = 0
		c.MaxPendingClients = 1 << 20
	})
	x := newRealAccess(b, h)
	// 63 clients already registered: the 64th is measured, as in the
	// issue's memory budget.
	sent := len(h.net.Packets())
	for i := range 63 {
		other := net.HardwareAddr{0x02, 0xdd, 0, 0, 0, byte(i + 1)}
		p := x.discover(b, h, other, sent)
		sent++
		hnp := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 2, byte(i)}), 64)
		hoa := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 30, 0, byte(i + 2)}), 24)
		h.deliver(pba(p, mh.StatusAccepted, time.Hour, &mh.HomeNetworkPrefix{Prefix: hnp},
			&mh.IPv4HomeAddressReply{Prefix: hoa}, &mh.IPv4DefaultRouterAddress{Addr: netip.MustParseAddr("10.30.0.1")}))
		x.dconn.Next(time.Second)
	}
	lat := make([]time.Duration, 0, b.N)
	mac := net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 0}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		mac[3], mac[4], mac[5] = byte((i+1)>>16), byte((i+1)>>8), byte(i+1)
		pbu := x.discover(b, h, mac, sent)
		sent += 2 // this PBU and the deregistration below
		msg, err := mh.Marshal(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))
		if err != nil {
			b.Fatal(err)
		}
		x.rconn.Written() // drain: Written forgets what it returns
		b.StartTimer()
		t0 := time.Now()
		h.e.HandleMessage(msg, lmaAP)
		f, ok := x.dconn.Next(time.Second)
		d := time.Since(t0)
		b.StopTimer()
		if ras := len(x.rconn.Written()); !ok || f.At.Sub(t0) > d || ras != 1 {
			b.Fatalf("client %d not served (offer %v, RAs %d)", i, ok, ras)
		}
		lat = append(lat, d)
		// Leave: the next client starts from the same list size.
		h.e.OnSniffDetach(snDetach(mac))
		for h.lma.Pending() > 0 {
			h.next()
		}
		h.dp.Kernel.Ops()
		if i%256 == 255 {
			runtime.GC() // outside the timed section, not inside it
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// Budget (issue 4): peak resident memory at most 8 MB with 64 clients
// registered. This measures the engine's share: the heap the Binding
// Update List and the desired data plane keep for 64 registered clients
// (about 2.3 KB each when written), and fails above 32 KB each.
func TestMemory64Clients(t *testing.T) {
	h := newHarness(t, baseConf, func(c *magconfig.Config) {
		c.HeartbeatInterval = 0
		c.MaxPendingClients = 64
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 64 {
		mac := net.HardwareAddr{0x02, 0xcc, 0, 0, 0, byte(i + 1)}
		h.e.OnSniffAttach(rsTrigger(mac))
		p := h.nextPBU()
		hnp := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, byte(i)}), 64)
		hoa := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 20, 0, byte(i + 2)}), 24)
		h.deliver(pba(p, mh.StatusAccepted, time.Hour, &mh.HomeNetworkPrefix{Prefix: hnp},
			&mh.IPv4HomeAddressReply{Prefix: hoa}, &mh.IPv4DefaultRouterAddress{Addr: router1}))
	}
	h.rec.take()
	h.dp.Kernel.Ops()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := len(h.e.Bindings()); n != 64 {
		t.Fatalf("%d bindings", n)
	}
	perClient := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / 64
	t.Logf("heap per registered client: %d B", perClient)
	if perClient > 32<<10 {
		t.Errorf("%d B of heap per client", perClient)
	}
	runtime.KeepAlive(h)
}
