package main

import (
	"os"
	"runtime"
	"runtime/debug"
)

// Runtime defaults for a small AP (64-128 MB of RAM shared with the
// kernel, hostapd and the rest of OpenWrt), measured by
// scripts/bench-mag.sh (docs/mag.md, section Budgets): see
// setMemoryDefaults. GOGC, GOMEMLIMIT and GOMAXPROCS in the environment
// take precedence. Once started, the daemon also unmaps the pages of its
// binary that only start-up used (releaseStartupPages, memory_linux.go:
// VmHWM with 64 clients 7,900-7,992 kB against 8,220-8,320 kB). Measured
// with the release and left (2026-11-23, interleaved runs at load 9-12,
// against 7,904 and 7,992 kB): debug.FreeOSMemory() beside it 7,860 and
// 7,948 kB, GOGC=25 8,428 and 8,132. GODEBUG=memprofilerate changes
// nothing in this daemon: runtime/pprof is not linked, so the linker sets
// runtime.disableMemoryProfiling and the runtime turns memory profiling
// off whatever GODEBUG says; runs with it (7,864-8,256 kB) only show the
// spread of one setting on this shared host.
const (
	// defaultGCPercent: collect when the heap grew by half, not doubled.
	// The MAG's live heap is small (about 0.2-0.45 MB with 64 clients:
	// bindings, leases, timers), so the extra collections cost little CPU;
	// GOGC=25 measured no lower.
	defaultGCPercent = 50
	// defaultMemoryLimit is the soft limit at which the runtime collects
	// harder and returns free pages to the kernel. It is what keeps the
	// heap's resident pages near the live heap: without it, VmHWM with 64
	// clients is 9.3-9.8 MB instead of 8.0-8.3 (amd64), because the
	// runtime's minimum heap goal (4 MB x GOGC/100) is far above the live
	// heap. Lower limits (3-4 MiB) saved another 0.3-0.5 MB but kept the
	// collector running all the time: PBA -> served p50 3-9 ms instead of
	// 0.3-0.5 ms.
	defaultMemoryLimit = 6 << 20
	// defaultMaxProcs: one P. The MAG's work is a few microseconds per
	// event and its sockets block in the kernel, not in Go; each further P
	// costs an mcache of partly used spans, a GC mark worker and the threads
	// to run them (an MT7621 AP has 4 hardware threads, so 4 Ps by
	// default). Measured with 64 clients (amd64, 2 CPUs, interleaved runs
	// of TestBudgets): idle VmHWM 7.1-7.2 MB against 7.4-7.8 MB with 2 Ps,
	// 64 clients 8.0-8.2 against 8.1-8.3, latency medians unchanged.
	defaultMaxProcs = 1
)

func setMemoryDefaults() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(defaultMaxProcs)
	}
}
