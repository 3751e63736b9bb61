package transport_test

import (
	"net/netip"
	"testing"

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
	return open("fd00::1"), open("fd00::2")
}

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
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := mag.WriteTo(pbu, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := lma.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

// BenchmarkRawBatchOneWay: WriteBatch then ReadBatch, 64 per system call.
func BenchmarkRawBatchOneWay(b *testing.B) {
	mag, lma := benchPair(b, transport.Options{})
	out, in := batchBufs(mag.BatchSize(), lma.LocalAddr())
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(len(out), b.N-sent)
		if _, err := mag.WriteBatch(out[:k]); err != nil {
			b.Fatal(err)
		}
		drain(b, lma, in, k)
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
			if err != nil {
				return
			}
			if lma.WriteTo(buf[:n], from) != nil {
				return
			}
		}
	}()
	pbu := goldenPBU()
	buf := make([]byte, transport.MaxMessageLen)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := mag.WriteTo(pbu, lma.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := mag.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
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
			if err != nil {
				return
			}
			if _, err := lma.WriteBatch(in[:n]); err != nil {
				return
			}
		}
	}()
	out, in := batchBufs(mag.BatchSize(), lma.LocalAddr())
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(len(out), b.N-sent)
		if _, err := mag.WriteBatch(out[:k]); err != nil {
			b.Fatal(err)
		}
		drain(b, mag, in, k)
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
