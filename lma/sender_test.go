package lma

import (
	"bytes"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// The sender copies what it is given: the engine marshals PBAs into
// buffers it reuses (a turn's, writer.go) as soon as they are queued, and
// a busy sender may write them later. Each message arrives as it was when
// queued, however the caller's buffer changed afterwards, through queue
// and flush, through send, and across a queue that outgrew its buffer.
func TestSenderCopiesWhatItIsGiven(t *testing.T) {
	nw := transporttest.NewNetwork()
	from, _ := nw.Listen(lmaAddr)
	to, _ := nw.Listen(ap1Addr)
	var failed atomic.Uint64
	s := newSender(from, slog.New(slog.DiscardHandler), &failed)
	defer s.close()

	var want [][]byte
	buf := make([]byte, 0, 64)
	for i := range 300 { // 300 × 40 octets: the queue's buffer grows
		buf = buf[:0]
		for range 40 {
			buf = append(buf, byte(i))
		}
		want = append(want, bytes.Clone(buf))
		if i%100 == 99 {
			s.send(buf, to.LocalAddr())
		} else {
			s.queue(buf, to.LocalAddr())
		}
		clear(buf[:cap(buf)]) // the caller reuses its buffer at once
	}
	s.flush()
	got := make([]byte, 128)
	for i, w := range want {
		n, _, err := to.ReadFrom(got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:n], w) {
			t.Fatalf("message %d: % x, want % x", i, got[:n], w)
		}
	}
	if failed.Load() != 0 {
		t.Fatalf("%d sends failed", failed.Load())
	}
}
