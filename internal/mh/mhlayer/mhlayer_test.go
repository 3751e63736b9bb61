package mhlayer

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/openpmip/pmip/internal/mh"
)

var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func samplePBU() *mh.ProxyBindingUpdate {
	return &mh.ProxyBindingUpdate{Sequence: 42, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: 3600 * time.Second,
		Options: []mh.Option{
			mh.NewNAI("alice@example.net"),
			&mh.HomeNetworkPrefix{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)},
			&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
			&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
		}}
}

// TestDecodeThroughPcap writes a pcap with the MH over IPv6 and over
// UDP/IPv4, reads it back with pcapgo and decodes it with gopacket.
func TestDecodeThroughPcap(t *testing.T) {
	Register()
	Register() // idempotent
	pbu := samplePBU()
	var buf bytes.Buffer
	writePcap(t, &buf, [][]byte{frameIPv6(t, pbu), frameUDP4(t, pbu)})
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	src := gopacket.NewPacketSource(r, layers.LinkTypeEthernet)
	n := 0
	for pkt := range src.Packets() {
		n++
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("packet %d: %v", n, el.Error())
		}
		l, ok := pkt.Layer(LayerTypeMH).(*MobilityHeader)
		if !ok {
			t.Fatalf("packet %d: no Mobility Header layer in %v", n, pkt)
		}
		if diff := cmp.Diff(mh.Message(pbu), l.Message, cmpOpts...); diff != "" {
			t.Fatalf("packet %d (-want +got):\n%s", n, diff)
		}
		if ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			if !mh.VerifyChecksum(mag6, lma6, l.Contents) {
				t.Errorf("packet %d: bad MH checksum %#04x", n, l.Checksum)
			}
			if ip6.NextHeader != mh.IPProtoMH {
				t.Errorf("next header %d", ip6.NextHeader)
			}
		} else if _, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); !ok {
			t.Errorf("packet %d is neither IPv6 nor UDP", n)
		}
	}
	if n != 2 {
		t.Fatalf("%d packets, want 2", n)
	}
}

func TestDecodeErrors(t *testing.T) {
	Register()
	frame := frameIPv6(t, samplePBU())
	// Cut inside the Mobility Header: gopacket must report an error
	// layer, not panic.
	pkt := gopacket.NewPacket(frame[:len(frame)-9], layers.LayerTypeEthernet, gopacket.Default)
	if pkt.ErrorLayer() == nil {
		t.Fatal("truncated Mobility Header decoded without error")
	}
	bad := append([]byte(nil), frame...)
	bad[14+40] = 6 // payload proto: not 59
	pkt = gopacket.NewPacket(bad, layers.LayerTypeEthernet, gopacket.Default)
	if pkt.ErrorLayer() == nil {
		t.Fatal("payload proto 6 decoded without error")
	}
}
