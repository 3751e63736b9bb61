package ra

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

// FuzzHandleFrame feeds arbitrary frames (as they come and with the ICMPv6
// checksum repaired) to an Advertiser serving one client: nothing panics,
// and every frame it writes is a valid RA to that client, never to the
// sender of the fuzzed frame.
func FuzzHandleFrame(f *testing.F) {
	f.Add(l2test.RS(macA, llA))
	f.Add(l2test.RS(macA, netip.IPv6Unspecified()))
	f.Add(l2test.RS(macB, llA))
	f.Add(l2test.DAD(macA, llA))
	f.Add(l2test.MustND(macA, l2test.AllRoutersMAC, llA, l2test.AllRouters, &ndp.RouterSolicitation{Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: macA}, &ndp.RawOption{Type: 99, Length: 1, Value: make([]byte, 6)}}}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		a, conn, clk := newTest(t, nil)
		if err := a.Serve(macA, llA, []netip.Prefix{hnpA}, time.Hour); err != nil {
			t.Fatal(err)
		}
		conn.Written()
		a.HandleFrame(frame)
		if len(frame) >= 14+40+4 {
			b := bytes.Clone(frame)
			if ip, err := l2.ParseIPv6(b[14:]); err == nil && len(ip.Payload) >= 4 {
				ip.Payload[2], ip.Payload[3] = 0, 0
				binary.BigEndian.PutUint16(ip.Payload[2:], l2.Checksum(ip.Src, ip.Dst, 58, ip.Payload))
				a.HandleFrame(b)
			}
		}
		clk.Advance(5 * time.Second)
		for _, w := range conn.Written() {
			nd, err := l2.ParseND(w)
			if err != nil {
				t.Fatalf("wrote an invalid frame %x: %v", w, err)
			}
			if _, ok := nd.Message.(*l2.RouterAdvertisement); !ok || !bytes.Equal(nd.Eth.Dst, macA) {
				t.Fatalf("wrote %T to %s", nd.Message, nd.Eth.Dst)
			}
			if nd.IP.Dst != llA && nd.IP.Dst != allNode && !nd.IP.Dst.IsLinkLocalUnicast() {
				t.Fatalf("RA to %s", nd.IP.Dst)
			}
		}
	})
}
