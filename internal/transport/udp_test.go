package transport_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/transport"
)

func TestGoldenPBU(t *testing.T) {
	b := goldenPBU()
	if len(b) != 72 || (int(b[1])+1)*8 != len(b) {
		t.Fatalf("golden PBU is %d bytes, header length says %d", len(b), (int(b[1])+1)*8)
	}
	// Alignment rules of RFC 5213 8.3 (8n+4) and 8.8 (8n+2).
	if b[12] != 22 || b[58] != 27 {
		t.Fatalf("options misplaced: %d at 12, %d at 58", b[12], b[58])
	}
}

// listenUDP opens a UDP carrier on 127.0.0.1 with an ephemeral port (no
// root needed) and closes it with the test.
func listenUDP(t *testing.T, o transport.Options) *transport.UDPConn {
	t.Helper()
	c, err := transport.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Loopback, no namespace:
//
//	mag (127.0.0.1:ephemeral) ── PBU ──► lma (127.0.0.1:ephemeral)
//	mag ◄── reply to the PBU's source port ── lma
func TestUDPRoundTrip(t *testing.T) {
	lma := listenUDP(t, transport.Options{})
	mag := listenUDP(t, transport.Options{})
	if lma.LocalAddr().Port() == 0 || !lma.LocalAddr().Addr().Is4() {
		t.Fatalf("LocalAddr = %v", lma.LocalAddr())
	}
	pbu := goldenPBU()
	pbu[4], pbu[5] = 0xab, 0xcd // the UDP carrier passes the MH checksum through
	if err := mag.WriteTo(pbu, lma.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, transport.MaxMessageLen)
	n, from, err := lma.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], pbu) {
		t.Fatalf("received %x, sent %x", buf[:n], pbu)
	}
	if from != mag.LocalAddr() {
		t.Fatalf("from = %v, want %v", from, mag.LocalAddr())
	}
	// The LMA replies to the source port the MAG used (RFC 5844 4).
	if err := lma.WriteTo(pbu[:8], from); err != nil {
		t.Fatal(err)
	}
	n, from, err = mag.ReadFrom(buf)
	if err != nil || n != 8 || from != lma.LocalAddr() {
		t.Fatalf("reply: n=%d from=%v err=%v", n, from, err)
	}
	// IPv4-mapped destinations are accepted and unmapped.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(lma.LocalAddr().Addr().As16()), lma.LocalAddr().Port())
	if err := mag.WriteTo(pbu, mapped); err != nil {
		t.Fatalf("write to %v: %v", mapped, err)
	}
	if n, _, err := lma.ReadFrom(buf); err != nil || n != len(pbu) {
		t.Fatalf("mapped: n=%d err=%v", n, err)
	}
}

func TestUDPBatch(t *testing.T) {
	const count = 100 // more than BatchSize: WriteBatch splits, ReadBatch loops
	lma := listenUDP(t, transport.Options{BatchSize: 16, ReadBuffer: 1 << 20})
	mag := listenUDP(t, transport.Options{BatchSize: 16})
	if lma.BatchSize() != 16 {
		t.Fatalf("BatchSize = %d", lma.BatchSize())
	}
	out := make([]transport.Message, count)
	for i := range out {
		b := goldenPBU()
		b[6], b[7] = byte(i>>8), byte(i) // sequence number
		out[i] = transport.Message{Buf: b, N: len(b), Addr: lma.LocalAddr()}
	}
	if n, err := mag.WriteBatch(out); err != nil || n != count {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	in := make([]transport.Message, 32)
	for i := range in {
		in[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	got := 0
	for got < count {
		n, err := lma.ReadBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		if n < 1 || n > 16 {
			t.Fatalf("ReadBatch returned %d messages (batch size 16)", n)
		}
		for _, m := range in[:n] {
			if m.Truncated || m.Addr != mag.LocalAddr() || !bytes.Equal(m.Buf[:m.N], out[got].Buf) {
				t.Fatalf("message %d: truncated=%v from=%v bytes=%x", got, m.Truncated, m.Addr, m.Buf[:m.N])
			}
			got++
		}
	}
}

func TestUDPTruncated(t *testing.T) {
	lma := listenUDP(t, transport.Options{})
	mag := listenUDP(t, transport.Options{})
	pbu := goldenPBU()
	for range 2 {
		if err := mag.WriteTo(pbu, lma.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	small := make([]byte, 16)
	n, from, err := lma.ReadFrom(small)
	if !errors.Is(err, transport.ErrTruncated) || n != 16 || from != mag.LocalAddr() {
		t.Fatalf("ReadFrom = %d, %v, %v; want 16 bytes and ErrTruncated", n, from, err)
	}
	msgs := []transport.Message{{Buf: make([]byte, 10)}}
	if n, err := lma.ReadBatch(msgs); err != nil || n != 1 || !msgs[0].Truncated || msgs[0].N != 10 {
		t.Fatalf("ReadBatch = %d, %v, %+v; want one truncated message", n, err, msgs[0])
	}
}

func TestUDPCloseUnblocksRead(t *testing.T) {
	c, err := transport.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 100))
		errc <- err
	}()
	go func() {
		_, err := c.ReadBatch([]transport.Message{{Buf: make([]byte, 100)}})
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let both reads block; the test passes either way
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock a read")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.WriteTo(goldenPBU(), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}

func TestBadArguments(t *testing.T) {
	c := listenUDP(t, transport.Options{})
	long := make([]byte, transport.MaxMessageLen+1)
	v6 := netip.MustParseAddrPort("[2001:db8::1]:5436")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"udp to IPv6", c.WriteTo(goldenPBU(), v6), transport.ErrAddressFamily},
		{"udp too long", c.WriteTo(long, c.LocalAddr()), transport.ErrMessageTooLong},
		{"udp batch N past Buf", second(c.WriteBatch([]transport.Message{{Buf: make([]byte, 4), N: 8, Addr: c.LocalAddr()}})), transport.ErrMessageTooLong},
		{"udp batch IPv6", second(c.WriteBatch([]transport.Message{{Buf: goldenPBU(), N: 72, Addr: v6}})), transport.ErrAddressFamily},
		{"listen udp on IPv6", second(transport.ListenUDP(v6, transport.Options{})), transport.ErrAddressFamily},
		{"listen raw on IPv4", second(transport.ListenRaw(netip.MustParseAddr("192.0.2.1"), transport.Options{})), transport.ErrAddressFamily},
		{"listen raw on mapped", second(transport.ListenRaw(netip.MustParseAddr("::ffff:192.0.2.1"), transport.Options{})), transport.ErrAddressFamily},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	for _, size := range []int{-1, 1025} {
		if _, err := transport.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), transport.Options{BatchSize: size}); err == nil {
			t.Errorf("batch size %d accepted", size)
		}
	}
	if err := c.WriteTo(goldenPBU(), netip.MustParseAddrPort("127.0.0.1:0")); err == nil {
		t.Error("write to port 0 accepted")
	}
}

func second[T any](_ T, err error) error { return err }

func TestUDPReadDeadline(t *testing.T) {
	c := listenUDP(t, transport.Options{})
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom past the deadline: %v", err)
	}
	if n, err := c.ReadBatch([]transport.Message{{Buf: make([]byte, 10)}}); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadBatch past the deadline = %d, %v", n, err)
	}
}
