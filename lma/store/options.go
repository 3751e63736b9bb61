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
	// CompactInProcess runs compactions on a goroutine of the daemon,
	// held to half a CPU, and zero-fills new log segments on one, instead
	// of in child processes in the idle scheduling and I/O classes (the
	// default, child.go; also the fallback when no process can be
	// started).
	CompactInProcess bool
	// MaxBatchBytes bounds one group commit: a Put arriving while the
	// pending batch is this large waits for the commit under way first.
	// Default 4 MiB.
	MaxBatchBytes int
	// Durability is what a write has reached when Put returns or
	// Submit's done runs. The default, OnDisk, survives power loss.
	Durability Durability
}

// Durability is how far a write has gone when the WAL reports it done.
type Durability int

const (
	// OnDisk reports a write once fdatasync has put it on the disk: it
	// survives the process being killed, a kernel crash and power loss.
	// Each group commit waits for one fdatasync, so every write's
	// latency includes the disk's (on the shared build host's virtual
	// disk, p99 ~7 ms and max ~50 ms while others write).
	OnDisk Durability = iota
	// InKernel reports a write once write(2) has handed it to the
	// kernel: it survives the process being killed (kill -9, a panic,
	// an OOM kill), since the kernel writes its page cache out whatever
	// becomes of the process, and recovery reads it back. A separate
	// goroutine fdatasyncs the log behind the writes, at most every
	// minSyncInterval (10 ms), so a kernel crash or power loss loses at
	// most the writes of the sync under way and those since; after one, the log may need
	// Salvage (the kernel may have written later pages of the log
	// before earlier ones, or of a later segment before the seal of an
	// earlier one, which Open reports as damage). No fdatasync is on
	// the write path, not even at a segment's rotation: the syncer
	// syncs and closes the sealed segment.
	InKernel
)

func (d Durability) String() string {
	switch d {
	case OnDisk:
		return "disk"
	case InKernel:
		return "kernel"
	}
	return fmt.Sprintf("durability %d", int(d))
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
	if o.Durability != OnDisk && o.Durability != InKernel {
		return o, fmt.Errorf("store: unknown Durability %d", int(o.Durability))
	}
	if o.MaxBatchBytes < 0 {
		return o, fmt.Errorf("store: MaxBatchBytes %d must be positive", o.MaxBatchBytes)
	}
	return o, nil
}
