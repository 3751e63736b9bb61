package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// compactLoop runs compactions in the background when the committer seals
// a segment, until ctx ends.
//
// The work itself runs in a child process at nice 19 (child.go). In the
// daemon (Options.CompactInProcess) it runs at the daemon's priority:
// lowering a thread's nice value (tried, with the goroutine locked to
// the thread) made Put latency worse, 54-95 ms p99 against 10-26 ms,
// because a descheduled thread keeps its Go P and leaves the committer
// and Puts one P fewer.
func (w *WAL) compactLoop(ctx context.Context) {
	defer close(w.compactDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.compactKick:
		}
		if err := w.maybeCompact(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			// Puts are unaffected: the log keeps growing and the next
			// sealed segment tries again.
			w.stats.compactionErrors.Add(1)
			w.log.Error("store: compaction failed", "dir", w.dir, "err", err)
		}
	}
}

// maybeCompact folds the sealed segments into a new snapshot when they
// hold enough to be worth rewriting the snapshot for.
func (w *WAL) maybeCompact(ctx context.Context) error {
	w.compactMu.Lock()
	defer w.compactMu.Unlock()
	w.filesMu.Lock()
	oldSeq, oldSize := w.snapSeq, w.snapSize
	sealed := slices.Clone(w.segs[:len(w.segs)-1])
	w.filesMu.Unlock()
	var sealedBytes int64
	for _, s := range sealed {
		sealedBytes += s.size
	}
	if len(sealed) == 0 || sealedBytes < w.opts.CompactMinBytes || float64(sealedBytes) < w.opts.CompactRatio*float64(oldSize) {
		return nil
	}
	start := time.Now()
	newSeq := sealed[len(sealed)-1].seq + 1
	job := foldJob{Dir: w.dir, OldSeq: oldSeq, Sealed: sealed, NewSeq: newSeq, Pace: w.opts.CompactBytesPerSec}
	where := "child process"
	var count uint64
	var size int64
	var usage childUsage
	var err error
	if !w.opts.CompactInProcess && !w.noChild {
		count, size, usage, err = w.foldInChild(ctx, job)
		if errors.Is(err, errNoChild) {
			// No process can be started here (a sandbox, /proc not
			// mounted): compact in the daemon from now on.
			w.log.Warn("store: compacting in process from now on", "err", err)
			w.noChild = true
		}
	}
	if w.opts.CompactInProcess || w.noChild {
		where = "in process"
		count, size, err = job.fold(ctx, w.dirf, newDutyCycle(compactDuty).tick)
	}
	if err != nil {
		return err
	}

	// The new snapshot is durable under its name: from here recovery uses
	// it whatever happens. Swap it in and remove what it replaces, with no
	// ForEach reading those files.
	w.installMu.Lock()
	w.filesMu.Lock()
	w.snapSeq, w.snapSize = newSeq, size
	w.segs = w.segs[len(sealed):]
	w.filesMu.Unlock()
	w.installMu.Unlock()
	// No reader can reach the replaced files any more (ForEach takes
	// installMu and then sees only the new set), so they go outside the
	// lock, and gradually: removing a few hundred MB of cached file at
	// once is ~0.1 s of kernel time freeing its pages, a stall the
	// daemon's other threads feel at 50,000 PBU/s. A crash midway leaves
	// shortened files that recovery removes unread (older than the newest
	// snapshot, open.go).
	var rmErr error
	if oldSeq != 0 {
		rmErr = removeGradually(ctx, filepath.Join(w.dir, snapshotName(oldSeq)))
	}
	for _, s := range sealed {
		if err := removeGradually(ctx, filepath.Join(w.dir, segmentName(s.seq))); err != nil && rmErr == nil {
			rmErr = err
		}
	}
	if rmErr != nil {
		// Harmless for correctness: recovery removes files older than
		// the newest snapshot.
		w.log.Warn("store: removing compacted files", "err", rmErr)
	}
	w.stats.compactions.Add(1)
	if where == "child process" {
		w.stats.compactionsInChild.Add(1)
	}
	attrs := []any{"snapshot", snapshotName(newSeq), "keys", count, "bytes", size,
		"log_bytes_folded", sealedBytes, "segments", len(sealed), "in", where, "took", time.Since(start).Round(time.Millisecond)}
	if where == "child process" {
		attrs = append(attrs, "child_cpu", usage.cpu.Round(time.Millisecond), "child_peak_rss_mib", usage.peakRSS>>20,
			"child_minor_faults", usage.minorFaults, "child_major_faults", usage.majorFaults)
	}
	w.log.Info("store: compacted", attrs...)
	return nil
}

