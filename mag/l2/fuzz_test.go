package l2_test

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

// FuzzParseND feeds arbitrary frames to the ND parser, as they come and
// with their ICMPv6 checksum repaired (so mutations reach the option
// parsing behind the checksum check): it must never panic, whatever it
// accepts must survive a rebuild (AppendND of the parsed headers and
// message parses back to the same message), and where mdlayher/ndp
// accepts the same bytes it must read the same fields (checkAgainstNDP).
func FuzzParseND(f *testing.F) {
	f.Add(goldenRS)
	f.Add(goldenRA)
	f.Add(l2test.DAD(macA, llA))
	f.Add(l2test.RS(macA, netip.IPv6Unspecified()))
	f.Add(l2test.MustND(macA, rmac, llA, rtr, &ndp.NeighborAdvertisement{Solicited: true, TargetAddress: llA,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: macA}}}))
	f.Add(l2test.DHCP(macA, 1, []byte{1, 2, 3}))
	// Every message of the codec table (MTU, RDNSS, raw options, flags,
	// preferences), as ndp writes them.
	for _, tc := range ndCases {
		f.Add(l2test.MustND(rmac, macA, rtr, llA, tc.ndp))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkParse(t, frame)
		if len(frame) >= l2.EthernetHeaderLen {
			if ip, err := l2.ParseIPv6(frame[l2.EthernetHeaderLen:]); err == nil && len(ip.Payload) >= 4 {
				fixed := bytes.Clone(frame)
				fixICMP(fixed)
				checkParse(t, fixed)
			}
		}
	})
}

func checkParse(t *testing.T, frame []byte) {
	nd, err := l2.ParseND(frame)
	if err != nil {
		return
	}
	rebuilt, err := l2.AppendND(nil, nd.Eth.Src, nd.Eth.Dst, nd.IP.Src, nd.IP.Dst, nd.Message)
	if err != nil {
		if nd.IP.Src.Is4In6() || nd.IP.Dst.Is4In6() {
			return // AppendND builds IPv6 headers only
		}
		t.Fatalf("accepted %x, rebuild fails: %v", frame, err)
	}
	checkAgainstNDP(t, nd)
	again, err := l2.ParseND(rebuilt)
	if err != nil {
		t.Fatalf("accepted %x, rebuilt %x fails: %v", frame, rebuilt, err)
	}
	if !reflect.DeepEqual(nd.Message, again.Message) {
		t.Fatalf("message changed in the rebuild:\n%#v\n%#v", nd.Message, again.Message)
	}
}
