package store

import (
	"fmt"
	"log/slog"
)

// Options tunes a WAL. The zero value is the default for an LMA appliance.
type Options struct {
	// Logger receives recovery and compaction reports; nil discards.
	Logger *slog.Logger
	// SegmentBytes is the size at which the log moves to a new segment
	// file. Default 64 MiB, at most 1 GiB.
	SegmentBytes int64
	// CompactRatio starts a compaction when the sealed segments hold at
	// least this many times the snapshot's bytes (and at least
	// CompactMinBytes). 1 (the default) bounds the disk used at about
	// twice the live data plus a segment, and the bytes written per byte
	// of Put at about three.
	CompactRatio float64
	// CompactMinBytes is the least log worth compacting. Default 64 MiB.
	CompactMinBytes int64
	// CompactBytesPerSec paces the snapshot a compaction writes, so it
	// does not take the disk from the log's syncs. It must exceed the
	// rate at which Puts write the log (about 12.5 MB/s at 50,000 Puts/s
	// of 250 bytes) for compaction to keep up. Default 64 MB/s; negative
	// means unpaced.
	CompactBytesPerSec int64
	// MaxBatchBytes bounds one group commit: a Put arriving while the
	// pending batch is this large waits for the commit under way first.
	// Default 4 MiB.
	MaxBatchBytes int
}

const (
	defaultSegmentBytes    = 64 << 20
	maxSegmentBytes        = 1 << 30
	defaultCompactMinBytes = 64 << 20
	defaultMaxBatchBytes   = 4 << 20

	defaultCompactBytesPerSec = 64 << 20
)

func (o Options) withDefaults() (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.SegmentBytes < 4096 || o.SegmentBytes > maxSegmentBytes {
		return o, fmt.Errorf("store: SegmentBytes %d must be between 4 KiB and 1 GiB", o.SegmentBytes)
	}
	if o.CompactRatio == 0 {
		o.CompactRatio = 1
	}
	if o.CompactRatio < 0 {
		return o, fmt.Errorf("store: CompactRatio %v must be positive", o.CompactRatio)
	}
	if o.CompactMinBytes == 0 {
		o.CompactMinBytes = defaultCompactMinBytes
	}
	if o.CompactMinBytes < 0 {
		return o, fmt.Errorf("store: CompactMinBytes %d must be positive", o.CompactMinBytes)
	}
	if o.CompactBytesPerSec == 0 {
		o.CompactBytesPerSec = defaultCompactBytesPerSec
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = defaultMaxBatchBytes
	}
	if o.MaxBatchBytes < 0 {
		return o, fmt.Errorf("store: MaxBatchBytes %d must be positive", o.MaxBatchBytes)
	}
	return o, nil
}