// foldJob is one compaction's work: fold the sealed segments into the
// snapshot OldSeq (0: none), writing snapshot NewSeq. It is what a
// compaction child process is given (as JSON), so its fields are
// exported for encoding/json only.
type foldJob struct {
	Dir    string
	OldSeq uint64
	Sealed []segInfo
	NewSeq uint64
	Pace   int64 // snapshot bytes a second, <= 0 unpaced
}

// fold writes the new snapshot, durable under its name when it returns
// nil, and returns its record count and size. tick, when set, is called
// for every record read (the in-process compaction's duty cycle).
func (j foldJob) fold(ctx context.Context, dirf *os.File, tick func()) (uint64, int64, error) {
	if len(j.Sealed) == 0 {
		return 0, 0, errors.New("store: compaction with no sealed segment")
	}
	x := newIndex()
	x.throttle = tick
	x.end = segInfo{seq: j.Sealed[0].seq, size: fileHeader}
	if err := x.extend(j.Dir, j.Sealed); err != nil {
		return 0, 0, err
	}
	sw, err := newSnapshotWriter(j.Dir, j.NewSeq, j.Pace)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	checkCtx := func() error {
		n++
		if tick != nil {
			if n%256 == 0 {
				// Yield often, so that the committer, woken when a
				// sync completes, need not wait out this CPU-bound
				// loop's time slice (up to 10 ms) for a P.
				runtime.Gosched()
			}
			tick()
		}
		if n%4096 == 0 {
			return ctx.Err()
		}
		return nil
	}
	if j.OldSeq != 0 {
		err := scanSnapshot(j.Dir, j.OldSeq, func(sc *scanner) error {
			if err := checkCtx(); err != nil {
				return err
			}
			if _, newer := x.get(sc.rec.key); newer {
				return nil
			}
			return sw.putRaw(sc.raw())
		})
		if err != nil {
			sw.abort()
			return 0, 0, err
		}
	}
	for _, s := range j.Sealed {
		err := scanSegment(j.Dir, s.seq, fileHeader, s.size, func(sc *scanner, off int64) error {
			if err := checkCtx(); err != nil {
				return err
			}
			if p, _ := x.get(sc.rec.key); sc.rec.kind != kindPut || p != pos(s.seq, off) {
				return nil
			}
			return sw.putRaw(sc.raw())
		})
		if err != nil {
			sw.abort()
			return 0, 0, err
		}
	}
	count := sw.count
	size, err := sw.finish(dirf)
	return count, size, err
}

// compactDuty is the share of one CPU a compaction may take while it
// reads and indexes records. Unbounded, it held one of the two Ps of the
// build host for ~3 s every 15-20 s at 50,000 PBU/s, and the PBUs
// arriving meanwhile queued behind it: most of the p99 left at that
// rate. At a half it takes about twice as long, still far less than the
// time the log takes to grow enough for the next one.
const compactDuty = 0.5

// dutyCycle keeps a loop to a share of the CPU: every so many calls of
// tick it sleeps in proportion to the time it ran since the last sleep.
type dutyCycle struct {
	share float64
	calls int
	since time.Time
}

func newDutyCycle(share float64) *dutyCycle { return &dutyCycle{share: share, since: time.Now()} }

func (d *dutyCycle) tick() {
	d.calls++
	if d.calls%1024 != 0 {
		return
	}
	ran := time.Since(d.since)
	if ran < time.Millisecond {
		return // too little to be worth a sleep; keep counting
	}
	time.Sleep(time.Duration(float64(ran) * (1 - d.share) / d.share))
	d.since = time.Now()
}

// Gradual removal: the file is cut from its end removeStep bytes at a
// time, removePause apart, then unlinked.
const (
	removeStep  = 16 << 20
	removePause = 5 * time.Millisecond
)

// removeGradually removes path, first shortening it step by step so the
// kernel frees its cached pages in small pieces. If ctx ends, the rest
// goes at once.
func removeGradually(ctx context.Context, path string) error {
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		if fi, err := f.Stat(); err == nil {
			for size := fi.Size(); size > removeStep && ctx.Err() == nil; {
				size -= removeStep
				if f.Truncate(size) != nil {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(removePause):
				}
			}
		}
		f.Close()
	}
	return os.Remove(path)
}
