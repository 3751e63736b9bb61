// Package l2test is an in-memory l2.Conn for tests without root: frames
// injected by the test pass through the installed BPF filter, run by
// golang.org/x/net/bpf's interpreter exactly as the kernel would run it
// (minus l2's outgoing-frame prefix, which uses a Linux-only extension), and
// frames written are recorded.
package l2test

import (
	"fmt"
	"net"
	"sync"

	"github.com/openpmip/pmip/mag/l2"
	"golang.org/x/net/bpf"
)

// Conn is a fake l2.Conn. The zero value is not usable; call New.
type Conn struct {
	mu       sync.Mutex
	vm       *bpf.VM
	prog     []bpf.Instruction
	queue    [][]byte
	written  [][]byte
	rejected int
	closed   bool
	wake     chan struct{} // signalled when queue grows or on Close
	writes   chan struct{} // signalled on every write
	batches  [][][]byte    // frames written by WriteFrames, one entry per call
	// WriteErr, when set, is returned by WriteFrame (the frame is not
	// recorded).
	WriteErr error
}

var _ l2.Conn = (*Conn)(nil)

// New returns a Conn whose filter accepts every frame until SetFilter.
func New() *Conn {
	return &Conn{wake: make(chan struct{}, 1), writes: make(chan struct{}, 1)}
}

// SetFilter implements l2.Conn: it loads prog into the BPF interpreter.
func (c *Conn) SetFilter(prog []bpf.Instruction) error {
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return fmt.Errorf("l2test: filter: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vm, c.prog = vm, append([]bpf.Instruction(nil), prog...)
	return nil
}

// Filter returns the installed program.
func (c *Conn) Filter() []bpf.Instruction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.prog
}

// Pass runs the installed filter on frame and returns how many bytes of it
// would reach the reader (0: dropped).
func (c *Conn) Pass(frame []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pass(frame)
}

func (c *Conn) pass(frame []byte) int {
	if c.vm == nil {
		return len(frame)
	}
	n, err := c.vm.Run(frame)
	if err != nil {
		return 0
	}
	return min(n, len(frame))
}

// Inject offers a received frame to the socket. It reports whether the
// filter let it through (then a later ReadFrame returns it, truncated to
// what the filter returned).
func (c *Conn) Inject(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	n := c.pass(frame)
	if n == 0 {
		c.rejected++
		return false
	}
	c.queue = append(c.queue, append([]byte(nil), frame[:n]...))
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// Rejected returns how many injected frames the filter dropped.
func (c *Conn) Rejected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rejected
}

// ReadFrame implements l2.Conn.
func (c *Conn) ReadFrame(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			f := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return copy(b, f), nil
		}
		if c.closed {
			c.mu.Unlock()
			return 0, fmt.Errorf("l2test: read: %w", net.ErrClosed)
		}
		c.mu.Unlock()
		<-c.wake
	}
}

// Pending returns how many frames wait to be read.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// WriteFrames implements l2.Conn: the frames are recorded as written (in
// Written) and, together, as one batch (in Batches).
func (c *Conn) WriteFrames(frames [][]byte) error { return c.write(frames, true) }

// Batches returns the frames of every WriteFrames call, one entry per call.
func (c *Conn) Batches() [][][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][][]byte(nil), c.batches...)
}

// WriteFrame implements l2.Conn.
func (c *Conn) WriteFrame(frame []byte) error { return c.write([][]byte{frame}, false) }

// write records copies of frames as written, and as one batch if asked.
func (c *Conn) write(frames [][]byte, batch bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("l2test: write: %w", net.ErrClosed)
	}
	if c.WriteErr != nil {
		return c.WriteErr
	}
	copies := make([][]byte, 0, len(frames))
	for _, f := range frames {
		copies = append(copies, append([]byte(nil), f...))
	}
	c.written = append(c.written, copies...)
	if batch {
		c.batches = append(c.batches, copies)
	}
	select {
	case c.writes <- struct{}{}:
	default:
	}
	return nil
}

// Written returns the frames written so far and forgets them.
func (c *Conn) Written() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.written
	c.written = nil
	return w
}

// WriteSignal is signalled (capacity 1, coalescing) after each write, for
// tests whose writes happen on another goroutine.
func (c *Conn) WriteSignal() <-chan struct{} { return c.writes }

// Close implements l2.Conn.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.wake)
	}
	return nil
}
