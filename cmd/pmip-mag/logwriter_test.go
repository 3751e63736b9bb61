package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWriter blocks every write until release is closed, like a log
// reader that has stopped draining its pipe.
type slowWriter struct {
	release chan struct{}
	mu      sync.Mutex
	b       strings.Builder
}

func (w *slowWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A log write never waits for the writer: with the writer stuck, Write
// returns at once, lines beyond the queue are dropped and counted, and
// Close writes the queued ones in order followed by the count.
func TestAsyncWriterNeverBlocks(t *testing.T) {
	w := &slowWriter{release: make(chan struct{})}
	a := newAsyncWriter(w)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The writer may take one line and block in it; logQueueLen
		// fill the queue; the rest are dropped.
		for i := 0; i < logQueueLen+6; i++ {
			a.Write([]byte("line\n"))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked on a stuck writer")
	}
	close(w.release)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	n := strings.Count(out, "line\n")
	if n != logQueueLen && n != logQueueLen+1 {
		t.Errorf("%d lines written, want %d or %d", n, logQueueLen, logQueueLen+1)
	}
	if want := fmt.Sprintf("pmip-mag: %d log lines dropped: the log reader is too slow\n", logQueueLen+6-n); strings.Count(out, want) != 1 {
		t.Errorf("output lacks %q", want)
	}
	// After Close, writes go straight through.
	a.Write([]byte("late\n"))
	if !strings.HasSuffix(w.String(), "late\n") {
		t.Error("a write after Close was lost")
	}
}

// Lines keep their order and their bytes (the caller's buffer is reused
// after Write returns).
func TestAsyncWriterOrder(t *testing.T) {
	w := &slowWriter{release: make(chan struct{})}
	close(w.release)
	a := newAsyncWriter(w)
	buf := []byte("a\n")
	for _, c := range "abcdefgh" {
		buf[0] = byte(c)
		a.Write(buf)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.String(); got != "a\nb\nc\nd\ne\nf\ng\nh\n" {
		t.Errorf("got %q", got)
	}
}
