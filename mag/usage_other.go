//go:build !linux

package mag

// processUsage is not measured outside Linux.
func processUsage() (usage, bool) { return usage{}, false }
