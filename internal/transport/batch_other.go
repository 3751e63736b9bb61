//go:build !linux

package transport

import (
	"errors"
	"syscall"
)

// newBatch returns x/net's batch I/O; kernel timestamps are Linux-only.
func newBatch(_ syscall.Conn, pc batcher, size int, udp, timestamps bool) (batchRW, error) {
	if timestamps {
		return nil, errors.New("transport: receive timestamps need Linux")
	}
	return newBatchIO(pc, size, udp), nil
}
