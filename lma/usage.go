package lma

import "github.com/openpmip/pmip/internal/procusage"

// processUsage samples the LMA's CPU time and involuntary context switches
// (internal/procusage) for the handoff's debug line (handoff.go).
func processUsage() (usage, bool) {
	cpu, preempted, ok := procusage.Now()
	return usage{cpu: cpu, preempted: preempted}, ok
}
