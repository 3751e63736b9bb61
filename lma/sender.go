package lma

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/openpmip/pmip/internal/transport"
)

// sender batches the messages the engine sends on one Conn into
// WriteBatch calls (sendmmsg on Linux): the PBAs of one group commit are
// released together, and a system call each cost about a sixth of the
// LMA's CPU at 40,000 PBU/s (docs/lma.md). Queueing never blocks and never
// waits to fill a batch: the writer goroutine sends whatever is queued as
// soon as it is there, so a lone PBA leaves as fast as with WriteTo.
//
// The sender owns the buffers queued to it. close sends what is queued
// before it returns, so that an engine closing in order (stop reading,
// finish the writes, send their PBAs) loses no answer.
type sender struct {
	conn   transport.Conn
	log    *slog.Logger
	failed *atomic.Uint64

	mu     sync.Mutex
	q      []transport.Message // guarded by mu
	spare  []transport.Message // guarded by mu: a drained queue to reuse
	closed bool                // guarded by mu
	busy   bool                // guarded by mu: the writer holds messages
	idle   chan struct{}       // guarded by mu: closed when drained
	wake   chan struct{}
	done   chan struct{}
}

func newSender(c transport.Conn, log *slog.Logger, failed *atomic.Uint64) *sender {
	s := &sender{conn: c, log: log, failed: failed, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// send queues data for to; data must not be changed afterwards.
func (s *sender) send(data []byte, to netip.AddrPort) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.q = append(s.q, transport.Message{Buf: data, N: len(data), Addr: to})
	s.mu.Unlock()
	s.kick()
}

func (s *sender) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		q := s.q
		if len(q) == 0 || s.busy {
			// Nothing queued, or an inline flush is writing (it wakes
			// this goroutine when it is done and more is queued or the
			// sender closes): the queue keeps its array.
			closed := s.closed
			if !s.busy && s.idle != nil {
				close(s.idle)
				s.idle = nil
			}
			done := closed && len(q) == 0 && !s.busy
			s.mu.Unlock()
			if done {
				return
			}
			<-s.wake
			continue
		}
		// Swap in the spare array: senders append to it meanwhile.
		s.q = s.spare[:0]
		s.spare = nil
		s.busy = true
		s.mu.Unlock()
		s.writeAll(q)
		s.mu.Lock()
		s.busy = false
		// q's array is the next spare: two arrays alternate, and once
		// both have grown to a burst's size queueing allocates no more.
		s.spare = q[:0]
		s.mu.Unlock()
	}
}

// writeAll sends q in batches of the Conn's size, then lets its buffers
// go.
func (s *sender) writeAll(q []transport.Message) {
	size := max(s.conn.BatchSize(), 1)
	for rest := q; len(rest) > 0; {
		n := min(len(rest), size)
		s.write(rest[:n])
		rest = rest[n:]
	}
	clear(q)
}

// queue adds data for to like send, without waking the writer goroutine:
// the caller sends it with flush.
func (s *sender) queue(data []byte, to netip.AddrPort) {
	s.mu.Lock()
	if !s.closed {
		s.q = append(s.q, transport.Message{Buf: data, N: len(data), Addr: to})
	}
	s.mu.Unlock()
}

// flush sends what is queued on the caller's goroutine: the store's, right
// after a group commit's PBAs were queued, which saves waking the writer
// goroutine (on a busy host every wake-up is a wait for a CPU). If the
// writer goroutine is already sending, the queue waits for it instead, so
// that one Conn never has two batches in flight and Sync's wait holds.
func (s *sender) flush() {
	s.mu.Lock()
	if len(s.q) == 0 {
		s.mu.Unlock()
		return
	}
	if s.busy || s.closed {
		s.mu.Unlock()
		s.kick()
		return
	}
	q := s.q
	s.q = s.spare[:0]
	s.spare = nil
	s.busy = true
	s.mu.Unlock()
	s.writeAll(q)
	s.mu.Lock()
	s.busy = false
	if s.spare == nil {
		s.spare = q[:0]
	}
	wake := len(s.q) > 0 || s.closed
	if !wake && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	if wake {
		s.kick()
	}
}

func (s *sender) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// write sends batch, skipping a message the kernel refuses (its index is
// what WriteBatch returns with the error) and going on with the rest. A
// lost answer is like any lost datagram: the MAG retransmits (RFC 5213
// 6.9.4).
func (s *sender) write(batch []transport.Message) {
	for len(batch) > 0 {
		n, err := s.conn.WriteBatch(batch)
		if err == nil {
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if n < 0 || n >= len(batch) {
			n = 0
		}
		s.failed.Add(1)
		s.log.Warn("lma: sending", "to", batch[n].Addr, "err", err)
		batch = batch[n+1:]
	}
}

// wait returns once everything queued so far was handed to the socket.
func (s *sender) wait(ctx context.Context) error {
	s.mu.Lock()
	if len(s.q) == 0 && !s.busy {
		s.mu.Unlock()
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	ch := s.idle
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close sends what is queued, then stops; later sends are dropped.
func (s *sender) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.kick()
	<-s.done
}
