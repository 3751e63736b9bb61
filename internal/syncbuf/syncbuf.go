// Package syncbuf has a text buffer safe for concurrent use: the sink of a
// logger or of a process's output that a test (or the scenarios' harness)
// reads while other goroutines write to it.
package syncbuf

import (
	"strings"
	"sync"
)

// Buffer is a strings.Builder guarded by a mutex. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len is how many bytes were written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
