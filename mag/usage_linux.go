package mag

import (
	"time"

	"golang.org/x/sys/unix"
)

// processUsage is the MAG process's CPU time so far (user and system, all
// threads) and how often the kernel took a CPU from one of its threads
// while it could still run (involuntary context switches): one
// getrusage(2), a few microseconds. The served line reports both over
// the PBA -> served interval (trace.go), so a slow handover shows whether
// the MAG was computing or waiting for a CPU (docs/handover.md 9).
func processUsage() (usage, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return usage{}, false
	}
	return usage{
		cpu:       time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		preempted: int64(ru.Nivcsw),
	}, true
}
