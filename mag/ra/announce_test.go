package ra

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/openpmip/pmip/mag/l2"
)

// The unsolicited Neighbor Advertisement of AnnounceRouter, byte for byte
// (RFC 4861 4.4, 7.2.6; RFC 5213 6.9.3 router identity), checksum
// computed by hand over the RFC 2460 8.1 pseudo-header.
var goldenAnnounceA = []byte{
	// Ethernet: to the client, from the fixed router MAC, IPv6.
	0x02, 0xaa, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x5e, 0x00, 0x52, 0x13,
	0x86, 0xdd,
	// IPv6: payload 32, ICMPv6, hop limit 255 (RFC 4861 7.1.2).
	0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
	0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x52, 0x13,
	0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	// ICMPv6 136, code 0, checksum; R=1 S=0 O=1.
	0x88, 0x00, 0xc7, 0x62, 0xa0, 0x00, 0x00, 0x00,
	// Target: the router link-local address.
	0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x52, 0x13,
	// Target Link-Layer Address option: the fixed MAC.
	0x02, 0x01, 0x00, 0x00, 0x5e, 0x00, 0x52, 0x13,
}

func TestAnnounceRouterGolden(t *testing.T) {
	a, conn, _ := newTest(t, nil)
	if err := a.AnnounceRouter(macA); err != nil {
		t.Fatal(err)
	}
	w := conn.Written()
	if len(w) != 1 {
		t.Fatalf("wrote %d frames, want 1", len(w))
	}
	if diff := cmp.Diff(goldenAnnounceA, w[0]); diff != "" {
		t.Fatalf("frame (-want +got):\n%s", diff)
	}
	// An independent codec reads it as RFC 4861 says a host must accept
	// it (7.1.2: hop limit 255, code 0, target not multicast, S clear
	// with a multicast destination).
	nd, err := l2.ParseND(w[0])
	if err != nil {
		t.Fatal(err)
	}
	if nd.IP.HopLimit != 255 {
		t.Errorf("hop limit %d, want 255", nd.IP.HopLimit)
	}
	m, err := ndp.ParseMessage(nd.IP.Payload)
	if err != nil {
		t.Fatal(err)
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok {
		t.Fatalf("got %T, want a neighbor advertisement", m)
	}
	if !na.Router || na.Solicited || !na.Override || na.TargetAddress != DefaultRouterLinkLocal {
		t.Errorf("flags or target wrong: %+v", na)
	}
	if len(na.Options) != 1 {
		t.Fatalf("options %v, want one target link-layer address", na.Options)
	}
	lla, ok := na.Options[0].(*ndp.LinkLayerAddress)
	if !ok || lla.Direction != ndp.Target || !bytes.Equal(lla.Addr, DefaultRouterMAC) {
		t.Errorf("option %+v, want target link-layer address %s", na.Options[0], DefaultRouterMAC)
	}
	if s := a.Stats(); s.Announced != 1 || s.Sent != 0 {
		t.Errorf("stats %+v: want 1 announced, no RA", s)
	}
}

func TestAnnounceRouterBadInput(t *testing.T) {
	a, conn, _ := newTest(t, nil)
	for _, mac := range []net.HardwareAddr{nil, {1, 2, 3}, {0x01, 0, 0x5e, 0, 0, 1}} {
		if err := a.AnnounceRouter(mac); !errors.Is(err, ErrBadMAC) {
			t.Errorf("AnnounceRouter(%v) = %v, want ErrBadMAC", mac, err)
		}
	}
	a.Close()
	if err := a.AnnounceRouter(macA); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after Close: %v, want net.ErrClosed", err)
	}
	if n := len(conn.Written()); n != 0 {
		t.Errorf("wrote %d frames for bad input", n)
	}
}

func TestAnnounceRouterWriteError(t *testing.T) {
	a, conn, _ := newTest(t, nil)
	conn.Close()
	if err := a.AnnounceRouter(macA); err == nil {
		t.Fatal("no error from a closed conn")
	}
	if s := a.Stats(); s.WriteErrors != 1 || s.Announced != 0 {
		t.Errorf("stats %+v: want 1 write error", s)
	}
}
