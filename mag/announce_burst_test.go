package mag

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"github.com/openpmip/pmip/mag/ra"
)

// A dual-stack station that moved here by 802.11r (no DHCP exchange
// waiting): on its PBA the DHCP server's ARP request, the unsolicited NA
// and the first RA leave in one write on the RA's packet socket, in that
// order (docs/handover.md 9.5, 9.6), and the DHCP server's own ARP
// socket writes nothing.
//
//	engine ── LeaseReadyFrame ──> dhcpserver.Server (ARP conn: silent)
//	   └───── ServeAnnounced([ARP]) ──> ra.Advertiser ──> l2test.Conn: one batch ARP, NA, RA
func TestHandoffAnnouncementsInOneBurst(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	dconn, aconn := dhcpservertest.NewConn(64), dhcpservertest.NewConn(64)
	srv, err := dhcpserver.New(dhcpserver.Config{
		Engine: h.e.DHCPEngine("br-lan"), RouterMAC: h.cfg.LinkLayerAddress, Clock: h.clk,
	}, dconn, aconn)
	if err != nil {
		t.Fatal(err)
	}
	rconn := l2test.New()
	adv, err := ra.New(ra.Config{Interface: "br-lan", Conn: rconn, Clock: h.clk,
		RouterMAC: h.cfg.LinkLayerAddress, RouterLinkLocal: h.cfg.LinkLocalAddress, MaxRADelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adv.Close() })
	if err := h.e.SetAccess("br-lan", AccessSide{RA: adv, DHCP: srv}); err != nil {
		t.Fatal(err)
	}
	h.e.OnStation(hostapd.Event{Kind: hostapd.Connected, Interface: "wlan0", MAC: client1, Identity: "alice@example.net",
		Source: hostapd.SourceCtrl, FastReassoc: true, Seen: h.clk.Now()})
	pbu := h.nextPBU()
	h.deliver(pba(pbu, mh.StatusAccepted, time.Hour, grant()...))

	b := rconn.Batches()
	if len(b) != 1 || len(b[0]) != 3 {
		t.Fatalf("batches %v: want one of three frames (ARP, NA, RA)", len(b))
	}
	for i, want := range []uint16{l2.EtherTypeARP, l2.EtherTypeIPv6, l2.EtherTypeIPv6} {
		f := b[0][i]
		if len(f) < 14 || binary.BigEndian.Uint16(f[12:14]) != want || !bytes.Equal(f[0:6], client1) {
			t.Fatalf("frame %d % x: want EtherType %#04x to the client", i, f, want)
		}
	}
	if nd, err := l2.ParseND(b[0][1]); err != nil || nd.IP.Payload[0] != 136 {
		t.Errorf("second frame is not the neighbor advertisement: %v", err)
	}
	if nd, err := l2.ParseND(b[0][2]); err != nil || nd.IP.Payload[0] != 134 {
		t.Errorf("third frame is not the router advertisement: %v", err)
	}
	select {
	case f := <-aconn.Sent():
		t.Errorf("the DHCP server wrote the ARP frame itself: % x", f.Data)
	default:
	}
	if st := srv.Stats(); st.ARPAnnouncements != 1 {
		t.Errorf("ARP announcements %d, want 1", st.ARPAnnouncements)
	}
	if st := adv.Stats(); st.Announced != 1 || st.Sent != 1 {
		t.Errorf("advertiser stats %+v: want one NA, one RA", st)
	}
}
