package lma

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/lma/store"
)

// pendingAck is a PBA waiting for its binding's write to be durable. It
// holds copies of what it needs of the PBU's packet, which the receiver
// reuses once the loop has handled it (engine.go): nothing of a PBU is
// kept past its turn on the loop but in a pendingAck, a handoffAck or a
// parked request (request.own).
type pendingAck struct {
	conn transport.Conn
	from netip.AddrPort
	recv time.Time
	id   uint64
	// data is the PBA; pbu the PBU's bytes, parsed again for the
	// rejection if the write fails. Over a store.Submitter both live in
	// the turn's buffer, reused once the turn is finished.
	data, pbu []byte
	// silent: accepted without the A flag, no PBA (RFC 6275 11.7.1).
	silent bool
	// handoff, for a PBU accepted as a handoff between MAGs, holds its
	// PBA until the new downlink route is in place too (handoff.go); it
	// hears from finishAck that the binding is durable.
	handoff *handoffAck
}

// writes is how the engine persists: with a store.Submitter (the WAL),
// every write of one loop turn goes to the store in one Submit, whose one
// callback sends the turn's PBAs when they are durable (no goroutine
// waits on each write, no allocation per write); with any other Store,
// the persister runs each write on a worker.
type writes struct {
	e   *Engine
	sub store.Submitter // nil: persister
	per *persister

	// Loop-owned: this turn's writes and acknowledgements.
	batch store.Batch
	cur   *turn
	// Encoding scratch.
	key, val []byte

	mu       sync.Mutex
	inflight int           // guarded by mu: writes submitted, not durable
	idle     chan struct{} // guarded by mu: closed when inflight drops to 0
	closed   bool          // guarded by mu
	free     []*turn       // guarded by mu: turns done, for reuse
}

// turn is one Submit's acknowledgements and its callback, reused once the
// store has called it, so that a loop turn allocates neither (at 50,000
// PBUs a second, per-turn slices and closures were a fifteenth of the
// LMA's garbage).
type turn struct {
	w    *writes
	acks []pendingAck
	// buf holds the acks' PBAs and PBU copies (writes.keep); an ack's
	// slices point into it or into an array it outgrew, and stay valid
	// until finish.
	buf  []byte
	n    int
	done func(error) // t.finish, made once
}

func (t *turn) finish(err error) {
	t.w.finish(t.acks, err, t.n)
	// The PBAs were queued without waking the senders: send them from
	// here, the store's goroutine, which is running anyway.
	for _, s := range t.w.e.out {
		s.flush()
	}
	clear(t.acks) // drop the references to conns, handoffs, outgrown buffers
	t.acks, t.n = t.acks[:0], 0
	if cap(t.buf) > maxTurnBytes {
		t.buf = nil // what a burst grew goes
	}
	t.buf = t.buf[:0]
	t.w.mu.Lock()
	t.w.free = append(t.w.free, t)
	t.w.mu.Unlock()
}

// maxTurnBytes bounds the buffer a finished turn keeps for reuse: a
// turn's PBAs and PBUs take a few hundred octets each.
const maxTurnBytes = 1 << 20

// keep marshals pba and copies pbu into memory that lasts until the
// acknowledgement carrying them is finished: over a store.Submitter the
// loop turn's buffer, so that a PBA costs no allocation once the turns'
// buffers have grown to a turn's size (at 50,000 PBUs a second, a buffer
// each was a quarter of the LMA's garbage); otherwise a buffer of their
// own. On the loop.
func (w *writes) keep(pba *mh.ProxyBindingAck, pbu []byte) (data, pbuCopy []byte, err error) {
	var t *turn
	var buf []byte
	if w.sub != nil {
		t = w.turn()
		buf = t.buf
	}
	start := len(buf)
	buf, err = mh.AppendMarshal(buf, pba)
	if err != nil {
		return nil, nil, err
	}
	mid := len(buf)
	buf = append(buf, pbu...)
	if t != nil {
		t.buf = buf
	}
	return buf[start:mid:mid], buf[mid:len(buf):len(buf)], nil
}

// turn returns the loop turn's acknowledgements, a reused one if any.
func (w *writes) turn() *turn {
	if w.cur != nil {
		return w.cur
	}
	w.mu.Lock()
	if n := len(w.free); n > 0 {
		w.cur = w.free[n-1]
		w.free = w.free[:n-1]
	}
	w.mu.Unlock()
	if w.cur == nil {
		t := &turn{w: w, acks: make([]pendingAck, 0, 2*flushEvery)}
		t.done = t.finish
		w.cur = t
	}
	return w.cur
}

func newWrites(e *Engine, st store.Store, workers int) *writes {
	w := &writes{e: e}
	if sub, ok := st.(store.Submitter); ok {
		w.sub = sub
	} else {
		w.per = newPersister(e.ctx, st, workers, e.log)
	}
	return w
}

// put persists b and sends ack's PBA once that is durable. With
// refreshOnly (a refresh that changed nothing but what a refresh record
// holds, record.go), only the refresh record is written, over a
// store.Submitter: its writes reach the disk in the order submitted, so
// the binding record the refresh record refines is durable before it.
// The persister orders only the writes of one key, and writes the whole
// binding.
func (w *writes) put(b *binding, ack pendingAck, refreshOnly bool) {
	if w.sub == nil {
		w.persist(b, &ack)
		return
	}
	if refreshOnly {
		w.key = appendRefreshKey(w.key[:0], b.id)
		w.val = appendRefresh(w.val[:0], b)
	} else {
		// A new generation: refresh records of the previous one no
		// longer apply (recover.go).
		b.gen++
		w.key = appendBindingKey(w.key[:0], b.id)
		w.val = appendBinding(w.val[:0], w.e.bc, b)
	}
	w.batch.Put(w.key, w.val)
	t := w.turn()
	t.acks = append(t.acks, ack)
}

