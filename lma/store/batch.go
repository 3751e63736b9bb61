package store

import (
	"fmt"
	"time"
)

// Batch collects Puts and Deletes to hand to a Submitter in one call. Its
// records are encoded as they are added, into a buffer the Batch reuses
// after Reset: adding allocates nothing once the buffer has grown.
type Batch struct {
	buf        []byte
	puts, dels int
	err        error
}

// Put adds a write of value under key; the Batch copies both.
func (b *Batch) Put(key, value []byte) {
	if b.err != nil {
		return
	}
	if err := checkKey(key); err != nil {
		b.err = err
		return
	}
	if len(value) > MaxValueSize {
		b.err = fmt.Errorf("%w: value of %d bytes, at most %d", ErrInvalid, len(value), MaxValueSize)
		return
	}
	b.buf = appendRecord(b.buf, kindPut, key, value)
	b.puts++
}

// Delete adds a removal of key.
func (b *Batch) Delete(key []byte) {
	if b.err != nil {
		return
	}
	if err := checkKey(key); err != nil {
		b.err = err
		return
	}
	b.buf = appendRecord(b.buf, kindDelete, key, nil)
	b.dels++
}

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return b.puts + b.dels }

// Reset empties the batch, keeping its buffer.
func (b *Batch) Reset() {
	b.buf, b.puts, b.dels, b.err = b.buf[:0], 0, 0, nil
}

// Submitter is a Store that takes writes without a goroutine waiting on
// each: the LMA's engine hands it every write of a loop turn at once and
// sends the turn's acknowledgements when they are durable.
type Submitter interface {
	Store
	// Submit makes b's writes durable (as far as the store's
	// Options.Durability says), in order, after every write submitted
	// or Put before it, and calls done once with nil when they are, or
	// with the error that stopped them. It copies b (which may be
	// reused at once) and returns without waiting for the disk; it may
	// wait for room when the writes pending are many. done runs on the
	// store's own goroutine, after the writes of earlier calls' done:
	// it must be quick and must not call the store. Submit returns an
	// error, without calling done, for a batch holding an invalid key or
	// value or after Close.
	Submit(b *Batch, done func(error)) error
}

var _ Submitter = (*WAL)(nil)

// Submit implements Submitter: the batch's records join the pending group
// commit.
func (w *WAL) Submit(b *Batch, done func(error)) error {
	if b.err != nil {
		return b.err
	}
	w.mu.Lock()
	for len(w.pending.buf) >= w.opts.MaxBatchBytes && !w.closing && w.failed == nil {
		w.space.Wait()
	}
	switch {
	case w.closing:
		w.mu.Unlock()
		return ErrClosed
	case w.failed != nil:
		err := fmt.Errorf("store: log unusable since an earlier failure, restart to recover: %w", w.failed)
		w.mu.Unlock()
		return err
	}
	p := w.pending
	if n := b.puts + b.dels; n > 0 {
		if len(p.buf) == 0 {
			p.first = time.Now()
			// Room for the batch header, filled in at commit.
			p.buf = append(p.buf, make([]byte, batchHeaderSize)...)
		}
		p.buf = append(p.buf, b.buf...)
		p.n += n
		p.puts += b.puts
		p.dels += b.dels
	}
	if done != nil {
		p.callbacks = append(p.callbacks, done)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Each calls fn for every write of the batch in order (del reports a
// Delete, whose value is nil): what a Submitter other than the WAL needs
// to apply a batch.
func (b *Batch) Each(fn func(del bool, key, value []byte)) {
	for off := 0; off < len(b.buf); {
		rec, err := decodeRecord(b.buf[off:])
		if err != nil {
			// The batch encoded every record itself: unreachable.
			panic("store: batch holds a record it cannot decode: " + err.Error())
		}
		fn(rec.kind == kindDelete, rec.key, rec.value)
		off += rec.size
	}
}
