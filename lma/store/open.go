package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Open opens the store in dir, creating it if needed, and recovers its
// state: the newest snapshot, then every log segment after it, cutting off
// a torn record at the very end of the last segment (a batch that was being
// written when the process died, whose Puts had not returned). Damage
// anywhere else fails with ErrCorrupt. Only one process may have a
// directory open; another gets an error naming it.
func Open(dir string, opts Options) (*WAL, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: %s is in use by another process: %w", dir, err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	w := &WAL{
		dir:           dir,
		dirf:          dirf,
		lock:          lock,
		log:           opts.Logger,
		opts:          opts,
		pending:       &batch{done: make(chan struct{})},
		wake:          make(chan struct{}, 1),
		committerDone: make(chan struct{}),
		compactKick:   make(chan struct{}, 1),
		compactDone:   make(chan struct{}),
	}
	w.space = sync.NewCond(&w.mu)
	if err := w.recover(); err != nil {
		dirf.Close()
		lock.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.compactStop = cancel
	go w.commitLoop()
	go w.compactLoop(ctx)
	// Segments sealed before a crash may already be worth compacting.
	w.compactKick <- struct{}{}
	return w, nil
}

// recover finds the files, checks them, repairs a torn tail and opens the
// last segment for appending.
func (w *WAL) recover() error {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var snaps, segs []uint64
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			// A compaction that did not finish.
			if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		default:
			if seq, ok := parseName(name, "snap-", ".snap"); ok {
				snaps = append(snaps, seq)
			} else if seq, ok := parseName(name, "wal-", ".log"); ok {
				segs = append(segs, seq)
			}
		}
	}
	slices.Sort(snaps)
	slices.Sort(segs)

	// The newest snapshot wins. It was synced before being renamed into
	// place, so it must be whole; older snapshots and the segments it
	// covers are leftovers of a compaction interrupted after the rename.
	first := uint64(1)
	if len(snaps) > 0 {
		first = snaps[len(snaps)-1]
		path := filepath.Join(w.dir, snapshotName(first))
		_, size, err := checkSnapshot(path, first)
		if err != nil {
			return err
		}
		w.snapSeq, w.snapSize = first, size
		for _, s := range snaps[:len(snaps)-1] {
			if err := os.Remove(filepath.Join(w.dir, snapshotName(s))); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
	}
	for len(segs) > 0 && segs[0] < first {
		if err := os.Remove(filepath.Join(w.dir, segmentName(segs[0]))); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		segs = segs[1:]
	}
	for i, s := range segs {
		if s != first+uint64(i) {
			return fmt.Errorf("%w: log segment %s missing (found %s)", ErrCorrupt, segmentName(first+uint64(i)), segmentName(s))
		}
	}

	idx := newIndex()
	for i, seq := range segs {
		last := i == len(segs)-1
		size, err := w.recoverSegment(seq, last, idx)
		if err != nil {
			return err
		}
		if size < 0 { // the last segment's header was torn: start it again
			break
		}
		w.segs = append(w.segs, segInfo{seq: seq, size: size})
	}
	if len(w.segs) == 0 || len(w.segs) < len(segs) {
		seq := first
		if len(w.segs) > 0 {
			seq = w.segs[len(w.segs)-1].seq + 1
		}
		f, err := createSegment(w.dir, w.dirf, seq)
		if err != nil {
			return err
		}
		w.segs = append(w.segs, segInfo{seq: seq, size: fileHeader})
		w.active = f
	} else {
		lastSeg := w.segs[len(w.segs)-1]
		f, err := os.OpenFile(filepath.Join(w.dir, segmentName(lastSeg.seq)), os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if _, err := f.Seek(lastSeg.size, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("store: %w", err)
		}
		w.active = f
	}
	last := w.segs[len(w.segs)-1]
	w.activeSeq, w.activeSize = last.seq, last.size
	idx.end = segInfo{seq: last.seq, size: last.size}
	idx.snapSeq = w.snapSeq
	w.recovered = idx
	w.log.Info("store: recovered", "dir", w.dir, "snapshot", w.snapSeq, "snapshot_bytes", w.snapSize,
		"segments", len(w.segs), "log_keys", len(idx.m), "torn_tail_bytes", w.stats.tornTail.Load())
	return nil
}

// recoverSegment scans one segment into idx and returns its valid size. In
// the last segment a torn record ends the log: the file is cut there and
// synced. It returns -1 when the last segment's header itself is torn
// (the process died while creating it): the file is removed.
func (w *WAL) recoverSegment(seq uint64, last bool, idx *index) (int64, error) {
	path := filepath.Join(w.dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	hdr := make([]byte, fileHeader)
	n, _ := f.ReadAt(hdr, 0)
	if err := checkFileHeader(hdr[:n], segmentMagic, seq); err != nil {
		if !last {
			return 0, fmt.Errorf("%w: segment %s: %v", ErrCorrupt, path, err)
		}
		w.log.Warn("store: last log segment has a torn header, removing it", "file", path, "bytes", st.Size(), "err", err)
		w.stats.tornTail.Add(st.Size())
		if err := os.Remove(path); err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		if err := w.dirf.Sync(); err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		return -1, nil
	}
	sc, err := newScanner(f, fileHeader, st.Size())
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	for sc.next() {
		idx.add(sc.rec, seq, sc.pos-int64(sc.rec.size))
	}
	switch {
	case sc.err == nil:
	case !errors.Is(sc.err, errTorn):
		return 0, fmt.Errorf("store: read %s: %w", path, sc.err)
	case !last:
		// Segments are sealed only after their last batch was synced, so
		// a bad record here is damage to acknowledged data.
		return 0, fmt.Errorf("%w: segment %s: %v", ErrCorrupt, path, sc.err)
	default:
		cut := st.Size() - sc.pos
		w.log.Warn("store: cutting torn tail of the log (a batch not acknowledged before the crash)",
			"file", path, "offset", sc.pos, "bytes", cut, "reason", sc.err)
		w.stats.tornTail.Add(cut)
		if err := f.Truncate(sc.pos); err != nil {
			return 0, fmt.Errorf("store: truncate %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("store: sync %s: %w", path, err)
		}
	}
	return sc.pos, nil
}

// createSegment creates segment seq with its header, durably: the file's
// contents and its directory entry are synced before it is used.
func createSegment(dir string, dirf *os.File, seq uint64) (*os.File, error) {
	path := filepath.Join(dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if _, err := f.Write(appendFileHeader(nil, segmentMagic, seq)); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: sync %s: %w", path, err)
	}
	if err := dirf.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return f, nil
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
