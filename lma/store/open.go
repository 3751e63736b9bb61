package store

import (
	"bytes"
	"context"
	"encoding/binary"
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
		prepReq:       make(chan uint64, 1),
		prepDone:      make(chan prepared, 1),
		prepExit:      make(chan struct{}),
	}
	w.space = sync.NewCond(&w.mu)
	if err := w.recover(); err != nil {
		dirf.Close()
		lock.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go w.commitLoop()
	go w.compactLoop(ctx)
	go w.prepareLoop(ctx)
	return w, nil
}

// recover finds the files, checks them, repairs a torn tail and opens the
// active segment.
func (w *WAL) recover() error {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var snaps, segs []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			// A compaction that did not finish.
			if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		} else if seq, ok := parseName(name, "snap-", ".snap"); ok {
			snaps = append(snaps, seq)
		} else if seq, ok := parseName(name, "wal-", ".log"); ok {
			segs = append(segs, seq)
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
		_, size, err := checkSnapshot(filepath.Join(w.dir, snapshotName(first)), first)
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

	// Sealed segments, then at most one that is not (the active one when
	// the process stopped), then only empty ones (prepared, never used).
	idx := newIndex()
	var activeEnd int64
	activeSeq := uint64(0)
	for i, seq := range segs {
		res, err := w.scanForRecovery(seq, idx)
		if err != nil {
			return err
		}
		if res.sealed {
			w.segs = append(w.segs, segInfo{seq: seq, size: res.end})
			continue
		}
		for _, later := range segs[i+1:] {
			lr, err := w.scanForRecovery(later, newIndex())
			if err != nil {
				return err
			}
			if lr.records > 0 {
				return fmt.Errorf("%w: segment %s is not sealed (%v) but %s after it holds data", ErrCorrupt, segmentName(seq), res.tornErr, segmentName(later))
			}
			if err := w.removeSegment(later); err != nil {
				return err
			}
		}
		if !res.headerOK {
			// Died while creating it: nothing in it was acknowledged.
			w.log.Warn("store: removing log segment with a torn header", "file", segmentName(seq), "err", res.tornErr)
			if err := w.removeSegment(seq); err != nil {
				return err
			}
			break
		}
		var cleared int64
		if !res.zeroTail { // the scan read the tail already: no second pass over zeros
			cleared, err = w.clearTail(seq, res.end)
			if err != nil {
				return err
			}
		}
		if cleared > 0 {
			w.log.Warn("store: log ended in a torn record (a batch not acknowledged before the crash); cleared it",
				"file", segmentName(seq), "offset", res.end, "reason", res.tornErr)
		}
		activeSeq, activeEnd = seq, res.end
		w.segs = append(w.segs, segInfo{seq: seq, size: res.end})
		break
	}
	if activeSeq == 0 {
		seq := first
		if len(w.segs) > 0 {
			seq = w.segs[len(w.segs)-1].seq + 1
		}
		f, err := createSegment(context.Background(), w.dir, w.dirf, seq, w.opts.SegmentBytes)
		if err != nil {
			return err
		}
		w.active, activeSeq, activeEnd = f, seq, fileHeader
		w.segs = append(w.segs, segInfo{seq: seq, size: fileHeader})
	} else {
		f, err := os.OpenFile(filepath.Join(w.dir, segmentName(activeSeq)), os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		w.active = f
	}
	w.activeSeq, w.activeSize = activeSeq, activeEnd
	if w.activeCap, err = fileSize(w.active); err != nil {
		return err
	}
	idx.end = segInfo{seq: activeSeq, size: activeEnd}
	idx.snapSeq = w.snapSeq
	w.recovered = idx
	w.log.Info("store: recovered", "dir", w.dir, "snapshot", w.snapSeq, "snapshot_bytes", w.snapSize,
		"segments", len(w.segs), "log_keys", idx.len(), "torn_tail_bytes", w.stats.tornTail.Load())
	return nil
}

type scanResult struct {
	headerOK bool
	sealed   bool
	records  int
	end      int64 // offset after the last valid record
	tornErr  error // why the scan stopped, if not at a seal
	zeroTail bool  // everything after end is zeros (nothing to clear)
}

// scanForRecovery reads segment seq into idx up to its seal or its first
// bad record.
func (w *WAL) scanForRecovery(seq uint64, idx *index) (scanResult, error) {
	path := filepath.Join(w.dir, segmentName(seq))
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("store: %w", err)
	}
	hdr := make([]byte, fileHeader)
	n, _ := f.ReadAt(hdr, 0)
	if err := checkFileHeader(hdr[:n], segmentMagic, seq); err != nil {
		return scanResult{tornErr: err}, nil
	}
	sc, err := newScanner(f, fileHeader, st.Size())
	if err != nil {
		return scanResult{}, fmt.Errorf("store: %w", err)
	}
	res := scanResult{headerOK: true}
	for sc.next() {
		if sc.rec.kind == kindSeal {
			if binary.LittleEndian.Uint64(sc.rec.value) != seq {
				return res, fmt.Errorf("%w: segment %s sealed as %d", ErrCorrupt, path, binary.LittleEndian.Uint64(sc.rec.value))
			}
			res.sealed, res.end = true, sc.pos
			return res, nil
		}
		if sc.rec.kind == kindBatch {
			continue
		}
		if sc.rec.kind != kindPut && sc.rec.kind != kindDelete {
			return res, fmt.Errorf("%w: segment %s: record of kind %q at offset %d", ErrCorrupt, path, sc.rec.kind, sc.pos-int64(sc.rec.size))
		}
		idx.add(sc.rec, seq, sc.pos-int64(sc.rec.size))
		res.records++
	}
	res.end = sc.pos
	if sc.err != nil && !errors.Is(sc.err, errTorn) {
		return res, fmt.Errorf("store: read %s: %w", path, sc.err)
	}
	res.tornErr = sc.err
	if sc.err != nil {
		// A crash tears only the last batch: a batch or a seal committed
		// after the bad record means the bad record was synced, and
		// everything after it acknowledged. Clearing it as a torn tail
		// would silently lose acknowledged bindings.
		at, found, zero, err := findCommitAfter(f, res.end, st.Size())
		res.zeroTail = zero
		if err != nil {
			return res, fmt.Errorf("store: read %s: %w", path, err)
		}
		if found {
			return res, fmt.Errorf("%w: segment %s: damaged record at offset %d (%v) but a later commit at offset %d: "+
				"acknowledged data follows the damage (Salvage keeps what still reads)", ErrCorrupt, path, res.end, sc.err, at)
		}
	}
	return res, nil
}

