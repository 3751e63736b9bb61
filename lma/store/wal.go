package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// WAL is the embedded Store: a write-ahead log with group commit, folded
// into a snapshot in the background. Open one with Open.
//
// Every Put and Delete is appended to a shared pending batch; one committer
// goroutine writes the batch with a single write and makes it durable with
// a single fdatasync, then releases every caller in it together. Puts that
// arrive meanwhile form the next batch, so the wait of a Put is at most the
// commit under way plus its own, and the number of syncs per second does
// not depend on the number of Puts.
//
// With Options.Durability InKernel the callers are released once the
// batch is written (write(2)), and a syncer goroutine fdatasyncs behind
// the committer: the disk's latency leaves the callers' path, a write
// survives the process's death but not a power cut of the last moments.
//
// If writing or syncing the log fails, the WAL stops accepting writes and
// every later Put returns the error: after a failed fsync the kernel may
// have dropped the dirty pages, so nothing written since can be trusted
// until the process restarts and recovery reads what is really on disk.
type WAL struct {
	dir  string
	dirf *os.File // the directory, for fsync after creating and renaming
	lock *os.File
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	space   *sync.Cond // signalled when a batch is taken by the committer
	pending *batch     // guarded by mu: the batch Puts append to
	spare   []byte     // guarded by mu: a drained buffer to reuse
	closing bool       // guarded by mu
	failed  error      // guarded by mu: sticky write failure

	wake          chan struct{} // tells the committer there is work; never closed
	committerDone chan struct{}

	// Owned by the committer goroutine. With InKernel durability the
	// syncer reads active (and activeSeq) under syncMu, which rotation
	// holds to swap the file and retire the old one (the syncer syncs
	// and closes it), and the size written from written.
	active     *os.File
	activeSeq  uint64
	activeSize int64
	activeCap  int64     // the active file's size: writes are padded up to it, never past (padding)
	iov        [2][]byte // writeAt's pwritev: the data and its padding
	broken     error

	// InKernel durability: the syncer goroutine fdatasyncs behind the
	// committer (syncLoop).
	syncMu   sync.Mutex
	retired  []sealedFile // guarded by syncMu: sealed, for the syncer to sync and close
	written  atomic.Int64
	syncKick chan struct{} // cap 1: written since the last sync; closed to stop
	syncDone chan struct{}
	syncErr  atomic.Pointer[error] // the syncer's sticky failure

	filesMu  sync.Mutex
	snapSeq  uint64    // guarded by filesMu: current snapshot, 0 for none
	snapSize int64     // guarded by filesMu
	segs     []segInfo // guarded by filesMu: segments from snapSeq on, the last one active

	// installMu keeps files alive under readers: ForEach holds it for
	// reading, compaction for writing while it swaps in a snapshot and
	// removes what it replaces.
	installMu sync.RWMutex

	foreachMu sync.Mutex
	recovered *index // guarded by foreachMu: built by Open, used once by ForEach

	compactMu   sync.Mutex // one compaction at a time
	noChild     bool       // guarded by compactMu: no child process could start
	compactKick chan struct{}
	compactDone chan struct{}

	prepNoChild bool          // owned by the preparer: no child process could start
	prepAsked   bool          // owned by the committer: the next segment is asked for
	prepReq     chan uint64   // asks the preparer for a segment; cap 1
	prepDone    chan prepared // the preparer's answer; cap 1
	prepExit    chan struct{}

	stop context.CancelFunc // ends compaction and preparation

	stats statCounters
	// onSync, when set before any write, is told after each fdatasync
	// of the log, before the batch's callers are released, how far the
	// segment is durable and how long the sync took (tests, benchmarks).
	onSync func(seq uint64, end int64, took time.Duration)
	// onBatch, likewise, is told after each commit how long the batch
	// waited for the committer and how long its commit took.
	onBatch func(wait, commit time.Duration)
	// onWrite, likewise, is told of each write to the log: where it
	// starts, the data's length and the length written with padding.
	onWrite func(off int64, data, written int)
}

