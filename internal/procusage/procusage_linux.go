// Package procusage samples the process's own CPU time and involuntary
// context switches: the MAG's "client served" line and the LMA's handoff
// line report both over their interval, so a slow handover shows whether
// the daemon was computing or waiting for a CPU (docs/handover.md 9).
package procusage

import (
	"time"

	"golang.org/x/sys/unix"
)

// Now is the process's CPU time so far (user and system, all threads) and
// how often the kernel took a CPU from one of its threads while it could
// still run (involuntary context switches): one getrusage(2), a few
// microseconds. ok is false if the kernel refused.
func Now() (cpu time.Duration, preempted int64, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), int64(ru.Nivcsw), true
}
