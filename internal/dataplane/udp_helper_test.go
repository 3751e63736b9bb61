package dataplane_test

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
)

// udpSeq makes every datagram of udpArrives unique, so that a late copy
// of an earlier try is never taken for this one.
var udpSeq atomic.Uint64

// udpArrives sends a datagram from src (an address of ns from) to dst,
// port 5000, up to tries times, and reports whether listener l got it
// within wait of a send. An expected datagram deserves a few tries: the
// first may wait for neighbour discovery on every link of its path.
func udpArrives(t *testing.T, from *nstest.NS, l *net.UDPConn, src, dst netip.Addr, tries int, wait time.Duration) bool {
	t.Helper()
	buf := make([]byte, 128)
	for range tries {
		tag := fmt.Sprintf("%s>%s#%d", src, dst, udpSeq.Add(1))
		if err := from.Do(func() error {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 5000)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte(tag))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(wait)
		for {
			l.SetReadDeadline(deadline)
			n, _, err := l.ReadFrom(buf)
			if err != nil {
				break
			}
			if string(buf[:n]) == tag {
				return true
			}
		}
	}
	return false
}