var _ Store = (*WAL)(nil)

// sealedFile is a sealed segment waiting for the syncer (InKernel).
type sealedFile struct {
	f   *os.File
	seq uint64
	end int64
}

type segInfo struct {
	seq  uint64
	size int64 // bytes durable (for the active segment, as of the last commit)
}

type batch struct {
	buf []byte // a batch header's room, then the records
	n   int    // records in buf
	// Writes that came through Submit, counted when durable, and the
	// callbacks to run then.
	puts, dels int
	callbacks  []func(error)
	done       chan struct{}
	err        error     // set before done is closed
	first      time.Time // when the first record was added
}

// Stats are counters for metrics and pmipctl.
type Stats struct {
	Puts, Deletes     uint64 // acknowledged
	Commits           uint64 // group commits, each one fdatasync
	LogBytes          uint64 // bytes appended to the log
	Compactions       uint64
	CompactionErrors  uint64
	SnapshotBytes     int64
	SegmentsOnDisk    int
	RecoveredTornTail int64 // bytes cut from the last segment at Open
}

type statCounters struct {
	puts, deletes, commits, logBytes, compactions, compactionErrors atomic.Uint64
	compactionsInChild                                              atomic.Uint64
	tornTail                                                        atomic.Int64
}

// Stats returns the WAL's counters.
func (w *WAL) Stats() Stats {
	w.filesMu.Lock()
	snap, nseg := w.snapSize, len(w.segs)
	w.filesMu.Unlock()
	return Stats{
		Puts:              w.stats.puts.Load(),
		Deletes:           w.stats.deletes.Load(),
		Commits:           w.stats.commits.Load(),
		LogBytes:          w.stats.logBytes.Load(),
		Compactions:       w.stats.compactions.Load(),
		CompactionErrors:  w.stats.compactionErrors.Load(),
		SnapshotBytes:     snap,
		SegmentsOnDisk:    nseg,
		RecoveredTornTail: w.stats.tornTail.Load(),
	}
}

// Put implements Store.
func (w *WAL) Put(ctx context.Context, key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes, at most %d", ErrInvalid, len(value), MaxValueSize)
	}
	if err := w.append(ctx, kindPut, key, value); err != nil {
		return err
	}
	w.stats.puts.Add(1)
	return nil
}

// Delete implements Store.
func (w *WAL) Delete(ctx context.Context, key []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := w.append(ctx, kindDelete, key, nil); err != nil {
		return err
	}
	w.stats.deletes.Add(1)
	return nil
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes, at most %d", ErrInvalid, len(key), MaxKeySize)
	}
	return nil
}

// append adds one record to the pending batch and waits until the batch
// is durable.
func (w *WAL) append(ctx context.Context, kind byte, key, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
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
		w.mu.Unlock()
		return fmt.Errorf("store: log unusable since an earlier failure, restart to recover: %w", w.failed)
	}
	b := w.pending
	if len(b.buf) == 0 {
		b.first = time.Now()
		// Room for the batch header, filled in at commit.
		b.buf = append(b.buf, make([]byte, batchHeaderSize)...)
	}
	b.buf = appendRecord(b.buf, kind, key, value)
	b.n++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitLoop is the committer goroutine: it takes the pending batch,
