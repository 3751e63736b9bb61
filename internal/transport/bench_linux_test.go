package transport_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/transport"
)

// Benchmarks over the loopback of a fresh namespace (root), so no other
// Mobility Header socket on the host sees the traffic:
//
//	 ns "bench", lo
//	┌─────────────────────────────────────────────────────────────┐
//	│ mag fd00::1 (raw ip6:135) ── PBU ──►  lma fd00::2 (raw)     │
//	│                          ◄── PBA ──   (echoes each message) │
//	└─────────────────────────────────────────────────────────────┘
//
// Each side binds its own address, so neither raw socket receives the
// other's sends. ns/op is per message; msgs/s is reported.
func benchPair(b *testing.B, o transport.Options) (mag, lma *transport.RawConn) {
	b.Helper()
	ns := nstest.New(b, "bench")
	ns.Run(b, "ip", "addr", "add", "fd00::1/128", "dev", "lo", "nodad")
	ns.Run(b, "ip", "addr", "add", "fd00::2/128", "dev", "lo", "nodad")
	waitRoutes(b, ns, "fd00::1", "fd00::2")
	open := func(a string) *transport.RawConn {
		var c *transport.RawConn
		if err := ns.Do(func() (err error) {
			c, err = transport.ListenRaw(netip.MustParseAddr(a), o)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	mag, lma = open("fd00::1"), open("fd00::2")
	settle(b, mag, lma)
	settle(b, lma, mag)
	return mag, lma
}

// settle sends probes from a to b until one arrives. In a namespace just
// made, the first Mobility Headers can vanish for a moment although
// `ip route get` already answers (seen on this host's 6.18 kernel under
// load: Ip6OutNoRoutes counts them, sendmmsg reports success); a daemon
// retransmits, a test or benchmark must not start before the path works.
//
// A probe that is only late (a loaded host can leave a veth's backlog
// unprocessed for longer than one try's wait) must not reach the test
// that follows: each try's probe carries its own sequence number, earlier
// ones are skipped while waiting for the current one, and if there was
// more than one try b is drained until it has been quiet for a while.
// The waits only bound a failure: a path that works on the first try
// costs one round trip.
func settle(tb testing.TB, a, b *transport.RawConn) {
	tb.Helper()
	const (
		budget = 20 * time.Second        // give up after this
		quiet  = 500 * time.Millisecond  // drain until nothing came for this long
		wait0  = 100 * time.Millisecond  // first try's wait, doubled per try
		waitN  = 1500 * time.Millisecond // longest wait of one try
	)
	buf := make([]byte, transport.MaxMessageLen)
	start := time.Now()
	wait := wait0
	for try := 0; time.Since(start) < budget; try++ {
		seq := settleSeq(try)
		probe := goldenPBU()
		probe[6], probe[7] = byte(seq>>8), byte(seq)
		if err := a.WriteTo(probe, b.LocalAddr()); err != nil {
			tb.Fatal(err)
		}
		if err := b.SetReadDeadline(time.Now().Add(wait)); err != nil {
			tb.Fatal(err)
		}
		for {
			n, _, err := b.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // next try
			}
			if err != nil {
				tb.Fatal(err)
			}
			if n < 8 || uint16(buf[6])<<8|uint16(buf[7]) != seq {
				continue // an earlier try's probe, late
			}
			if try > 0 {
				// Earlier probes may still be on their way.
				for err == nil {
					_ = b.SetReadDeadline(time.Now().Add(quiet))
					_, _, err = b.ReadFrom(buf)
				}
			}
			if err := b.SetReadDeadline(time.Time{}); err != nil {
				tb.Fatal(err)
			}
			return
		}
		wait = min(2*wait, waitN)
	}
	tb.Fatalf("no message from %v reached %v within %v", a.LocalAddr(), b.LocalAddr(), budget)
}

// settleSeq is the sequence number of settle's probe of one try: 0xf000
// and up, apart from the numbers the tests send (goldenPBU's 0x1234, the
// batch's 0 up to a few hundred, the bad checksum's 0xee34).
func settleSeq(try int) uint16 { return 0xf000 | uint16(try&0x0fff) }

func reportRate(b *testing.B, msgs int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(msgs)/s, "msgs/s")
	}
}

// BenchmarkRawOneWay: WriteTo then ReadFrom, one message per system call.
func BenchmarkRawOneWay(b *testing.B) {
	mag, lma := benchPair(b, transport.Options{})
	pbu := goldenPBU()
	to := lma.LocalAddr()
	buf := make([]byte, transport.MaxMessageLen)
	w := startWatchdog(b, mag, lma)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := mag.WriteTo(pbu, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := lma.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
		w.tick()
	}
	reportRate(b, b.N)
}

