//go:build !linux

package transport

import "errors"

// msgTrunc is 0 off Linux: truncation goes undetected there, which is
// acceptable for a platform the daemons do not run on.
const msgTrunc = 0

// setMHChecksum is Linux-only: the daemons run on Linux, and other
// systems spell IPV6_CHECKSUM's level differently.
func setMHChecksum(uintptr) error {
	return errors.New("transport: the raw Mobility Header carrier needs Linux")
}