// findCommitAfter looks in f from offset from to size for a valid batch
// header or seal record, at any offset (the damage may have shifted
// nothing, but a bad length field hides where the next record starts).
// Segments are zero-filled before use and a recovered tail is zeroed, so
// such a record was written after the bad one. zero reports that
// everything from from to size is zeros (the unused part of a
// preallocated segment: most of it, after a crash), which is skipped
// without a search.
func findCommitAfter(f *os.File, from, size int64) (at int64, found, zero bool, err error) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+batchHeaderSize)
	zero = true
	for off := from; off < size; off += chunk {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, false, false, err
		}
		b := buf[:n]
		if allZero(b) {
			continue // the pattern's first octet is not zero: no record here
		}
		zero = false
		for i := 0; ; {
			j := bytes.Index(b[i:], fixedTail[:])
			if j < 0 {
				break
			}
			at := i + j - 4 // the pattern starts at the length field
			i += j + 1
			if at < 0 || at+batchHeaderSize > len(b) {
				continue
			}
			if k := b[at+recordHeader]; k != kindBatch && k != kindSeal {
				continue
			}
			if _, err := decodeRecord(b[at : at+batchHeaderSize]); err == nil {
				return off + int64(at), true, false, nil
			}
		}
	}
	return 0, false, zero, nil
}

// clearTail zeroes whatever follows the valid records of the active
// segment (a torn batch), so that the next records are written over zeros
// and nothing stale can ever be read after them. It returns how many bytes
// it had to clear, counted in the 1 MiB blocks that held anything.
func (w *WAL) clearTail(seq uint64, end int64) (int64, error) {
	path := filepath.Join(w.dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	zeros := make([]byte, len(buf))
	var cleared int64
	for off := end; ; {
		n, err := f.ReadAt(buf, off)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := f.WriteAt(zeros[:n], off); err != nil {
				return 0, fmt.Errorf("store: clear torn tail of %s: %w", path, err)
			}
			cleared += int64(n)
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
	}
	if cleared > 0 {
		w.stats.tornTail.Add(cleared)
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("store: sync %s: %w", path, err)
		}
	}
	return cleared, nil
}

// zeroBlock is what allZero compares with: bytes.Equal is vectorised where a
// loop over the octets is not. Recovery reads the whole preallocated tail
// of the last segments; in the QEMU guests of test tier 3 (TCG) checking
// 64 MiB took 460 ms octet by octet, 110 ms this way.
var zeroBlock [4096]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func (w *WAL) removeSegment(seq uint64) error {
	if err := os.Remove(filepath.Join(w.dir, segmentName(seq))); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := w.dirf.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", w.dir, err)
	}
	return nil
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