// makes it durable, releases its callers, and again, until Close.
func (w *WAL) commitLoop() {
	defer close(w.committerDone)
	if w.opts.Durability == InKernel {
		w.syncKick = make(chan struct{}, 1)
		w.syncDone = make(chan struct{})
		go w.syncLoop()
		defer func() {
			// The last writes are synced before Close returns.
			close(w.syncKick)
			<-w.syncDone
		}()
	}
	for {
		<-w.wake
		for {
			w.mu.Lock()
			b := w.pending
			if len(b.buf) == 0 && len(b.callbacks) == 0 {
				closing := w.closing
				w.mu.Unlock()
				if closing {
					return
				}
				break
			}
			w.pending = &batch{buf: w.spare, done: make(chan struct{})}
			w.spare = nil
			w.space.Broadcast()
			w.mu.Unlock()

			taken := time.Now()
			if len(b.buf) > 0 {
				putBatchHeader(b.buf, b.n)
				b.err = w.commit(b.buf)
			} else {
				b.err = w.broken // callbacks only: durable as of the last commit
			}
			close(b.done)
			if b.err == nil {
				w.stats.puts.Add(uint64(b.puts))
				w.stats.deletes.Add(uint64(b.dels))
			}
			for _, f := range b.callbacks {
				f(b.err)
			}
			if w.onBatch != nil {
				w.onBatch(taken.Sub(b.first), time.Since(taken))
			}

			w.mu.Lock()
			if b.err != nil && w.failed == nil {
				w.failed = b.err
				w.space.Broadcast()
			}
			w.spare = b.buf[:0]
			w.mu.Unlock()
		}
	}
}

// commit writes buf after the active segment's data and syncs it, moving
// to the next segment first when buf and a seal would not fit. With
// InKernel durability it returns once the kernel has the write and tells
// the syncer.
func (w *WAL) commit(buf []byte) error {
	if w.broken != nil {
		return w.broken
	}
	if p := w.syncErr.Load(); p != nil {
		w.broken = *p
		return w.broken
	}
	if w.activeSize+int64(len(buf))+sealSize > w.opts.SegmentBytes && w.activeSize > fileHeader {
		if err := w.rotate(); err != nil {
			w.broken = err
			w.log.Error("store: cannot move to a new log segment; refusing writes until restart", "err", err)
			return err
		}
	}
	write := w.writeSync
	if w.opts.Durability == InKernel {
		write = w.writeOnly
	}
	if err := write(buf); err != nil {
		w.broken = err
		w.log.Error("store: log write failed; refusing writes until restart", "err", err)
		return err
	}
	w.stats.commits.Add(1)
	w.stats.logBytes.Add(uint64(len(buf)))
	if w.activeSize >= w.opts.SegmentBytes/2 {
		w.askPrepare()
	}
	return nil
}

// askPrepare asks the preparer, once per segment, for the one after the
// active segment: when the active one is half full, or at the latest when
// it is full. Not before: a daemon that has just started (or a small one
// that never fills a segment) does not spend a child process and 64 MiB
// of zeros on a segment it may not need yet, beside its first PBUs.
func (w *WAL) askPrepare() {
	if !w.prepAsked {
		w.prepAsked = true
		w.prepReq <- w.activeSeq + 1
	}
}

// padTo is the boundary padded writes end on: a multiple of the
// filesystem's block size (4 KiB on ext4 and XFS as made by default, or
// less). At most len(zeroBlock), which pads.
const padTo = 4096

// padding returns how many zeros follow n bytes written at the end of
// the active segment's data: up to the next padTo boundary of the file,
// but not past the active file's size (activeCap). A preallocated segment
// holds zeros after the data (segment.go), so the padding writes what is
// there already; the next write starts at the data's end again, over it.
//
// Why: a write that covers a block only in part makes the kernel read
// that block first if it is not in the page cache. The segment's zeros
// were written by the preparer seconds to minutes before the committer
// gets to them, and this host's kernel evicts page cache it sees unused
// for a while (a VM with 16 GB free: millions of refaults, no pgsteal in
// /proc/vmstat, kdamond running; some proactive reclaim, not the LRU):
// traced at 50,000 PBU/s, the committer's pwrite64 waited for such reads
// (ext4_block_write_begin, wait_on_buffer) 196 times in 60 s, 114 ms in
// all, up to 62 ms at once, and every PBA of the batch waited with it.
// A write that ends on a block boundary leaves no block partly written,
// and the next write starts in a block the previous one just wrote. A
// plain (unpreallocated) file is never padded: activeCap is its data's
// end, and blocks past the end of a file are never read.
func (w *WAL) padding(n int) int {
	end := w.activeSize + int64(n)
	limit := min((end+padTo-1)/padTo*padTo, w.activeCap)
	return int(max(limit-end, 0))
}

