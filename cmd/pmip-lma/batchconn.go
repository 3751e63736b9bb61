package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/openpmip/pmip/internal/transport"
)

// batchConn turns the engine's one-message writes into batched ones
// (sendmmsg): the PBAs of one group commit are released together, and
// sending each with its own system call cost about a sixth of the LMA's
// CPU at 40,000 PBU/s (profile in docs/lma.md). WriteTo queues a copy and
// returns; one writer goroutine sends whatever is queued, up to the
// carrier's batch size, as soon as it is there: it never waits to fill a
// batch, so a lone PBA leaves as fast as before.
//
// A write that fails is logged and counted (the sender retransmits, as
// for any lost datagram); reads pass through.
type batchConn struct {
	transport.Conn
	log    *slog.Logger
	q      chan transport.Message
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	failed atomic.Uint64
}

// batchQueue bounds the messages waiting for the writer; beyond it
// WriteTo blocks, which slows the engine rather than drop answers.
const batchQueue = 8192

func newBatchConn(c transport.Conn, log *slog.Logger) *batchConn {
	b := &batchConn{Conn: c, log: log, q: make(chan transport.Message, batchQueue),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.writer()
	return b
}

// WriteTo implements transport.Conn: it queues a copy of p for to.
func (b *batchConn) WriteTo(p []byte, to netip.AddrPort) error {
	if len(p) > transport.MaxMessageLen {
		return transport.ErrMessageTooLong
	}
	buf := bytes.Clone(p)
	select {
	case <-b.stop:
		return net.ErrClosed
	default:
	}
	select {
	case b.q <- transport.Message{Buf: buf, N: len(buf), Addr: to}:
		return nil
	case <-b.stop:
		return net.ErrClosed
	}
}

func (b *batchConn) writer() {
	defer close(b.done)
	size := b.Conn.BatchSize()
	batch := make([]transport.Message, 0, size)
	for {
		var m transport.Message
		select {
		case m = <-b.q:
		case <-b.stop:
			return
		}
		batch = append(batch[:0], m)
	fill:
		for len(batch) < size {
			select {
			case m = <-b.q:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		b.send(batch)
		clear(batch) // let the buffers go
	}
}

// send writes batch, skipping a message the kernel refuses (its index is
// what WriteBatch returns with the error) and going on with the rest.
func (b *batchConn) send(batch []transport.Message) {
	for len(batch) > 0 {
		n, err := b.Conn.WriteBatch(batch)
		if err == nil {
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if n < 0 || n >= len(batch) {
			n = 0
		}
		b.failed.Add(1)
		b.log.Warn("pmip-lma: sending", "to", batch[n].Addr, "err", err)
		batch = batch[n+1:]
	}
}

// Close stops the writer (messages still queued are dropped, as a
// closed socket drops them) and closes the socket.
func (b *batchConn) Close() error {
	b.once.Do(func() { close(b.stop) })
	err := b.Conn.Close()
	<-b.done
	return err
}
