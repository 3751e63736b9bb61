// Package store keeps the LMA's durable state: the binding cache and what
// it holds from the pools, so that a binding acknowledged with status 0
// survives kill -9 (issue 3, "Nothing lost").
//
// The engine sees only the Store interface: bytes in, bytes out, each Put
// and Delete returning once durable. Today's implementation is WAL, an
// embedded write-ahead log with group commit; the interface leaves room for
// one over etcd so that several LMAs can share bindings.
//
// # Why not bbolt alone
//
// Measured on the build machine (virtio disk, fdatasync ~0.15-0.18 ms) with
// 1,000,000 keys of 24 bytes and values of 200 bytes, bbolt 1.5 with
// DB.Batch, MaxBatchDelay 1 ms, NoFreelistSync and the map freelist gave
// 17,100 Puts/s at p99 5.7 ms with 64 writers and 27,100 Puts/s at p99
// 14 ms with 256: every commit copies the B+tree pages it touches (about
// one 4 KiB leaf per random key) and syncs twice (pages, then meta). The
// target is 50,000 Puts/s at p99 5 ms. A log appends only the records and
// syncs once a batch, so the disk's cost is one fdatasync per batch of
// however many Puts arrived during the previous one.
//
// # Layout of the directory
//
//	LOCK                     flock: one process at a time
//	snap-<N>.snap            every live key as of the start of segment N
//	wal-<N>.log, wal-<N+1>.log, ...
//	                         Puts and Deletes since, in order; the last
//	                         one is being appended to
//
// Compaction folds sealed segments into a new snapshot in the background,
// written to a temporary file, synced, renamed, and only then are the old
// snapshot and segments removed. Recovery reads the snapshot, then the
// segments; a torn record at the tail of the last segment (the batch being
// written when the process died, never acknowledged) is cleared; damage
// anywhere else is reported, never papered over. Every group commit opens
// with a batch header record, so that damage followed by a later batch
// (acknowledged after the damaged one was synced) is told apart from a
// torn last batch. Salvage then rebuilds
// what can be read, explicitly and with a report of what was lost.
//
// Segments are preallocated with zeros (segment.go), and every write into
// one ends on a 4 KiB boundary, zeros after the data (wal.go, padding): a
// block written in part and evicted from the page cache would otherwise
// be read back from the disk before the write, with the batch's callers
// waiting.
package store

import (
	"context"
	"errors"
)

// Store is durable key/value state shared by the LMA's engine.
//
// Implementations are safe for concurrent use. Keys are non-empty and at
// most MaxKeySize bytes, values at most MaxValueSize bytes.
type Store interface {
	// Put stores value under key and returns only once that is durable:
	// after a crash, a later ForEach sees it (or a later Put or Delete of
	// the key). Put does not keep key or value. If ctx ends first, Put
	// returns its error, and the write may or may not become durable.
	Put(ctx context.Context, key, value []byte) error
	// Delete removes key, durably, like Put. Deleting an absent key is
	// not an error.
	Delete(ctx context.Context, key []byte) error
	// ForEach calls fn once for every key with its latest value, in no
	// particular order, and stops at fn's first error, returning it. It
	// sees at least every Put and Delete that returned before it was
	// called. key and value are valid only during the call. Use it at
	// start to rebuild the binding cache.
	ForEach(fn func(key, value []byte) error) error
	// Close waits for writes under way, then releases the store.
	Close() error
}

// Errors, matched with errors.Is.
var (
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt means the files on disk are damaged somewhere other than
	// an unacknowledged tail; the store refuses to open rather than lose
	// acknowledged bindings silently. Salvage is the operator's way out.
	ErrCorrupt = errors.New("store: corrupt")
	// ErrInvalid means a key or value the store does not accept.
	ErrInvalid = errors.New("store: invalid key or value")
)