// writeAt writes buf at the end of the active segment's data, with its
// padding in the same pwritev: two writes would leave the first block
// partly written, and nothing is copied or allocated.
func (w *WAL) writeAt(buf []byte) error {
	pad := w.padding(len(buf))
	off := w.activeSize
	written := 0
	if pad > 0 {
		w.iov[0], w.iov[1] = buf, zeroBlock[:pad]
		n, err := unix.Pwritev(int(w.active.Fd()), w.iov[:], off)
		w.iov[0] = nil
		if err != nil {
			return err
		}
		written = n
	}
	// Without padding, or after a short pwritev: the rest as os.File
	// writes it (retrying short writes).
	if written < len(buf) {
		if _, err := w.active.WriteAt(buf[written:], off+int64(written)); err != nil {
			return err
		}
		written = len(buf)
	}
	if rest := len(buf) + pad - written; rest > 0 {
		if _, err := w.active.WriteAt(zeroBlock[pad-rest:pad], off+int64(written)); err != nil {
			return err
		}
	}
	if w.onWrite != nil {
		w.onWrite(off, len(buf), len(buf)+pad)
	}
	return nil
}

// writeOnly writes buf at the end of the active segment's data and has
// the syncer make it durable (InKernel).
func (w *WAL) writeOnly(buf []byte) error {
	if err := w.writeAt(buf); err != nil {
		return fmt.Errorf("store: write %s: %w", w.active.Name(), err)
	}
	w.activeSize += int64(len(buf))
	w.written.Store(w.activeSize)
	// Readers (ForEach) see the page cache: what is written is there.
	w.filesMu.Lock()
	w.segs[len(w.segs)-1].size = w.activeSize
	w.filesMu.Unlock()
	select {
	case w.syncKick <- struct{}{}:
	default:
	}
	return nil
}

