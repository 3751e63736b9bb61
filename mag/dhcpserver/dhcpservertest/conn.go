// Package dhcpservertest has fakes for testing code around the MAG's DHCP
// server without root: an in-memory frame conn standing in for a packet
// socket, a recording Engine, and frame builders that share no code with
// the server (so a test checks the server against an independent reading
// of the RFCs).
package dhcpservertest

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mdlayher/packet"
)

// Frame is one frame the server wrote, with the address it wrote to.
type Frame struct {
	Data []byte
	To   net.HardwareAddr
	At   time.Time // wall clock, for latency measurements
}

// Conn is an in-memory net.PacketConn carrying Ethernet frames, the
// stand-in for a *packet.Conn. The test injects frames with Inject and
// reads what the server wrote from Sent.
type Conn struct {
	in   chan []byte
	sent chan Frame
	done chan struct{}
	once sync.Once
	// OnWrite, if set before use, is called synchronously for every
	// frame written (benchmarks use it to avoid channel latency).
	OnWrite func(Frame)
}

var _ net.PacketConn = (*Conn)(nil)

// NewConn returns a Conn that buffers up to depth frames each way.
func NewConn(depth int) *Conn {
	return &Conn{in: make(chan []byte, depth), sent: make(chan Frame, depth), done: make(chan struct{})}
}

// Inject delivers a frame to the server's ReadFrom. It returns false if
// the conn is closed.
func (c *Conn) Inject(frame []byte) bool {
	select {
	case c.in <- append([]byte(nil), frame...):
		return true
	case <-c.done:
		return false
	}
}

// Sent is where frames the server wrote arrive.
func (c *Conn) Sent() <-chan Frame { return c.sent }

// Next waits up to d for the next written frame.
func (c *Conn) Next(d time.Duration) (Frame, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case f := <-c.sent:
		return f, true
	case <-t.C:
		return Frame{}, false
	}
}

// ReadFrom implements net.PacketConn.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case f := <-c.in:
		n := copy(b, f)
		src := &packet.Addr{}
		if len(f) >= 12 {
			src.HardwareAddr = net.HardwareAddr(f[6:12:12])
		}
		return n, src, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

// ErrNotHardwareAddr is returned by WriteTo for an address that is not a
// *packet.Addr.
var ErrNotHardwareAddr = errors.New("dhcpservertest: write address is not a *packet.Addr")

// WriteTo implements net.PacketConn.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	pa, ok := addr.(*packet.Addr)
	if !ok {
		return 0, ErrNotHardwareAddr
	}
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	f := Frame{Data: append([]byte(nil), b...), To: append(net.HardwareAddr(nil), pa.HardwareAddr...), At: time.Now()}
	if c.OnWrite != nil {
		c.OnWrite(f)
		return len(b), nil
	}
	select {
	case c.sent <- f:
	default:
		// A test that does not read its frames must not wedge the server.
	}
	return len(b), nil
}

// Close implements net.PacketConn.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// LocalAddr implements net.PacketConn.
func (c *Conn) LocalAddr() net.Addr { return &packet.Addr{} }

// SetDeadline implements net.PacketConn; deadlines are not supported.
func (c *Conn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline implements net.PacketConn; deadlines are not supported.
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline implements net.PacketConn; deadlines are not supported.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }
