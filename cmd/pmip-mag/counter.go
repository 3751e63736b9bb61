package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// defaultCounterFile keeps the restart counter on the AP's flash (/etc is
// the overlay), so that it survives a reboot: a counter in /var (tmpfs)
// would start again at the same value after every power cycle, and the
// LMA could not tell (RFC 5847 5.2).
const defaultCounterFile = "/etc/pmip/restart_counter"

// nextRestartCounter reads the counter of the previous start from file,
// increments it and writes it back (RFC 5847 5.2: the restart counter
// changes at every restart; the LMA compares it with the last value it
// saw, so any change, wrap-around included, is a restart). A missing file
// starts at 1. If the file cannot be read or written, the counter is
// derived from the clock (seconds since the epoch, which also changes
// from one start to the next) and the error says why.
func nextRestartCounter(file string, now time.Time) (uint32, error) {
	fallback := uint32(now.Unix())
	var prev uint32
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fallback, fmt.Errorf("restart counter: %w", err)
	default:
		v, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if perr != nil {
			return fallback, fmt.Errorf("restart counter: %s holds %q, not a 32-bit counter", file, strings.TrimSpace(string(b)))
		}
		prev = uint32(v)
	}
	next := prev + 1
	if next == 0 {
		next = 1 // wrapped; 0 is what a counter-less node would send
	}
	if err := writeAtomic(file, []byte(strconv.FormatUint(uint64(next), 10)+"\n")); err != nil {
		return fallback, fmt.Errorf("restart counter: %w", err)
	}
	return next, nil
}

// writeAtomic replaces file with data so that a power cut leaves either
// the old or the new content.
func writeAtomic(file string, data []byte) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".restart_counter-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