// syncLoop is the syncer of InKernel durability: whenever the committer
// has written, it fdatasyncs the active segment, at most every
// minSyncInterval, so the disk trails the acknowledgements by about that
// and one fdatasync. A failed sync is sticky: the committer refuses every
// later write (as after a failed write, the kernel may have dropped the
// pages).
func (w *WAL) syncLoop() {
	defer close(w.syncDone)
	for {
		_, open := <-w.syncKick
		start := time.Now()
		// Sealed segments first (rotation hands them over unsynced),
		// then the active one. Rotation never closes a file the syncer
		// may be syncing: it retires it here, and the syncer closes it.
		w.syncMu.Lock()
		f, seq, end := w.active, w.activeSeq, w.written.Load()
		retired := w.retired
		w.retired = nil
		w.syncMu.Unlock()
		for _, r := range retired {
			w.syncOne(r.f, r.seq, r.end)
			if err := r.f.Close(); err != nil {
				w.log.Warn("store: closing sealed segment", "file", r.f.Name(), "err", err)
			}
		}
		w.syncOne(f, seq, end)
		if !open {
			return
		}
		// At most one sync every minSyncInterval: what is written
		// meanwhile goes in the next. Back to back, at 50,000 PBU/s, the
		// syncs were a wake-up of this goroutine and a journal commit
		// for every few commits, CPU the LMA's two cores lacked; the
		// disk trails the acknowledgements by this much more.
		if d := minSyncInterval - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
}

// minSyncInterval is the least time between the starts of two of the
// syncer's fdatasyncs (InKernel).
const minSyncInterval = 10 * time.Millisecond

// syncOne fdatasyncs f, segment seq written up to end (InKernel). A
// failed sync is sticky: the committer refuses every later write.
func (w *WAL) syncOne(f *os.File, seq uint64, end int64) {
	t0 := time.Now()
	err := fdatasync(f)
	took := time.Since(t0)
	if err != nil {
		err = fmt.Errorf("store: fdatasync %s: %w", f.Name(), err)
		if w.syncErr.CompareAndSwap(nil, &err) {
			w.log.Error("store: log sync failed; refusing writes until restart", "err", err)
			w.mu.Lock()
			if w.failed == nil {
				w.failed = err
				w.space.Broadcast()
			}
			w.mu.Unlock()
		}
		return
	}
	if w.onSync != nil {
		w.onSync(seq, end, took)
	}
}

// writeSync writes buf at the end of the active segment's data and
// fdatasyncs it.
func (w *WAL) writeSync(buf []byte) error {
	if err := w.writeAt(buf); err != nil {
		return fmt.Errorf("store: write %s: %w", w.active.Name(), err)
	}
	t0 := time.Now()
	if err := fdatasync(w.active); err != nil {
		return fmt.Errorf("store: fdatasync %s: %w", w.active.Name(), err)
	}
	took := time.Since(t0)
	w.activeSize += int64(len(buf))
	w.written.Store(w.activeSize)
	w.filesMu.Lock()
	w.segs[len(w.segs)-1].size = w.activeSize
	w.filesMu.Unlock()
	if w.onSync != nil {
		w.onSync(w.activeSeq, w.activeSize, took)
	}
	return nil
}

// rotate seals the active segment and moves to the next, which the
// preparer has made ready.
//
// With InKernel durability the seal is only written, and the sealed
// segment goes to the syncer, which syncs and closes it: no fdatasync
// waits on the write path at a rotation either. kill -9 loses nothing of
// it; after a power cut the last segments may need Salvage.
func (w *WAL) rotate() error {
	inKernel := w.opts.Durability == InKernel
	seal := appendSeal(nil, w.activeSeq)
	if inKernel {
		if err := w.writeOnly(seal); err != nil {
			return err
		}
	} else if err := w.writeSync(seal); err != nil {
		return err
	}
	next := w.activeSeq + 1
	w.askPrepare()
	f, err := w.nextSegment(next)
	if err != nil {
		return err
	}
	fileCap, err := fileSize(f)
	if err != nil {
		f.Close()
		return err
	}
	w.syncMu.Lock()
	old := sealedFile{f: w.active, seq: w.activeSeq, end: w.activeSize}
	w.active, w.activeSeq, w.activeSize, w.activeCap = f, next, fileHeader, fileCap
	w.written.Store(fileHeader)
	if inKernel {
		w.retired = append(w.retired, old)
	}
	w.syncMu.Unlock()
	w.filesMu.Lock()
	w.segs = append(w.segs, segInfo{seq: next, size: fileHeader})
	w.filesMu.Unlock()
	w.prepAsked = false
	if inKernel {
		select {
		case w.syncKick <- struct{}{}:
		default:
		}
	} else if err := old.f.Close(); err != nil {
		w.log.Warn("store: closing sealed segment", "file", old.f.Name(), "err", err)
	}
	select {
	case w.compactKick <- struct{}{}:
	default:
	}
	return nil
}

// Close implements Store: it commits the pending batch, stops compaction
// and releases the directory.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closing = true
	w.space.Broadcast()
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.committerDone
	w.stop()
	<-w.compactDone
	<-w.prepExit
	select {
	case p := <-w.prepDone:
		if p.f != nil {
			p.f.Close() // stays on disk, empty; recovery removes it
		}
	default:
	}

	var errs []error
	if err := w.active.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := w.dirf.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := w.lock.Close(); err != nil { // releases the flock
		errs = append(errs, err)
	}
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	if failed != nil {
		errs = append(errs, failed)
	}
	if len(errs) > 0 {
		return fmt.Errorf("store: close %s: %w", w.dir, errors.Join(errs...))
	}
	return nil
}

// fileSize is f's size: how far padded writes may go in it.
func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return fi.Size(), nil
}
