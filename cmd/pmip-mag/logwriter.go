package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// The daemon's log lines are written by a goroutine of their own, so no
// log call waits for the write: on the registration path a line written
// by the engine, the DHCP server or the RA sender would otherwise hold
// up the next step for the time of a write(2) (on an AP, to a pipe logd
// may drain late; in the QEMU scenarios, to a file on 9p: 100-140 ms a
// line under load, measured in scenario 2, docs/mag.md "Handover
// timing"). Every record keeps the time it was logged at; lines stay in
// order. When the writer falls behind by logQueueLen lines, further lines
// are dropped and counted, and a line saying how many follows.

// logQueueLen bounds the lines waiting for the writer: a burst of a few
// hundred lines (a flood of attachments at debug level) is kept whole,
// at most some 100 KB.
const logQueueLen = 256

// logFlushTimeout bounds the wait for the queued lines when the daemon
// exits: a wedged log reader must not keep it from exiting.
const logFlushTimeout = 2 * time.Second

// asyncWriter is an io.Writer that queues each Write (a whole log
// record: slog handlers write one record per call) for a goroutine that
// writes it to w.
type asyncWriter struct {
	w       io.Writer
	queue   chan []byte
	dropped atomic.Uint64
	done    chan struct{}

	mu     sync.Mutex // orders Close with Write
	closed bool
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{w: w, queue: make(chan []byte, logQueueLen), done: make(chan struct{})}
	go a.run()
	return a
}

// Write queues a copy of p and never blocks; a full queue drops it.
// After Close it writes p directly.
func (a *asyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return a.w.Write(p)
	}
	select {
	case a.queue <- append([]byte(nil), p...):
	default:
		a.dropped.Add(1)
	}
	return len(p), nil
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for p := range a.queue {
		a.w.Write(p) // nowhere to report a failed log write
		if n := a.dropped.Swap(0); n > 0 {
			fmt.Fprintf(a.w, "pmip-mag: %d log lines dropped: the log reader is too slow\n", n)
		}
	}
}

// Close writes the queued lines, waiting at most logFlushTimeout; later
// writes go straight to w.
func (a *asyncWriter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.queue)
	a.mu.Unlock()
	t := time.NewTimer(logFlushTimeout)
	defer t.Stop()
	select {
	case <-a.done:
		return nil
	case <-t.C:
		return fmt.Errorf("pmip-mag: log lines not written within %v", logFlushTimeout)
	}
}
