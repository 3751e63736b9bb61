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
// The sender copies what it is given into buffers of its own, two that
// alternate like the queues (one filling while the other is written), so
// a caller may reuse its buffer at once and sending allocates nothing once
// they have grown to a burst's size: the PBAs of a group commit are
// marshalled into the commit's reused buffer (writer.go), which may be
// reused before a busy sender has written them. close sends what is
// queued before it returns, so that an engine closing in order (stop
// reading, finish the writes, send their PBAs) loses no answer.
type sender struct {
	conn   transport.Conn
	log    *slog.Logger
	failed *atomic.Uint64

	mu     sync.Mutex
	q      []transport.Message // guarded by mu
	qb     []byte              // guarded by mu: the bytes of q's messages
	spare  []transport.Message // guarded by mu: a drained queue to reuse
	spareb []byte              // guarded by mu: a drained qb to reuse
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

// send queues a copy of data for to.
func (s *sender) send(data []byte, to netip.AddrPort) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.enqueue(data, to)
	s.mu.Unlock()
	s.kick()
}

// enqueue appends a copy of data to the queue (s.mu held). A message
// already queued keeps pointing into qb's previous array when appending
// moves qb: its bytes there do not change, and the array lives on until
// it is written.
func (s *sender) enqueue(data []byte, to netip.AddrPort) {
	start := len(s.qb)
	s.qb = append(s.qb, data...)
	s.q = append(s.q, transport.Message{Buf: s.qb[start:len(s.qb):len(s.qb)], N: len(data), Addr: to})
}

// maxSpareBytes bounds the message bytes a drained queue keeps for reuse:
// what a burst larger than that grew is let go.
const maxSpareBytes = 1 << 20

// recycle keeps a written queue's arrays as the spares (s.mu held).
func (s *sender) recycle(q []transport.Message, qb []byte) {
	if cap(qb) > maxSpareBytes {
		qb = nil
	}
	s.spare, s.spareb = q[:0], qb[:0]
}

// take swaps the spare queue in for the one it returns, to be written
// (s.mu held; s.busy is set by the caller).
func (s *sender) take() ([]transport.Message, []byte) {
	q, qb := s.q, s.qb
	s.q, s.qb = s.spare[:0], s.spareb[:0]
	s.spare, s.spareb = nil, nil
	return q, qb
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
		// Swap in the spare arrays: senders append to them meanwhile.
		q, qb := s.take()
		s.busy = true
		s.mu.Unlock()
		s.writeAll(q)
		s.mu.Lock()
		s.busy = false
		// q's arrays are the next spares: two of each alternate, and
		// once both have grown to a burst's size queueing allocates no
		// more.
		s.recycle(q, qb)
		s.mu.Unlock()
	}
}

// writeAll sends q in batches of the Conn's size, then drops its
// references to the bytes (earlier arrays of a grown qb go with them).
func (s *sender) writeAll(q []transport.Message) {
	size := max(s.conn.BatchSize(), 1)
	for rest := q; len(rest) > 0; {
		n := min(len(rest), size)
		s.write(rest[:n])
		rest = rest[n:]
	}
	clear(q)
}

// queue adds a copy of data for to like send, without waking the writer
// goroutine: the caller sends it with flush.
func (s *sender) queue(data []byte, to netip.AddrPort) {
	s.mu.Lock()
	if !s.closed {
		s.enqueue(data, to)
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
	q, qb := s.take()
	s.busy = true
	s.mu.Unlock()
	s.writeAll(q)
	s.mu.Lock()
	s.busy = false
	if s.spare == nil {
		s.recycle(q, qb)
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
