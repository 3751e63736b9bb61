package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeRecord: any bytes decode to a record or an error, never a
// panic, and a record that decodes re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, kindPut, []byte("mn-1"), []byte("binding")))
	f.Add(appendRecord(nil, kindDelete, []byte("mn-1"), nil))
	f.Add(appendSeal(nil, 7))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < recordHeader {
			return
		}
		n, err := bodyLen(b)
		if err != nil || len(b) < recordHeader+n {
			return
		}
		rec, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("error %v does not wrap errBadRecord", err)
			}
			return
		}
		if again := appendRecord(nil, rec.kind, rec.key, rec.value); !bytes.Equal(again, b[:rec.size]) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b[:rec.size])
		}
	})
}

// FuzzOpen writes arbitrary bytes after a valid header as the only log
// segment, and again as a snapshot: Open and ForEach either work or
// return an error; they never panic or hang.
func FuzzOpen(f *testing.F) {
	var seg []byte
	seg = appendRecord(seg, kindPut, []byte("a"), []byte("1"))
	seg = appendRecord(seg, kindDelete, []byte("a"), nil)
	seg = appendRecord(seg, kindPut, []byte("b"), []byte("2"))
	f.Add(seg, false)
	f.Add(append(seg, appendSeal(nil, 1)...), false)
	f.Add(append(seg[:len(seg)-2], 0xff, 0xff), false)
	f.Add(append(seg, appendRecord(nil, kindEnd, nil, make([]byte, 8))...), true)
	f.Fuzz(func(t *testing.T, body []byte, asSnapshot bool) {
		dir := t.TempDir()
		var name string
		var file []byte
		if asSnapshot {
			name, file = snapshotName(1), appendFileHeader(nil, snapMagic, 1)
		} else {
			name, file = segmentName(1), appendFileHeader(nil, segmentMagic, 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(file, body...), 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := Open(dir, Options{SegmentBytes: 4096})
		if err != nil {
			return
		}
		defer w.Close()
		seen := map[string]bool{}
		err = w.ForEach(func(k, _ []byte) error {
			if seen[string(k)] {
				t.Fatalf("key %q yielded twice", k)
			}
			seen[string(k)] = true
			return nil
		})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ForEach: %v, want nil or ErrCorrupt", err)
		}
	})
}
