package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SalvageReport says what Salvage kept and what it could not read.
type SalvageReport struct {
	Keys         int      // keys in the new snapshot
	Records      int      // valid records read
	SkippedBytes int64    // bytes of damage skipped over
	Damaged      []string // files in which damage was found
	MovedTo      string   // where the old files went
}

// Salvage rebuilds the store in dir from every record that still passes
// its checks, for when Open fails with ErrCorrupt and the appliance must
// start anyway. It is lossy by nature: a write in a damaged record is
// gone, and an older value of its key may come back. It reads the newest
// snapshot and the log segments after it, skipping over damage to the next
// record whose CRC holds, writes what it found as a new snapshot, and
// moves every old file into a damaged-<time> directory beside them for
// inspection. The store must not be open.
//
// It holds every live key and value in memory while it works. log may be
// nil.
func Salvage(dir string, log *slog.Logger) (SalvageReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rep SalvageReport
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return rep, fmt.Errorf("store: %s is in use by another process: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	var snaps, segs []uint64
	var old []string
	for _, e := range ents {
		if seq, ok := parseName(e.Name(), "snap-", ".snap"); ok {
			snaps = append(snaps, seq)
		} else if seq, ok := parseName(e.Name(), "wal-", ".log"); ok {
			segs = append(segs, seq)
		} else if !strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		old = append(old, e.Name())
	}
	slices.Sort(snaps)
	slices.Sort(segs)

	live := map[string][]byte{}
	apply := func(rec record) {
		switch rec.kind {
		case kindPut:
			live[string(rec.key)] = slices.Clone(rec.value)
		case kindDelete:
			delete(live, string(rec.key))
		}
	}
	first, next := uint64(1), uint64(1)
	// The newest snapshot whose header holds; its records, as far as
	// they can be read.
	for i := len(snaps) - 1; i >= 0; i-- {
		seq := snaps[i]
		headerOK, err := salvageFile(filepath.Join(dir, snapshotName(seq)), snapMagic, seq, &rep, apply)
		if err != nil {
			return rep, err
		}
		if !headerOK {
			log.Warn("store: salvage: snapshot unreadable, trying an older one", "file", snapshotName(seq))
			live = map[string][]byte{}
			continue
		}
		first, next = seq, seq+1
		break
	}
	for _, seq := range segs {
		next = max(next, seq+1)
		if seq < first {
			continue
		}
		if _, err := salvageFile(filepath.Join(dir, segmentName(seq)), segmentMagic, seq, &rep, apply); err != nil {
			return rep, err
		}
	}
	for _, s := range snaps {
		next = max(next, s+1)
	}

	// Old files aside first, then the new snapshot: a crash in between
	// leaves an empty store and the old files, and Salvage can run again.
	rep.MovedTo = filepath.Join(dir, "damaged-"+time.Now().UTC().Format("20060102T150405"))
	if err := os.Mkdir(rep.MovedTo, 0o700); err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	for _, name := range old {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(rep.MovedTo, name)); err != nil {
			return rep, fmt.Errorf("store: %w", err)
		}
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	defer dirf.Close()
	sw, err := newSnapshotWriter(dir, next, 0)
	if err != nil {
		return rep, err
	}
	for k, v := range live {
		if err := sw.put([]byte(k), v); err != nil {
			sw.abort()
			return rep, err
		}
	}
	if _, err := sw.finish(dirf); err != nil {
		return rep, err
	}
	rep.Keys = len(live)
	log.Warn("store: salvaged", "dir", dir, "keys", rep.Keys, "records", rep.Records,
		"skipped_bytes", rep.SkippedBytes, "damaged", rep.Damaged, "old_files", rep.MovedTo)
	return rep, nil
}

// salvageFile applies every valid record of one file, resynchronising
// after damage at the next offset where a record passes its CRC. It
// reports false, reading nothing, if the file's header is bad.
func salvageFile(path, magic string, seq uint64, rep *SalvageReport, apply func(record)) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	if checkFileHeader(b, magic, seq) != nil {
		rep.Damaged = append(rep.Damaged, filepath.Base(path))
		return false, nil
	}
	damaged := false
	for off := fileHeader; off+recordHeader <= len(b); {
		rec, err := decodeAt(b, off)
		if err == nil {
			if rec.kind == kindSeal || rec.kind == kindEnd {
				break
			}
			if rec.kind != kindBatch {
				apply(rec)
				rep.Records++
			}
			off += rec.size
			continue
		}
		// Zeros to the end: the unused part of a segment, not damage.
		if allZero(b[off:]) {
			break
		}
		start := off
		for off++; off+recordHeader <= len(b); off++ {
			if _, err := decodeAt(b, off); err == nil {
				break
			}
		}
		rep.SkippedBytes += int64(off - start)
		damaged = true
	}
	if damaged {
		rep.Damaged = append(rep.Damaged, filepath.Base(path))
	}
	return true, nil
}

func decodeAt(b []byte, off int) (record, error) {
	n, err := bodyLen(b[off:])
	if err != nil {
		return record{}, err
	}
	if off+recordHeader+n > len(b) {
		return record{}, errBadRecord
	}
	return decodeRecord(b[off : off+recordHeader+n])
}
