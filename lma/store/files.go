package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func segmentName(seq uint64) string  { return fmt.Sprintf("wal-%016x.log", seq) }
func snapshotName(seq uint64) string { return fmt.Sprintf("snap-%016x.snap", seq) }

// parseName returns the sequence number in a segment or snapshot file
// name.
func parseName(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	hex := name[len(prefix) : len(name)-len(suffix)]
	if len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil
}

// errTorn is the scanner's verdict on a record that is incomplete or fails
// its checks: the end of valid data.
var errTorn = errors.New("torn or damaged record")

// scanner reads records sequentially from a file, from start up to limit.
type scanner struct {
	r     *bufio.Reader
	pos   int64 // offset of the next record
	limit int64
	buf   []byte
	rec   record
	err   error
}

func newScanner(f *os.File, start, limit int64) (*scanner, error) {
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	return &scanner{r: bufio.NewReaderSize(f, 1<<20), pos: start, limit: limit, buf: make([]byte, 4096)}, nil
}

// raw returns the encoded bytes of the current record.
func (s *scanner) raw() []byte { return s.buf[:s.rec.size] }

// next decodes the next record into s.rec. It returns false at limit (err
// nil), at a bad record (err wraps errTorn) or on a read error.
func (s *scanner) next() bool {
	if s.err != nil || s.pos >= s.limit {
		return false
	}
	if s.limit-s.pos < recordHeader {
		s.err = fmt.Errorf("%w at offset %d: %d bytes left, a header needs %d", errTorn, s.pos, s.limit-s.pos, recordHeader)
		return false
	}
	hdr := s.buf[:recordHeader]
	if _, err := io.ReadFull(s.r, hdr); err != nil {
		s.err = s.readErr(err)
		return false
	}
	n, err := bodyLen(hdr)
	if err != nil {
		s.err = fmt.Errorf("%w at offset %d: %v", errTorn, s.pos, err)
		return false
	}
	if int64(recordHeader+n) > s.limit-s.pos {
		s.err = fmt.Errorf("%w at offset %d: record of %d bytes runs past the end", errTorn, s.pos, recordHeader+n)
		return false
	}
	if cap(s.buf) < recordHeader+n {
		nb := make([]byte, recordHeader+n)
		copy(nb, hdr)
		s.buf = nb
	}
	s.buf = s.buf[:recordHeader+n]
	if _, err := io.ReadFull(s.r, s.buf[recordHeader:]); err != nil {
		s.err = s.readErr(err)
		return false
	}
	rec, err := decodeRecord(s.buf)
	if err != nil {
		s.err = fmt.Errorf("%w at offset %d: %v", errTorn, s.pos, err)
		return false
	}
	s.rec = rec
	s.pos += int64(rec.size)
	return true
}

func (s *scanner) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w at offset %d: file ends inside a record", errTorn, s.pos)
	}
	return err
}

// snapshotTrailer is the size of the kindEnd record closing a snapshot.
const snapshotTrailer = recordHeader + 1 + 1 + 8

// snapshotWriter writes a snapshot to a temporary file and installs it
// under its final name once complete and synced.
type snapshotWriter struct {
	dir     string
	seq     uint64
	f       *os.File
	w       *bufio.Writer
	count   uint64
	written int64
	synced  int64 // bytes handed to writeback so far
	buf     []byte

	pace  int64 // bytes a second, 0 for unpaced
	start time.Time
}

func newSnapshotWriter(dir string, seq uint64, pace int64) (*snapshotWriter, error) {
	f, err := os.OpenFile(filepath.Join(dir, snapshotName(seq)+".tmp"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	sw := &snapshotWriter{dir: dir, seq: seq, f: f, w: bufio.NewWriterSize(f, 1<<20), pace: max(pace, 0), start: time.Now()}
	if err := sw.write(appendFileHeader(nil, snapMagic, seq)); err != nil {
		sw.abort()
		return nil, err
	}
	return sw, nil
}

func (sw *snapshotWriter) write(b []byte) error {
	if _, err := sw.w.Write(b); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	sw.written += int64(len(b))
	// Every MiB: start its writeback rather than leave hundreds of dirty
	// megabytes for the final fdatasync to push out at once ahead of
	// the log's syncs, and keep to the pace.
	const chunk = 1 << 20
	if sw.written-sw.synced < chunk {
		return nil
	}
	if err := sw.w.Flush(); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	_ = unix.SyncFileRange(int(sw.f.Fd()), sw.synced, sw.written-sw.synced, unix.SYNC_FILE_RANGE_WRITE)
	sw.synced = sw.written
	if sw.pace > 0 {
		due := sw.start.Add(time.Duration(float64(sw.written) / float64(sw.pace) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
	return nil
}

// put adds a live key.
func (sw *snapshotWriter) put(key, value []byte) error {
	sw.buf = appendRecord(sw.buf[:0], kindPut, key, value)
	sw.count++
	return sw.write(sw.buf)
}

// putRaw adds an already encoded put record.
func (sw *snapshotWriter) putRaw(rec []byte) error {
	sw.count++
	return sw.write(rec)
}

// finish writes the trailer, syncs, renames the file into place and syncs
// the directory. It returns the snapshot's size.
func (sw *snapshotWriter) finish(dirf *os.File) (int64, error) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], sw.count)
	if err := sw.write(appendRecord(sw.buf[:0], kindEnd, nil, n[:])); err != nil {
		sw.abort()
		return 0, err
	}
	if err := sw.w.Flush(); err != nil {
		sw.abort()
		return 0, fmt.Errorf("store: snapshot: %w", err)
	}
	if err := unix.Fdatasync(int(sw.f.Fd())); err != nil {
		sw.abort()
		return 0, fmt.Errorf("store: snapshot sync: %w", err)
	}
	tmp := sw.f.Name()
	if err := sw.f.Close(); err != nil {
		_ = os.Remove(tmp)
		return 0, fmt.Errorf("store: snapshot: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(sw.dir, snapshotName(sw.seq))); err != nil {
		_ = os.Remove(tmp)
		return 0, fmt.Errorf("store: snapshot: %w", err)
	}
	if err := dirf.Sync(); err != nil {
		return 0, fmt.Errorf("store: sync %s: %w", sw.dir, err)
	}
	return sw.written, nil
}

func (sw *snapshotWriter) abort() {
	_ = sw.f.Close()
	_ = os.Remove(sw.f.Name())
}

// checkSnapshot verifies a snapshot's header and trailer (the whole file
// was synced before it was renamed into place, so both must be there) and
// returns its record count and size.
func checkSnapshot(path string, seq uint64) (count uint64, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()
	if size < fileHeader+snapshotTrailer {
		return 0, 0, fmt.Errorf("%w: snapshot %s is %d bytes, too short", ErrCorrupt, path, size)
	}
	hdr := make([]byte, fileHeader)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return 0, 0, err
	}
	if err := checkFileHeader(hdr, snapMagic, seq); err != nil {
		return 0, 0, fmt.Errorf("%w: snapshot %s: %v", ErrCorrupt, path, err)
	}
	tr := make([]byte, snapshotTrailer)
	if _, err := f.ReadAt(tr, size-snapshotTrailer); err != nil {
		return 0, 0, err
	}
	rec, err := decodeRecord(tr)
	if err != nil || rec.kind != kindEnd {
		return 0, 0, fmt.Errorf("%w: snapshot %s has no valid trailer", ErrCorrupt, path)
	}
	return binary.LittleEndian.Uint64(rec.value), size, nil
}
