package mag

import "github.com/openpmip/pmip/internal/procusage"

// processUsage samples the MAG's CPU time and involuntary context switches
// (internal/procusage) for the served line (trace.go).
func processUsage() (usage, bool) {
	cpu, preempted, ok := procusage.Now()
	return usage{cpu: cpu, preempted: preempted}, ok
}
