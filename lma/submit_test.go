package lma

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/store"
)

// subStore is a store.Submitter over a memStore, like the WAL: Submit
// copies the batch and returns; a committer goroutine applies batches in
// order and calls their done. hold makes commits wait.
type subStore struct {
	*memStore
	q    chan func()
	mu   sync.Mutex
	gate chan struct{} // guarded by mu: non-nil holds commits
}

func newSubStore(m *memStore) *subStore {
	s := &subStore{memStore: m, q: make(chan func(), 1024)}
	go func() {
		for f := range s.q {
			s.mu.Lock()
			g := s.gate
			s.mu.Unlock()
			if g != nil {
				<-g
			}
			f()
		}
	}()
	return s
}

var _ store.Submitter = (*subStore)(nil)

func (s *subStore) Submit(b *store.Batch, done func(error)) error {
	type write struct {
		del  bool
		k, v []byte
	}
	var ws []write
	b.Each(func(del bool, k, v []byte) { ws = append(ws, write{del, bytes.Clone(k), bytes.Clone(v)}) })
	s.q <- func() {
		s.memStore.mu.Lock()
		err := s.memStore.fail
		if err == nil {
			for _, w := range ws {
				if w.del {
					delete(s.memStore.m, string(w.k))
				} else {
					s.memStore.m[string(w.k)] = w.v
				}
			}
		}
		s.memStore.mu.Unlock()
		if done != nil {
			done(err)
		}
	}
	return nil
}

func (s *subStore) hold() (release func()) {
	g := make(chan struct{})
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.gate = nil
		s.mu.Unlock()
		close(g)
	}
}

// The engine over a store.Submitter (the WAL's way: one Submit per loop
// turn, PBAs sent by its callback) behaves as over a plain Store:
// registration, refresh, deregistration are stored and acknowledged.
func TestSubmitterSessions(t *testing.T) {
	h := newHarnessWith(t, testCfg(t, true, ""), true)
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)
	h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(p[0].String())))
	if got := h.st.bindings(t); len(got) != 1 || !bytes.Contains([]byte(got[0]), []byte("alice@example.net ap1 ["+p[0].String()+"]")) {
		t.Fatalf("stored %q", got)
	}
	h.send(h.ap1, h.newPBU("alice@example.net", lifetime(0), hnp(p[0].String())))
	if s := h.pba(h.ap1).Status; s != mh.StatusAccepted {
		t.Fatalf("deregistration: %v", s)
	}
	h.advance(h.cfg.MinDelayBeforeBCEDelete + time.Second)
	if got := h.st.bindings(t); len(got) != 0 {
		t.Fatalf("stored after the session ended: %q", got)
	}
}

// Close over a Submitter also waits for the writes in flight and sends
// their PBAs before the sockets close.
func TestSubmitterCloseSendsPBAs(t *testing.T) {
	h := newHarnessWith(t, testCfg(t, true, ""), true)
	// The engine's store is the harness's subStore: reach it to hold.
	sub := h.e.st.(*subStore)
	release := sub.hold()
	for _, n := range []string{"a@example.net", "b@example.net", "c@example.net"} {
		h.send(h.ap1, h.newPBU(n))
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.e.handled.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("PBUs not handled")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with writes held", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	var got []mh.Status
	buf := make([]byte, 4096)
	for h.ap1.Pending() > 0 {
		n, _, _ := h.ap1.ReadFrom(buf)
		m, err := mh.Parse(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.(*mh.ProxyBindingAck).Status)
	}
	if !slices.Equal(got, []mh.Status{0, 0, 0}) {
		t.Fatalf("PBAs after Close: %v, want three accepting", got)
	}
}
