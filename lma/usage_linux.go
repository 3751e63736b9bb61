package lma

import (
	"time"

	"golang.org/x/sys/unix"
)

// processUsage is the LMA process's CPU time so far (user and system, all
// threads) and how often the kernel took a CPU from one of its threads
// while it could still run (involuntary context switches): one
// getrusage(2), a few microseconds. A handoff's debug line reports both
// over decision -> PBA (handoff.go), so a slow PBA shows whether the LMA
// was computing or waiting for a CPU (issue 5: in scenario 2's one-CPU
// guest every daemon shares it).
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
