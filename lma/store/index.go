package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// index maps each key written in a run of log segments to the position of
// its latest record. Only keys are held, never values: those are read back
// from the segments.
//
// Keys up to shortKeyLen octets (the LMA's binding keys are at most 18)
// live in a map whose keys and values hold no pointers: the collector
// neither scans it nor has a million small strings to mark, and building
// it allocates no string per record. A compaction indexes a million
// records while the daemon answers 50,000 PBUs a second on the same
// cores; with map[string]uint64 the index was most of the LMA's garbage
// during a compaction. Longer keys go to a plain map.
type index struct {
	short   map[shortKey]uint64
	long    map[string]uint64
	snapSeq uint64  // the snapshot the segments follow
	end     segInfo // indexed up to this segment and size
	// throttle, when set, is called for every record extend indexes
	// (compaction paces itself with it; recovery runs flat out).
	throttle func()
}

// shortKeyLen bounds the keys of the pointer-free map.
const shortKeyLen = 30

// shortKey is a key of at most shortKeyLen octets and its length.
type shortKey struct {
	n uint8
	b [shortKeyLen]byte
}

// A position is seq<<32 | offset, with tombBit set for a delete.
// Segments are at most 1 GiB, so offsets fit in 30 bits.
const tombBit = 1 << 31

func newIndex() *index {
	return &index{short: make(map[shortKey]uint64), long: make(map[string]uint64)}
}

func pos(seq uint64, off int64) uint64 { return seq<<32 | uint64(off) }

func (x *index) set(key []byte, p uint64) {
	if len(key) <= shortKeyLen {
		k := shortKey{n: uint8(len(key))}
		copy(k.b[:], key)
		x.short[k] = p
		return
	}
	x.long[string(key)] = p
}

// get returns the position of key's latest record.
func (x *index) get(key []byte) (uint64, bool) {
	if len(key) <= shortKeyLen {
		k := shortKey{n: uint8(len(key))}
		copy(k.b[:], key)
		p, ok := x.short[k]
		return p, ok
	}
	p, ok := x.long[string(key)] // no allocation: the compiler converts in place
	return p, ok
}

// len is the number of keys indexed.
func (x *index) len() int { return len(x.short) + len(x.long) }

func (x *index) add(rec record, seq uint64, off int64) {
	switch rec.kind {
	case kindPut:
		x.set(rec.key, pos(seq, off))
	case kindDelete:
		x.set(rec.key, pos(seq, off)|tombBit)
	}
}

// scanSegment calls fn for each record of segment seq in [start, limit).
// Everything below limit was synced, so a bad record is ErrCorrupt.
func scanSegment(dir string, seq uint64, start, limit int64, fn func(sc *scanner, off int64) error) error {
	if start >= limit {
		return nil
	}
	path := filepath.Join(dir, segmentName(seq))
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	sc, err := newScanner(f, start, limit)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for sc.next() {
		if err := fn(sc, sc.pos-int64(sc.rec.size)); err != nil {
			return err
		}
	}
	if errors.Is(sc.err, errTorn) {
		return fmt.Errorf("%w: segment %s: %v", ErrCorrupt, path, sc.err)
	}
	if sc.err != nil {
		return fmt.Errorf("store: read %s: %w", path, sc.err)
	}
	return nil
}

// extend indexes segs from where x ends.
func (x *index) extend(dir string, segs []segInfo) error {
	for _, s := range segs {
		if s.seq < x.end.seq {
			continue
		}
		start := int64(fileHeader)
		if s.seq == x.end.seq {
			start = x.end.size
		}
		err := scanSegment(dir, s.seq, start, s.size, func(sc *scanner, off int64) error {
			x.add(sc.rec, s.seq, off)
			if x.throttle != nil {
				x.throttle()
			}
			return nil
		})
		if err != nil {
			return err
		}
		x.end = s
	}
	return nil
}

// scanSnapshot calls fn for each put record of snapshot seq and checks the
// count against the trailer.
func scanSnapshot(dir string, seq uint64, fn func(sc *scanner) error) error {
	path := filepath.Join(dir, snapshotName(seq))
	want, size, err := checkSnapshot(path, seq)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	sc, err := newScanner(f, fileHeader, size-snapshotTrailer)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var n uint64
	for sc.next() {
		if sc.rec.kind != kindPut {
			return fmt.Errorf("%w: snapshot %s: record of kind %q at offset %d", ErrCorrupt, path, sc.rec.kind, sc.pos-int64(sc.rec.size))
		}
		n++
		if err := fn(sc); err != nil {
			return err
		}
	}
	if errors.Is(sc.err, errTorn) {
		return fmt.Errorf("%w: snapshot %s: %v", ErrCorrupt, path, sc.err)
	}
	if sc.err != nil {
		return fmt.Errorf("store: read %s: %w", path, sc.err)
	}
	if n != want {
		return fmt.Errorf("%w: snapshot %s holds %d records, its trailer says %d", ErrCorrupt, path, n, want)
	}
	return nil
}

// ForEach implements Store. It reads the snapshot, skipping keys written
// since, then the log, keeping only each key's latest record.
func (w *WAL) ForEach(fn func(key, value []byte) error) error {
	w.foreachMu.Lock()
	defer w.foreachMu.Unlock()
	w.mu.Lock()
	closing := w.closing
	w.mu.Unlock()
	if closing {
		return ErrClosed
	}
	// Compaction cannot remove files while this is held.
	w.installMu.RLock()
	defer w.installMu.RUnlock()
	w.filesMu.Lock()
	snapSeq := w.snapSeq
	segs := slices.Clone(w.segs)
	w.filesMu.Unlock()

	x := w.recovered
	if x != nil {
		w.recovered = nil // used once: its memory is not kept
		// Segments sealed before a restart may be worth compacting;
		// not before the rebuild, which should have the disk to itself.
		defer func() {
			select {
			case w.compactKick <- struct{}{}:
			default:
			}
		}()
	}
	if x == nil || x.snapSeq != snapSeq {
		x = newIndex()
		x.snapSeq = snapSeq
		x.end = segInfo{seq: segs[0].seq, size: fileHeader}
	}
	if err := x.extend(w.dir, segs); err != nil {
		return err
	}
	if snapSeq != 0 {
		err := scanSnapshot(w.dir, snapSeq, func(sc *scanner) error {
			if _, newer := x.get(sc.rec.key); newer {
				return nil
			}
			return fn(sc.rec.key, sc.rec.value)
		})
		if err != nil {
			return err
		}
	}
	for _, s := range segs {
		err := scanSegment(w.dir, s.seq, fileHeader, s.size, func(sc *scanner, off int64) error {
			if p, _ := x.get(sc.rec.key); sc.rec.kind != kindPut || p != pos(s.seq, off) {
				return nil
			}
			return fn(sc.rec.key, sc.rec.value)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
