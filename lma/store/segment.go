package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Segments are preallocated: created at full size, zero-filled and synced
// before the first record goes in. Appending to a file changes its size and
// allocates blocks, so every fdatasync would also commit the filesystem's
// journal, and on ext4 (data=ordered) that commit waits for other files'
// dirty data: measured on the build machine while others wrote, fdatasync
// after an append had p99 311 ms, after an overwrite of preallocated blocks
// p99 8 ms (p50 0.24 vs 0.14 ms). Zero-filling (not fallocate, whose
// unwritten extents need a journal commit on first write) costs a second
// write of the log, done ahead of time by a background preparer.
//
// A full segment ends with a seal record, synced before the next segment
// takes writes. So recovery knows where a segment's data really ends (the
// zeros after the seal are not damage), and every segment before the last
// unsealed one must be sealed: one that is not has lost acknowledged data.

// sealSize is the encoded size of a seal record.
const sealSize = recordHeader + 1 + 1 + 8

func appendSeal(buf []byte, seq uint64) []byte {
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], seq)
	return appendRecord(buf, kindSeal, nil, v[:])
}

// createSegment creates segment seq durably: header, then zeros up to
// size, file and directory entry synced. With size 0 it is header only.
func createSegment(ctx context.Context, dir string, dirf *os.File, seq uint64, size int64) (*os.File, error) {
	path := filepath.Join(dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	if _, err := f.Write(appendFileHeader(nil, segmentMagic, seq)); err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	zeros := make([]byte, 1<<20)
	for off := int64(fileHeader); off < size; {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		n := min(int64(len(zeros)), size-off)
		if _, err := f.Write(zeros[:n]); err != nil {
			return fail(fmt.Errorf("store: preallocate %s: %w", path, err))
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("store: sync %s: %w", path, err))
	}
	if err := dirf.Sync(); err != nil {
		return fail(fmt.Errorf("store: sync %s: %w", dir, err))
	}
	return f, nil
}

type prepared struct {
	seq uint64
	f   *os.File
	err error
}

// prepareLoop creates, for each sequence number asked on prepReq, a
// preallocated segment and hands it over on prepDone.
func (w *WAL) prepareLoop(ctx context.Context) {
	defer close(w.prepExit)
	for {
		var seq uint64
		select {
		case <-ctx.Done():
			return
		case seq = <-w.prepReq:
		}
		f, err := w.prepareSegment(ctx, seq)
		if ctx.Err() != nil {
			if f != nil {
				f.Close()
			}
			return
		}
		w.prepDone <- prepared{seq: seq, f: f, err: err}
	}
}

// prepareSegment creates segment seq at full size. The zero-filling is
// done by a child process at the lowest priority (child.go), as the
// compactions are: 64 MiB of zeros written and synced took the daemon
// 0.1-0.4 s of CPU per segment, every ~10 s at 50,000 PBU/s, and its
// threads' time went missing from the PBUs (p99 spikes of 10-20 ms at
// each rotation, docs/lma.md). Where no child can start (or with
// Options.CompactInProcess) the preparer goroutine does it.
func (w *WAL) prepareSegment(ctx context.Context, seq uint64) (*os.File, error) {
	if !w.opts.CompactInProcess && !w.prepNoChild {
		path := filepath.Join(w.dir, segmentName(seq))
		_, err := runChild(ctx, "segment preparation", childJob{Dir: w.dir, Prepare: seq, Size: w.opts.SegmentBytes})
		if err == nil {
			return openPrepared(path, w.opts.SegmentBytes)
		}
		if !errors.Is(err, errNoChild) {
			// A child killed midway (the daemon closing) leaves a
			// partial file; no record is in it yet.
			_ = os.Remove(path)
			return nil, err
		}
		w.log.Warn("store: preparing log segments in process from now on", "err", err)
		w.prepNoChild = true
		// A child that failed to start created nothing.
	}
	return createSegment(ctx, w.dir, w.dirf, seq, w.opts.SegmentBytes)
}

// openPrepared opens for writing a segment a child created and synced,
// checking it has the size asked for.
func openPrepared(path string, size int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != size {
		err = fmt.Errorf("store: prepared segment %s has %d bytes, want %d", path, fi.Size(), size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// nextSegment returns segment seq, prepared in the background, or created
// on the spot (header only) if preparing it failed.
func (w *WAL) nextSegment(seq uint64) (*os.File, error) {
	p := <-w.prepDone
	if p.err == nil && p.seq == seq {
		return p.f, nil
	}
	if p.f != nil {
		p.f.Close()
	}
	w.log.Warn("store: preallocating the next log segment failed; appending to a plain file", "seq", seq, "err", p.err)
	if err := os.Remove(filepath.Join(w.dir, segmentName(seq))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: %w", err)
	}
	return createSegment(context.Background(), w.dir, w.dirf, seq, 0)
}