// BenchmarkRawBatchOneWay: WriteBatch then ReadBatch, 64 per system call.
func BenchmarkRawBatchOneWay(b *testing.B) {
	mag, lma := benchPair(b, transport.Options{})
	out, in := batchBufs(mag.BatchSize(), lma.LocalAddr())
	w := startWatchdog(b, mag, lma)
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(len(out), b.N-sent)
		if _, err := mag.WriteBatch(out[:k]); err != nil {
			b.Fatal(err)
		}
		drain(b, lma, in, k)
		w.tick()
		sent += k
	}
	reportRate(b, b.N)
}

// BenchmarkRawExchange is the LMA's loop: a PBU in, a PBA of the same
// size out, one message per system call on both sides, the MAG side
// waiting for each answer.
func BenchmarkRawExchange(b *testing.B) {
	mag, lma := benchPair(b, transport.Options{})
	benchExchange(b, mag, lma)
}

// BenchmarkRawBatchExchange is the same loop with recvmmsg/sendmmsg: the
// LMA answers whatever one ReadBatch returned with one WriteBatch; the MAG
// side sends 64 PBUs per batch and reads the answers.
func BenchmarkRawBatchExchange(b *testing.B) {
	mag, lma := benchPair(b, transport.Options{ReadBuffer: 4 << 20})
	benchBatchExchange(b, mag, lma)
}

// BenchmarkUDPExchange and BenchmarkUDPBatchExchange: the same over the
// UDP/IPv4 carrier on 127.0.0.1 (no root needed).
func BenchmarkUDPExchange(b *testing.B) {
	mag, lma := udpPair(b)
	benchExchange(b, mag, lma)
}

func BenchmarkUDPBatchExchange(b *testing.B) {
	mag, lma := udpPair(b)
	benchBatchExchange(b, mag, lma)
}

func udpPair(b *testing.B) (mag, lma transport.Conn) {
	open := func() transport.Conn {
		c, err := transport.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), transport.Options{ReadBuffer: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	return open(), open()
}

func benchExchange(b *testing.B, mag, lma transport.Conn) {
	go func() {
		buf := make([]byte, transport.MaxMessageLen)
		for {
			n, from, err := lma.ReadFrom(buf)
			if err == nil {
				err = lma.WriteTo(buf[:n], from)
			}
			if err != nil {
				echoFailed(b, err)
				return
			}
		}
	}()
	pbu := goldenPBU()
	buf := make([]byte, transport.MaxMessageLen)
	w := startWatchdog(b, mag, lma)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := mag.WriteTo(pbu, lma.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := mag.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
		w.tick()
	}
	reportRate(b, b.N)
}

func benchBatchExchange(b *testing.B, mag, lma transport.Conn) {
	go func() {
		// The answers go back from the receive buffers: ReadBatch set
		// each N and Addr (the sender), which is what WriteBatch needs.
		_, in := batchBufs(lma.BatchSize(), netip.AddrPort{})
		for {
			n, err := lma.ReadBatch(in)
			if err == nil {
				_, err = lma.WriteBatch(in[:n])
			}
			if err != nil {
				echoFailed(b, err)
				return
			}
		}
	}()
	out, in := batchBufs(mag.BatchSize(), lma.LocalAddr())
	w := startWatchdog(b, mag, lma)
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(len(out), b.N-sent)
		if _, err := mag.WriteBatch(out[:k]); err != nil {
			b.Fatal(err)
		}
		drain(b, mag, in, k)
		w.tick()
		sent += k
	}
	reportRate(b, b.N)
}

// batchBufs returns size messages holding the golden PBU addressed to
// `to`, and size empty receive buffers.
func batchBufs(size int, to netip.AddrPort) (out, in []transport.Message) {
	out = make([]transport.Message, size)
	in = make([]transport.Message, size)
	for i := range out {
		p := goldenPBU()
		out[i] = transport.Message{Buf: p, N: len(p), Addr: to}
		in[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	return out, in
}

// drain reads exactly k messages.
func drain(b *testing.B, c transport.Conn, in []transport.Message, k int) {
	for got := 0; got < k; {
		n, err := c.ReadBatch(in[:k-got])
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
}

// echoFailed reports an error of the LMA side, unless it is the Close at
// the end of the benchmark.
func echoFailed(b *testing.B, err error) {
	if !errors.Is(err, net.ErrClosed) {
		b.Errorf("LMA side: %v", err)
	}
}

// watchdog closes the connections when no message has moved for a while,
// so a lost datagram (a raw socket drops what does not fit its buffer)
// fails the benchmark with a message instead of hanging it.
type watchdog struct {
	progress atomic.Int64
}

const watchdogStall = 10 * time.Second

func startWatchdog(b *testing.B, conns ...transport.Conn) *watchdog {
	w := &watchdog{}
	stop := make(chan struct{})
	b.Cleanup(func() { close(stop) })
	go func() {
		last := int64(-1)
		t := time.NewTicker(watchdogStall)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if p := w.progress.Load(); p != last {
				last = p
				continue
			}
			b.Errorf("no message moved for %v: one was lost", watchdogStall)
			for _, c := range conns {
				c.Close()
			}
			return
		}
	}()
	return w
}

func (w *watchdog) tick() { w.progress.Add(1) }
