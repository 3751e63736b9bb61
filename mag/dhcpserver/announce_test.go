package dhcpserver_test

import (
	"net"
	"testing"

	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
)

// TestLeaseReadyAnnouncesRouter: a client whose lease becomes usable with
// no DHCP transaction waiting (it moved here with its address) is told,
// by an ARP reply unicast to it, that its default router is at the fixed
// MAC, so a router entry its kernel was resolving during the move
// resolves at once; a client with a DHCP exchange waiting gets its DHCP
// answer and no ARP; no lease, no frame.
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
	r, err := dhcpservertest.ParseARPReply(f.Data)
	if err != nil {
		t.Fatal(err)
	}
	if r.SHA.String() != routerMAC.String() || r.EthSrc.String() != routerMAC.String() || r.SPA != router ||
		r.THA.String() != clientMAC.String() || r.TPA != homeAddr.Addr() || r.EthDst.String() != clientMAC.String() ||
		f.To.String() != clientMAC.String() {
		t.Errorf("announcement %+v to %v", r, f.To)
	}
	if st := h.srv.Stats(); st.ARPReplies != 1 {
		t.Errorf("ARPReplies %d, want 1", st.ARPReplies)
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
