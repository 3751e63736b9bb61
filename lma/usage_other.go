//go:build !linux

package lma

// processUsage is not measured outside Linux.
func processUsage() (usage, bool) { return usage{}, false }
