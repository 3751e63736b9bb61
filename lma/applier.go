package lma

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
)

// applier applies data plane changes in order on a goroutine of its own,
// so that kernel round trips never hold up the protocol.
type applier struct {
	dp    dataplane.Dataplane
	log   *slog.Logger
	stats *stats
	ctx   context.Context
	clk   clock.Clock

	// onError is told of a failed change (the engine then schedules a
	// whole-state resynchronisation).
	onError func()

	mu      sync.Mutex
	queue   []dpItem
	busy    bool
	wake    chan struct{}
	idle    chan struct{} // closed when the queue drains; nil when idle
	closed  bool
	stopped chan struct{}
}

func newApplier(ctx context.Context, dp dataplane.Dataplane, clk clock.Clock, log *slog.Logger, st *stats, onError func()) *applier {
	a := &applier{dp: dp, log: log, stats: st, ctx: ctx, clk: clk, onError: onError, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go a.run()
	return a
}

// dpItem is one session's changes, or a whole state to Set.
type dpItem struct {
	ops []dataplane.Op
	set *dataplane.State
	// done, when set, is told how the change went, on the applier's
	// goroutine right after it (before the applier counts as idle, so
	// that Sync sees what it does).
	done func(dpResult)
	// what names a change worth a debug line with its time (a
	// handoff's); "" logs nothing.
	what string
}

// dpResult is how one change went: its error, the operations it held
// and how long the data plane took over them.
type dpResult struct {
	err  error
	ops  int
	took time.Duration
}

func (a *applier) enqueue(ops []dataplane.Op) { a.push(dpItem{ops: ops}) }

// enqueueSet queues a whole-state Set behind the changes already queued.
func (a *applier) enqueueSet(s *dataplane.State) { a.push(dpItem{set: s}) }

func (a *applier) push(it dpItem) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.queue = append(a.queue, it)
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *applier) run() {
	defer close(a.stopped)
	for {
		a.mu.Lock()
		q := a.queue
		a.queue = nil
		a.busy = len(q) > 0
		if !a.busy {
			if a.idle != nil {
				close(a.idle)
				a.idle = nil
			}
			if a.closed {
				a.mu.Unlock()
				return
			}
		}
		a.mu.Unlock()
		if len(q) == 0 {
			<-a.wake
			continue
		}
		for _, it := range q {
			ctx := context.WithoutCancel(a.ctx)
			var err error
			switch r, ok := a.dp.(dataplane.Resyncer); {
			case it.set != nil && ok:
				// A whole state is a resynchronisation: read the
				// kernel again rather than trust the last Set.
				err = r.Resync(ctx, it.set)
			case it.set != nil:
				err = a.dp.Set(ctx, it.set)
			case len(it.ops) == 0:
				// Nothing to change (a handoff whose routes stay).
			default:
				// One Change per session, so that a failing object
				// only loses its own session's changes.
				start := a.clk.Now()
				err = a.dp.Change(ctx, it.ops...)
				took := a.clk.Now().Sub(start)
				if it.done != nil {
					it.done(dpResult{err: err, ops: len(it.ops), took: took})
					it.done = nil
				}
				if it.what != "" && a.log.Enabled(ctx, slog.LevelDebug) {
					a.log.Debug("lma: data plane change applied", "what", it.what, "ops", len(it.ops), "took", took, "err", err)
				}
			}
			if it.done != nil {
				it.done(dpResult{err: err})
			}
			if err != nil {
				a.stats.dpErrors.Add(1)
				a.log.Error("lma: data plane change failed", "err", err, "whole_state", it.set != nil)
				if a.onError != nil {
					a.onError()
				}
			}
		}
	}
}

// wait returns once everything enqueued so far is applied.
func (a *applier) wait(ctx context.Context) error {
	a.mu.Lock()
	if len(a.queue) == 0 && !a.busy {
		a.mu.Unlock()
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	ch := a.idle
	a.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close applies what is queued and stops.
func (a *applier) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	<-a.stopped
}
