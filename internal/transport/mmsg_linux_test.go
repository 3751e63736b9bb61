package transport_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/transport"
)

// Kernel receive timestamps, UDP/IPv4 on loopback (no root):
//
//	mag 127.0.0.1:any ── 3 messages, a pause, 1 more ──► lma 127.0.0.1:any (Timestamps)
//
// Each message carries the time the kernel received it: after the send
// began, before ReadBatch returned, and the message sent after the pause
// later than the others by at least the pause, though all four are read
// by one ReadBatch at the end.
func TestUDPReceiveTimestamps(t *testing.T) {
	lma := listenUDP(t, transport.Options{Timestamps: true})
	mag := listenUDP(t, transport.Options{})
	requireTimestamps(t, lma)
	to := lma.LocalAddr()
	msg := goldenPBU()
	stampOnArrival(t, mag, lma)
	before := time.Now()
	for range 3 {
		if err := mag.WriteTo(msg, to); err != nil {
			t.Fatal(err)
		}
	}
	const pause = 30 * time.Millisecond
	time.Sleep(pause) // a gap between arrivals, not a wait for a timer
	if err := mag.WriteTo(msg, to); err != nil {
		t.Fatal(err)
	}
	in := make([]transport.Message, 8)
	for i := range in {
		in[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	var got []transport.Message
	lma.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 4 {
		n, err := lma.ReadBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in[:n]...)
	}
	after := time.Now()
	for i, m := range got {
		if m.Time.IsZero() {
			t.Fatalf("message %d: no receive timestamp", i)
		}
		// The kernel's clock and time.Now read the same CLOCK_REALTIME.
		if m.Time.Before(before.Add(-time.Millisecond)) || m.Time.After(after) {
			t.Errorf("message %d: timestamp %v outside [%v, %v]", i, m.Time, before, after)
		}
		if m.Addr != mag.LocalAddr() || m.N != len(msg) {
			t.Errorf("message %d: from %v, %d octets; want %v, %d", i, m.Addr, m.N, mag.LocalAddr(), len(msg))
		}
	}
	if gap := got[3].Time.Sub(got[2].Time); gap < pause-time.Millisecond {
		t.Errorf("the message sent %v after the others arrived only %v later", pause, gap)
	}
}

// requireTimestamps skips where the kernel does not stamp messages
// (qemu-user does not pass SO_TIMESTAMPNS through).
func requireTimestamps(t *testing.T, c syscall.Conn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		// Setting it again is harmless where it works.
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Skipf("no SO_TIMESTAMPNS here: %v", serr)
	}
}

// stampOnArrival waits until the kernel stamps messages as they arrive.
// The first socket asking for timestamps turns them on system-wide
// through a deferred static key (net_enable_timestamp); until that work
// has run, messages are stamped when read (sock_recv_timestamp), which
// is later. A message that waited 2 ms before its read shows which.
func stampOnArrival(t *testing.T, mag, lma transport.Conn) {
	t.Helper()
	in := []transport.Message{{Buf: make([]byte, transport.MaxMessageLen)}}
	for try := 0; try < 500; try++ {
		if err := mag.WriteTo(goldenPBU(), lma.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // the message waits in the socket
		read := time.Now()
		if n, err := lma.ReadBatch(in); err != nil || n != 1 {
			t.Fatalf("ReadBatch = %d, %v", n, err)
		}
		if !in[0].Time.IsZero() && in[0].Time.Before(read) {
			return
		}
	}
	t.Fatal("the kernel never stamped a message on arrival")
}

// Without Options.Timestamps, Message.Time stays zero, also in a reused
// slice that held stamped messages.
func TestUDPNoTimestamps(t *testing.T) {
	lma := listenUDP(t, transport.Options{})
	mag := listenUDP(t, transport.Options{})
	if err := mag.WriteTo(goldenPBU(), lma.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	in := []transport.Message{{Buf: make([]byte, transport.MaxMessageLen), Time: time.Now()}}
	lma.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := lma.ReadBatch(in); err != nil || n != 1 {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	if !in[0].Time.IsZero() {
		t.Errorf("Time = %v, want zero without Options.Timestamps", in[0].Time)
	}
}

// A steady-state batch exchange allocates nothing on Linux, timestamps
// included, over both carriers: the LMA reads and answers tens of
// thousands of messages a second.
//
//	raw: mag 2001:db8::1 ◄──► lma 2001:db8::2 (namespaces, root)
//	udp: mag 127.0.0.1 ◄──► lma 127.0.0.1
func TestBatchAllocations(t *testing.T) {
	check := func(t *testing.T, mag, lma transport.Conn, to, back netip.AddrPort) {
		out := make([]transport.Message, 16)
		in := make([]transport.Message, 16)
		for i := range out {
			b := goldenPBU()
			out[i] = transport.Message{Buf: b, N: len(b), Addr: to}
			in[i].Buf = make([]byte, transport.MaxMessageLen)
		}
		exchange := func() {
			if n, err := mag.WriteBatch(out); err != nil || n != len(out) {
				t.Fatalf("WriteBatch = %d, %v", n, err)
			}
			for got := 0; got < len(out); {
				n, err := lma.ReadBatch(in)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range in[:n] {
					if m.Addr != back || m.Time.IsZero() {
						t.Fatalf("message from %v at %v, want from %v with a timestamp", m.Addr, m.Time, back)
					}
				}
				got += n
			}
		}
		// A lost message fails the test at this deadline instead of
		// hanging it until go test's timeout.
		if err := lma.(interface{ SetReadDeadline(time.Time) error }).SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		exchange() // warm the pools
		if a := testing.AllocsPerRun(50, exchange); a != 0 {
			t.Errorf("%v allocations per batch exchange, want 0", a)
		}
	}
	t.Run("udp", func(t *testing.T) {
		lma := listenUDP(t, transport.Options{Timestamps: true, BatchSize: 16})
		requireTimestamps(t, lma)
		mag := listenUDP(t, transport.Options{BatchSize: 16})
		check(t, mag, lma, lma.LocalAddr(), mag.LocalAddr())
	})
	t.Run("raw", func(t *testing.T) {
		nstest.RequireRoot(t)
		magNS, lmaNS := twoNamespaces(t)
		mag := inNS(t, magNS, func() (*transport.RawConn, error) {
			return transport.ListenRaw(magAddr6, transport.Options{BatchSize: 16})
		})
		lma := inNS(t, lmaNS, func() (*transport.RawConn, error) {
			return transport.ListenRaw(lmaAddr6, transport.Options{BatchSize: 16, Timestamps: true})
		})
		requireTimestamps(t, lma)
		settle(t, mag, lma)
		check(t, mag, lma, netip.AddrPortFrom(lmaAddr6, 0), mag.LocalAddr())
	})
}
