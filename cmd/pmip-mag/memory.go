package main

import (
	"os"
	"runtime/debug"
)

// Memory defaults for a small AP (64-128 MB of RAM shared with the
// kernel, hostapd and the rest of OpenWrt), measured by
// scripts/bench-mag.sh: see setMemoryDefaults. GOGC and GOMEMLIMIT in the
// environment take precedence.
const (
	// defaultGCPercent: collect when the heap grew by half, not doubled.
	// The MAG's live heap is small (tens of KB per client), so the extra
	// collections cost little CPU and keep the peak resident set down.
	defaultGCPercent = 50
	// defaultMemoryLimit is the soft limit at which the runtime collects
	// harder and returns memory to the kernel.
	defaultMemoryLimit = 6 << 20
)

func setMemoryDefaults() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
