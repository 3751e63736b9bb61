package lma

import (
	"context"
	"log/slog"
	"sync"

	"github.com/openpmip/pmip/lma/store"
)

// persister runs store writes off the loop so that the engine is never
// blocked on a group commit: many writes are in flight at once (which is
// what lets the store batch them into one fdatasync), but writes of one
// key are strictly ordered. A write queued behind another of the same key
// is coalesced with the key's later writes: only the newest value is
// written, and every waiting caller is told when it is durable.
//
// Submitting never blocks (the loop must not wait on a worker that waits
// on the loop); the engine sheds PBUs instead when backlog grows past
// maxWriteBacklog.
type persister struct {
	st  store.Store
	ctx context.Context
	log *slog.Logger
	wg  sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond // signalled when ready grows or on close
	ready   []*job     // keys with nothing in flight, waiting for a worker
	chains  map[string][]*job
	pending int
	idle    chan struct{}
	closed  bool
}

// maxWriteBacklog bounds the writes waiting or in flight: past it the
// store cannot keep up, and new PBUs are dropped unanswered (the MAGs
// retransmit) rather than queued without end.
const maxWriteBacklog = 1 << 17

// job is one Put or Delete of a key.
type job struct {
	key  string
	val  []byte
	del  bool
	done func(error) // may be nil; called once durable or failed
}

func newPersister(ctx context.Context, st store.Store, workers int, log *slog.Logger) *persister {
	p := &persister{st: st, ctx: ctx, log: log, chains: map[string][]*job{}}
	p.cond = sync.NewCond(&p.mu)
	for range workers {
		p.wg.Add(1)
		go p.worker()
	}
	return p
}

func (p *persister) put(key, val []byte, done func(error)) {
	p.submit(&job{key: string(key), val: val, done: done})
}

func (p *persister) del(key []byte, done func(error)) {
	p.submit(&job{key: string(key), del: true, done: done})
}

// backlog is the number of writes waiting or in flight.
func (p *persister) backlog() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

func (p *persister) submit(j *job) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		if j.done != nil {
			j.done(store.ErrClosed)
		}
		return
	}
	p.pending++
	if q, busy := p.chains[j.key]; busy {
		// Ordered after the write in flight for this key.
		p.chains[j.key] = append(q, j)
		p.mu.Unlock()
		return
	}
	p.chains[j.key] = nil
	p.ready = append(p.ready, j)
	p.cond.Signal()
	p.mu.Unlock()
}

func (p *persister) worker() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for len(p.ready) == 0 && !p.closed {
			p.cond.Wait()
		}
		if len(p.ready) == 0 {
			p.mu.Unlock()
			return
		}
		j := p.ready[0]
		p.ready[0] = nil
		p.ready = p.ready[1:]
		p.mu.Unlock()

		batch := []*job{j}
		for len(batch) > 0 {
			last := batch[len(batch)-1]
			var err error
			if last.del {
				err = p.st.Delete(context.WithoutCancel(p.ctx), []byte(last.key))
			} else {
				err = p.st.Put(context.WithoutCancel(p.ctx), []byte(last.key), last.val)
			}
			for _, b := range batch {
				if b.done != nil {
					b.done(err)
				}
			}
			p.mu.Lock()
			p.pending -= len(batch)
			batch = p.chains[j.key]
			if len(batch) == 0 {
				delete(p.chains, j.key)
			} else {
				p.chains[j.key] = nil // taken; later ones queue again
			}
			if p.pending == 0 && p.idle != nil {
				close(p.idle)
				p.idle = nil
			}
			p.mu.Unlock()
		}
	}
}

// wait returns when every write submitted so far is done.
func (p *persister) wait(ctx context.Context) error {
	p.mu.Lock()
	if p.pending == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	ch := p.idle
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close finishes the writes submitted and stops the workers.
func (p *persister) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}
