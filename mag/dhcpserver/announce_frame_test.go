package dhcpserver_test

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openpmip/pmip/mag/dhcpserver"
)

// TestLeaseReadyFrame: the burst variant of LeaseReady hands the router
// announcement over as the same bytes LeaseReady writes, and writes
// nothing itself; a waiting transaction is answered as before, with no
// frame handed over; no lease or an unusable one, no frame.
func TestLeaseReadyFrame(t *testing.T) {
	h := newHarness(t, nil)
	if f := h.srv.LeaseReadyFrame(clientMAC); f != nil {
		t.Fatalf("frame % x without a lease", f)
	}
	h.eng.SetLease(clientMAC, testLease())
	got := h.srv.LeaseReadyFrame(clientMAC)
	h.noReply()
	select {
	case f := <-h.aconn.Sent():
		t.Fatalf("LeaseReadyFrame wrote an ARP frame itself: % x", f.Data)
	default:
	}
	// The same announcement LeaseReady writes.
	h.srv.LeaseReady(clientMAC)
	var written []byte
	select {
	case f := <-h.aconn.Sent():
		written = f.Data
	default:
		t.Fatal("LeaseReady sent no ARP frame")
	}
	if diff := cmp.Diff(written, got); diff != "" || len(got) != 42 {
		t.Errorf("handed-over announcement (-written +handed over):\n%s", diff)
	}
	if st := h.srv.Stats(); st.ARPAnnouncements != 2 {
		t.Errorf("announcements %d, want 2 (one handed over, one written)", st.ARPAnnouncements)
	}

	// A waiting DISCOVER: the OFFER, no frame.
	other := net.HardwareAddr{0x02, 0xcc, 0, 0, 0, 1}
	h.process(bcastFrame(other, discover(t, other, false)))
	h.eng.SetLease(other, testLease())
	if f := h.srv.LeaseReadyFrame(other); f != nil {
		t.Errorf("frame % x for a client with a DHCP exchange", f)
	}
	h.reply()

	bad := net.HardwareAddr{0x02, 0xcc, 0, 0, 0, 2}
	h.eng.SetLease(bad, dhcpserver.Lease{})
	if f := h.srv.LeaseReadyFrame(bad); f != nil {
		t.Errorf("frame % x for an unusable lease", f)
	}
	if f := h.srv.LeaseReadyFrame(net.HardwareAddr{1, 2, 3}); f != nil {
		t.Errorf("frame % x for a bad MAC", f)
	}
}
