// Package storetest provides an in-memory store.Store for engine tests
// and a conformance suite that every Store implementation must pass.
package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/openpmip/pmip/lma/store"
)

// Mem is an in-memory store.Store. A write is "durable" when it is applied
// to the map; Hold delays that, so a test can check the engine answers
// nothing before its write is durable, and Fail makes writes fail, so a
// test can check the engine then answers with an error status.
type Mem struct {
	mu     sync.Mutex
	data   map[string][]byte // guarded by mu
	held   chan struct{}     // guarded by mu: closed on release; nil when not held
	err    error             // guarded by mu: returned by writes when set
	closed bool              // guarded by mu
	puts   int               // guarded by mu
	dels   int               // guarded by mu
}

var _ store.Store = (*Mem)(nil)

// New returns an empty Mem.
func New() *Mem { return &Mem{data: map[string][]byte{}} }

// Put implements store.Store.
func (m *Mem) Put(ctx context.Context, key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > store.MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes", store.ErrInvalid, len(value))
	}
	return m.write(ctx, func() {
		m.data[string(key)] = slices.Clone(value)
		m.puts++
	})
}

// Delete implements store.Store.
func (m *Mem) Delete(ctx context.Context, key []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return m.write(ctx, func() {
		delete(m.data, string(key))
		m.dels++
	})
}

func checkKey(key []byte) error {
	if len(key) == 0 || len(key) > store.MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes", store.ErrInvalid, len(key))
	}
	return nil
}

func (m *Mem) write(ctx context.Context, apply func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	for m.held != nil {
		held := m.held
		m.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	if m.closed {
		return store.ErrClosed
	}
	if m.err != nil {
		return m.err
	}
	apply()
	return nil
}

// Hold makes writes wait, not yet durable, until release is called.
func (m *Mem) Hold() (release func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan struct{})
	m.held = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			if m.held == ch {
				m.held = nil
			}
			m.mu.Unlock()
			close(ch)
		})
	}
}

// Fail makes every later write return err (nil restores success), as a
// store does after a failed fsync.
func (m *Mem) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// ForEach implements store.Store, in key order so tests are repeatable.
func (m *Mem) ForEach(fn func(key, value []byte) error) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return store.ErrClosed
	}
	snap := maps.Clone(m.data)
	m.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(snap)) {
		if err := fn([]byte(k), snap[k]); err != nil {
			return err
		}
	}
	return nil
}

// Close implements store.Store.
func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.ErrClosed
	}
	m.closed = true
	return nil
}

// Reopen returns a new Mem holding what m holds, as the store a restarted
// LMA finds after m's process was killed: writes still held are lost. m
// is closed.
func (m *Mem) Reopen() *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	n := New()
	for k, v := range m.data {
		n.data[k] = slices.Clone(v)
	}
	return n
}

// Get returns the value under key, for assertions.
func (m *Mem) Get(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	return slices.Clone(v), ok
}

// Len returns the number of keys.
func (m *Mem) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}

// Counts returns the writes applied so far.
func (m *Mem) Counts() (puts, deletes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts, m.dels
}
