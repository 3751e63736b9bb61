package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk record, used by both log segments and snapshots:
//
//	+--------+--------+------+-------------+-----+-------+
//	| crc32c | length | kind | key length  | key | value |
//	|  4 B   |  4 B   | 1 B  | uvarint     |     |       |
//	+--------+--------+------+-------------+-----+-------+
//	         \___________ covered by the crc ____________/
//
// length counts the bytes after it (kind to the end of value); all
// integers are little-endian. A record is valid only if its length is in
// range and its CRC-32C (Castagnoli) matches, so a torn write (a prefix of
// a record, a page of zeros, a stale page) is recognised as the end of the
// log, never taken for data.
const (
	recordHeader = 8
	kindPut      = 'P'
	kindDelete   = 'D'
	kindEnd      = 'E' // snapshot trailer: value is the record count, uint64
	kindSeal     = 'S' // last record of a full segment: value is its sequence number, uint64
	// kindBatch opens every group commit in a log segment: value is the
	// length in bytes of the batch's records that follow it (uint32) and
	// their count (uint32). A crash can tear only the last batch (each is
	// one write and one fdatasync, and the next is written only after
	// that sync returned), so a valid batch header (or seal) after a bad
	// record proves that the bad record was synced and acknowledged:
	// damage, not a torn tail.
	kindBatch = 'B'

	// MaxKeySize and MaxValueSize bound what Put accepts. Bindings are a
	// few hundred bytes; the bounds catch a caller's bug before it turns
	// into a huge log record.
	MaxKeySize   = 1 << 10
	MaxValueSize = 1 << 20
	maxBody      = 1 + binary.MaxVarintLen64 + MaxKeySize + MaxValueSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord marks a record that fails its length or CRC check.
var errBadRecord = errors.New("bad record")

// appendRecord appends one encoded record to buf.
func appendRecord(buf []byte, kind byte, key, value []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	buf = append(buf, value...)
	binary.LittleEndian.PutUint32(buf[start+4:], uint32(len(buf)-start-recordHeader))
	binary.LittleEndian.PutUint32(buf[start:], crc32.Checksum(buf[start+4:], castagnoli))
	return buf
}

// record is one decoded record; key and value alias the buffer it was
// decoded from.
type record struct {
	kind  byte
	key   []byte
	value []byte
	size  int // encoded size
}

// bodyLen validates a record header and returns the length of the body
// that follows it.
func bodyLen(hdr []byte) (int, error) {
	n := binary.LittleEndian.Uint32(hdr[4:8])
	if n < 2 || n > maxBody {
		return 0, fmt.Errorf("%w: length %d", errBadRecord, n)
	}
	return int(n), nil
}

// decodeRecord decodes the record at the start of b, which holds at least
// the whole record (header plus bodyLen bytes).
func decodeRecord(b []byte) (record, error) {
	n, err := bodyLen(b)
	if err != nil {
		return record{}, err
	}
	if len(b) < recordHeader+n {
		return record{}, fmt.Errorf("%w: truncated", errBadRecord)
	}
	body := b[recordHeader : recordHeader+n]
	if crc32.Checksum(b[4:recordHeader+n], castagnoli) != binary.LittleEndian.Uint32(b) {
		return record{}, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	kind := body[0]
	klen, vn := binary.Uvarint(body[1:])
	if vn <= 0 || klen > uint64(len(body)-1-vn) || klen > MaxKeySize {
		return record{}, fmt.Errorf("%w: key length", errBadRecord)
	}
	key := body[1+vn : 1+vn+int(klen)]
	value := body[1+vn+int(klen):]
	switch kind {
	case kindPut:
		if len(key) == 0 {
			return record{}, fmt.Errorf("%w: empty key", errBadRecord)
		}
	case kindDelete:
		if len(key) == 0 || len(value) != 0 {
			return record{}, fmt.Errorf("%w: malformed delete", errBadRecord)
		}
	case kindEnd, kindSeal, kindBatch:
		if len(key) != 0 || len(value) != 8 {
			return record{}, fmt.Errorf("%w: malformed %c record", errBadRecord, kind)
		}
	default:
		return record{}, fmt.Errorf("%w: kind %#x", errBadRecord, kind)
	}
	return record{kind: kind, key: key, value: value, size: recordHeader + n}, nil
}

// batchHeaderSize is the encoded size of a kindBatch record (also of a
// seal and of a snapshot trailer: an empty key and 8 octets of value).
const batchHeaderSize = recordHeader + 1 + 1 + 8

// putBatchHeader fills the batchHeaderSize octets at the start of b with
// the header of the records that follow it in b.
func putBatchHeader(b []byte, count int) {
	var v [8]byte
	binary.LittleEndian.PutUint32(v[:], uint32(len(b)-batchHeaderSize))
	binary.LittleEndian.PutUint32(v[4:], uint32(count))
	appendRecord(b[:0], kindBatch, nil, v[:])
}

// fixedTail is what every record of an empty key and an 8-octet value
// (batch header, seal) holds from offset 4 to 10: its body length and,
// after the kind, a key length of 0. findCommitAfter looks for it.
var fixedTail = [4]byte{batchHeaderSize - recordHeader, 0, 0, 0}

// File headers: 8 bytes of magic, the file's sequence number, and a CRC-32C
// of both, 20 bytes in all.
const (
	fileHeader   = 20
	segmentMagic = "PMIPWAL1"
	snapMagic    = "PMIPSNP1"
)

func appendFileHeader(buf []byte, magic string, seq uint64) []byte {
	start := len(buf)
	buf = append(buf, magic...)
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf[start:], castagnoli))
}

func checkFileHeader(b []byte, magic string, seq uint64) error {
	if len(b) < fileHeader {
		return fmt.Errorf("header truncated (%d bytes)", len(b))
	}
	if string(b[:8]) != magic {
		return fmt.Errorf("bad magic %q, want %q", b[:8], magic)
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:20]) {
		return errors.New("header checksum mismatch")
	}
	if got := binary.LittleEndian.Uint64(b[8:16]); got != seq {
		return fmt.Errorf("header names sequence %d, file name %d", got, seq)
	}
	return nil
}
