package dhcpserver_test

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
)

// TestLeaseReadyAnnouncesRouter: a client whose lease becomes usable with
// no DHCP transaction waiting (it moved here with its address) is told
// that its default router is at the fixed MAC by an ARP request from the
// router for the client's own address, unicast to it (RFC 826: the
// target adds the sender's pair), byte for byte; a client with a DHCP
// exchange waiting gets its DHCP answer and no ARP; no lease, no frame.
func TestLeaseReadyAnnouncesRouter(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.LeaseReady(clientMAC) // no lease yet
	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	h.noReply()
	var f dhcpservertest.Frame
	select {
	case f = <-h.aconn.Sent():
	default:
		t.Fatal("no ARP frame sent")
	}
	select {
	case extra := <-h.aconn.Sent():
		t.Fatalf("a second ARP frame: % x", extra.Data)
	default:
	}
	golden := []byte{
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // to the client
		0x02, 0x00, 0x5e, 0x00, 0x00, 0x01, // from the router MAC
		0x08, 0x06, // ARP
		0x00, 0x01, 0x08, 0x00, 6, 4, // Ethernet, IPv4
		0x00, 0x01, // request
		0x02, 0x00, 0x5e, 0x00, 0x00, 0x01, 10, 20, 0, 1, // sender: the router
		0, 0, 0, 0, 0, 0, 10, 20, 0, 17, // target: the client's own address
	}
	if diff := cmp.Diff(golden, f.Data); diff != "" {
		t.Errorf("announcement (-want +got):\n%s", diff)
	}
	r, err := dhcpservertest.ParseARPRequest(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	if r.SHA.String() != routerMAC.String() || r.SPA != router || r.TPA != homeAddr.Addr() ||
		f.To.String() != clientMAC.String() {
		t.Errorf("announcement %+v to %v", r, f.To)
	}
	if st := h.srv.Stats(); st.ARPAnnouncements != 1 || st.ARPReplies != 0 {
		t.Errorf("stats %+v: want 1 announcement, no reply", st)
	}

	// A waiting DISCOVER: the OFFER, no ARP.
	other := net.HardwareAddr{0x02, 0xcc, 0, 0, 0, 1}
	h.process(bcastFrame(other, discover(t, other, false)))
	h.eng.SetLease(other, testLease())
	h.srv.LeaseReady(other)
	h.reply()
	select {
	case extra := <-h.aconn.Sent():
		t.Errorf("ARP frame for a client with a DHCP exchange: % x", extra.Data)
	default:
	}

	// An unusable lease: nothing.
	bad := net.HardwareAddr{0x02, 0xcc, 0, 0, 0, 2}
	h.eng.SetLease(bad, dhcpserver.Lease{})
	h.srv.LeaseReady(bad)
	select {
	case extra := <-h.aconn.Sent():
		t.Errorf("ARP frame for an unusable lease: % x", extra.Data)
	default:
	}
}
