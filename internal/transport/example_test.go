package transport_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// The LMA's receive loop: one ReadBatch, answer each message in place,
// one WriteBatch back to the senders. Buffers are allocated once.
func Example_batchLoop() {
	network := transporttest.NewNetwork()
	lma := network.MustListen("[2001:db8::2]:0")
	mag := network.MustListen("[2001:db8::1]:0")

	done := make(chan struct{})
	go func() {
		defer close(done)
		msgs := make([]transport.Message, lma.BatchSize())
		for i := range msgs {
			msgs[i].Buf = make([]byte, transport.MaxMessageLen)
		}
		for {
			n, err := lma.ReadBatch(msgs)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			for i := range msgs[:n] {
				// Here the engine parses msgs[i].Buf[:msgs[i].N] with
				// internal/mh and writes its answer over it; Addr already
				// names the sender. This one turns a PBU (MH type 5) into
				// a PBA (type 6).
				msgs[i].Buf[2] = 6
			}
			if _, err := lma.WriteBatch(msgs[:n]); err != nil {
				return
			}
		}
	}()

	pbu := []byte{59, 0, 5, 0, 0, 0, 0, 1}
	_ = mag.WriteTo(pbu, netip.MustParseAddrPort("[2001:db8::2]:0"))
	buf := make([]byte, transport.MaxMessageLen)
	n, from, _ := mag.ReadFrom(buf)
	fmt.Printf("MH type %d from %v, %d octets\n", buf[2], from, n)
	lma.Close()
	<-done
	// Output: MH type 6 from [2001:db8::2]:0, 8 octets
}