// persist is put without a store.Submitter. ack is a pointer so that the
// closure's copy is made here, not in put, whose ack then stays on the
// stack on the Submitter's path.
func (w *writes) persist(b *binding, a *pendingAck) {
	ack := *a
	b.gen++
	w.per.put(bindingKey(b.id), encodeBinding(w.e.bc, b), func(err error) {
		if w.e.finishAck(&ack, err, false) {
			// A worker may wait on the loop: Sync counts on it.
			w.e.post(func() { w.e.removeUnstored(ack.id) })
		}
	})
}

// del removes a binding's records. The refresh record goes too, if there
// is one (deleting an absent key writes a tombstone of a few octets).
func (w *writes) del(id uint64) {
	if w.sub == nil {
		w.per.del(bindingKey(id), nil)
		return
	}
	w.key = appendBindingKey(w.key[:0], id)
	w.batch.Delete(w.key)
	w.key = appendRefreshKey(w.key[:0], id)
	w.batch.Delete(w.key)
}

// flush submits the turn's writes (on the loop, after each event).
func (w *writes) flush() {
	if w.sub == nil || (w.batch.Len() == 0 && (w.cur == nil || len(w.cur.acks) == 0)) {
		return
	}
	t := w.turn()
	w.cur = nil
	n := w.batch.Len()
	t.n = n
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.batch.Reset()
		t.n = 0
		t.finish(store.ErrClosed)
		return
	}
	w.inflight += n
	w.mu.Unlock()
	err := w.sub.Submit(&w.batch, t.done)
	w.batch.Reset()
	if err != nil {
		t.finish(err)
	}
}

// finish completes a turn's acknowledgements and its n writes. Sessions
// whose write failed are removed on the loop, posted from a goroutine of
// their own (the store's goroutine must not wait for the loop, which may
// be waiting for the store), counted in flight until posted so that Sync
// sees them.
func (w *writes) finish(acks []pendingAck, err error, n int) {
	var failed []uint64
	for i := range acks {
		if w.e.finishAck(&acks[i], err, true) {
			failed = append(failed, acks[i].id)
		}
	}
	if len(failed) > 0 {
		w.mu.Lock()
		w.inflight++
		w.mu.Unlock()
		go func() {
			w.e.post(func() {
				for _, id := range failed {
					w.e.removeUnstored(id)
				}
			})
			w.done(1)
		}()
	}
	if n > 0 {
		w.done(n)
	}
}

func (w *writes) done(n int) {
	w.mu.Lock()
	w.inflight -= n
	if w.inflight == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
	w.mu.Unlock()
}

// backlog is the number of writes waiting or in flight.
func (w *writes) backlog() int {
	if w.sub == nil {
		return w.per.backlog()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inflight
}

// wait returns when every write flushed so far is done.
func (w *writes) wait(ctx context.Context) error {
	if w.sub == nil {
		return w.per.wait(ctx)
	}
	w.mu.Lock()
	if w.inflight == 0 {
		w.mu.Unlock()
		return nil
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	ch := w.idle
	w.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close waits for the writes flushed so far; later ones are refused with
// store.ErrClosed.
func (w *writes) close() {
	if w.sub == nil {
		w.per.close()
		return
	}
	_ = w.wait(context.Background())
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// removeUnstored removes a session whose write failed (on the loop).
func (e *Engine) removeUnstored(id uint64) {
	if b := e.bc.get(id); b != nil {
		e.remove(b, "store write failed")
	}
}

// finishAck sends a PBA whose binding's write is done (off the loop: on
// the store's goroutine or a persister worker); it must not block. It
// reports whether the write failed, so that the caller has the session
// removed. With queued, an accepting PBA only joins its sender's queue:
// the caller flushes the senders after the last of its batch.
func (e *Engine) finishAck(a *pendingAck, err error, queued bool) bool {
	if errors.Is(err, store.ErrClosed) {
		// Submitted while the engine closed (a timer's work after the
		// last writes): not durable, so not acknowledged; the MAG
		// retransmits to the restarted LMA, which has not heard of it.
		return false
	}
	if err != nil {
		// Not durable: it must not be acknowledged as accepted. The MAG
		// retries; the binding goes.
		e.stats.storeErrors.Add(1)
		e.log.Error("lma: binding not stored, registration refused", "id", a.id, "err", err)
		// pba reads only the PBU's options and sequence number when
		// given no binding, so it may run here, off the loop, on the PBU
		// parsed again (the loop's Decoder has moved on to other
		// messages).
		if r, ok := requestFrom(a.pbu); ok {
			if f, err := mh.Marshal(e.pba(r, mh.StatusReasonUnspecified, nil)); err == nil {
				e.send(a.conn, a.from, f)
			}
		}
		return true
	}
	if a.handoff != nil {
		// handoffAck sends the PBA and observes its latency.
		a.handoff.durable()
		return false
	}
	// RFC 6275 11.7.1 (via RFC 5213 5.3.6): an accepted Binding Update
	// without the A flag gets no acknowledgement.
	if !a.silent {
		if s := e.senderOf(a.conn); queued && s != nil {
			s.queue(a.data, a.from)
		} else {
			e.send(a.conn, a.from, a.data)
		}
	}
	e.observeLatency(a.recv)
	return false
}

// senderOf returns the sender of conn, nil if the engine has none.
func (e *Engine) senderOf(conn transport.Conn) *sender {
	for i, c := range e.conns {
		if c == conn {
			return e.out[i]
		}
	}
	return nil
}
