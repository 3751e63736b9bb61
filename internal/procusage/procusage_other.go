//go:build !linux

// Package procusage samples the process's own CPU time and involuntary
// context switches; outside Linux it measures nothing.
package procusage

import "time"

// Now is not measured outside Linux: ok is false.
func Now() (cpu time.Duration, preempted int64, ok bool) { return 0, 0, false }
