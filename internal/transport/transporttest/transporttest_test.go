package transporttest_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

func TestPipeRawLike(t *testing.T) {
	mag, lma := transporttest.Pipe("[2001:db8::1]:0", "[2001:db8::2]:0")
	msg := []byte{59, 0, 5, 0, 0, 0, 1, 2}
	// Any port reaches a port-0 endpoint, and the sender shows port 0.
	if err := mag.WriteTo(msg, netip.MustParseAddrPort("[2001:db8::2]:5436")); err != nil {
		t.Fatal(err)
	}
	msg[7] = 99 // the network copied on send
	b := make([]byte, 100)
	n, from, err := lma.ReadFrom(b)
	if err != nil || !bytes.Equal(b[:n], []byte{59, 0, 5, 0, 0, 0, 1, 2}) || from != mag.LocalAddr() {
		t.Fatalf("ReadFrom = %x, %v, %v", b[:n], from, err)
	}
}

func TestUDPLikeAndUnknownDestination(t *testing.T) {
	net := transporttest.NewNetwork()
	lma := net.MustListen("192.0.2.2:5436")
	mag := net.MustListen("192.0.2.1:40000")
	if _, err := net.Listen(netip.MustParseAddrPort("192.0.2.2:5436")); err == nil {
		t.Fatal("address taken twice")
	}
	if err := mag.WriteTo([]byte{1}, netip.MustParseAddrPort("192.0.2.2:5437")); err != nil {
		t.Fatal(err) // a wrong port is lost silently, like on a real network
	}
	if err := mag.WriteTo([]byte{2}, lma.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	n, from, err := lma.ReadFrom(b)
	if err != nil || n != 1 || b[0] != 2 || from != mag.LocalAddr() {
		t.Fatalf("ReadFrom = %d %x %v %v", n, b[:n], from, err)
	}
	log := net.Packets()
	if len(log) != 2 || log[0].Delivered || !log[1].Delivered {
		t.Fatalf("log = %+v", log)
	}
}

func TestFilterAndWaitSent(t *testing.T) {
	net := transporttest.NewNetwork()
	a := net.MustListen("[2001:db8::1]:0")
	b := net.MustListen("[2001:db8::2]:0")
	net.SetFilter(func(p transporttest.Packet) bool { return p.Data[0] != 0xdd })
	go func() {
		_ = a.WriteTo([]byte{0xdd}, b.LocalAddr())
		_ = a.WriteTo([]byte{0x01}, b.LocalAddr())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	log, err := net.WaitSent(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if log[0].Delivered || !log[1].Delivered || b.Pending() != 1 {
		t.Fatalf("log = %+v, pending %d", log, b.Pending())
	}
	short, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := net.WaitSent(short, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitSent on a cancelled context: %v", err)
	}
}

func TestBatchAndTruncation(t *testing.T) {
	a, b := transporttest.Pipe("[2001:db8::1]:0", "[2001:db8::2]:0")
	out := []transport.Message{
		{Buf: []byte{1, 2, 3}, N: 3, Addr: b.LocalAddr()},
		{Buf: []byte{4, 5, 6, 7, 8}, N: 5, Addr: b.LocalAddr()},
		{Buf: []byte{9}, N: 1, Addr: b.LocalAddr()},
	}
	if n, err := a.WriteBatch(out); n != 3 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	in := []transport.Message{{Buf: make([]byte, 4)}, {Buf: make([]byte, 4)}}
	n, err := b.ReadBatch(in)
	if err != nil || n != 2 {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	if in[0].N != 3 || in[0].Truncated || in[1].N != 4 || !in[1].Truncated || in[1].Addr != a.LocalAddr() {
		t.Fatalf("batch = %+v", in)
	}
	n2, _, err := b.ReadFrom(make([]byte, 0))
	if n2 != 0 || !errors.Is(err, transport.ErrTruncated) {
		t.Fatalf("ReadFrom into nothing = %d, %v", n2, err)
	}
	if _, err := a.WriteBatch([]transport.Message{{Buf: []byte{1}, N: 2, Addr: b.LocalAddr()}}); !errors.Is(err, transport.ErrMessageTooLong) {
		t.Fatalf("bad N: %v", err)
	}
}

func TestClose(t *testing.T) {
	a, b := transporttest.Pipe("[2001:db8::1]:0", "[2001:db8::2]:0")
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
	if _, err := b.ReadBatch([]transport.Message{{Buf: make([]byte, 1)}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
	if err := b.WriteTo([]byte{1}, a.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v", err)
	}
	// Sending to a closed endpoint is lost, not an error.
	if err := a.WriteTo([]byte{1}, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
}
