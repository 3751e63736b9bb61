package dhcpserver_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
)

// Tier 2: the router announcement of LeaseReady against a real Linux
// client that moved here with its address (topology of setupNS: the MAG
// namespace has no IPv4 address, so its kernel answers no ARP; the
// server's ARP responder answers registered clients only).
//
//	client c0 10.20.0.17/24  ── veth ──  s0 (MAG, layer 2 only)
//
// Two states of the client's entry for its router 10.20.0.1, both seen
// after a reassociation (docs/handover.md 8.4, 9): none at all (its
// kernel flushed the entries when the link went down and has sent
// nothing since), and INCOMPLETE with a packet queued (it sent before
// the MAG had the binding, so nobody answered). After the announcement
// the entry must hold the MAG's MAC either way, and a queued packet must
// have left.
func TestLeaseReadyAnnouncementKernelClient(t *testing.T) {
	for _, queued := range []bool{false, true} {
		name := "no entry"
		if queued {
			name = "incomplete"
		}
		t.Run(name, func(t *testing.T) {
			x := setupNS(t, time.Hour)
			x.client.Run(t, "ip", "addr", "add", homeAddr.String(), "dev", "c0")
			x.client.Run(t, "ip", "link", "set", "c0", "up")
			// Ten solicitations a second apart: an INCOMPLETE entry stays
			// so long enough for a loaded test host.
			x.client.Run(t, "sysctl", "-qw", "net.ipv4.neigh.c0.mcast_solicit=10")
			mac := clientInterfaceMAC(t, x)
			neigh := func() string {
				out, _ := x.client.Output("ip", "-4", "neigh", "show", router.String(), "dev", "c0")
				return strings.TrimSpace(out)
			}
			if queued {
				// Not registered yet: the responder stays silent.
				if err := x.client.Do(func() error {
					c, err := net.Dial("udp4", router.String()+":9")
					if err != nil {
						return err
					}
					defer c.Close()
					_, err = c.Write([]byte("queued behind the router's entry"))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				nstest.WaitFor(t, 5*time.Second, func() string {
					if strings.Contains(neigh(), "INCOMPLETE") {
						return ""
					}
					return "no INCOMPLETE entry for the router: " + neigh()
				})
			} else if n := neigh(); n != "" {
				t.Fatalf("the client already has an entry for its router: %s", n)
			}
			x.eng.SetLease(mac, testLease())
			x.srv.LeaseReady(mac)
			nstest.WaitFor(t, 5*time.Second, func() string {
				n := neigh()
				if strings.Contains(n, "lladdr "+routerMAC.String()) && !strings.Contains(n, "FAILED") &&
					!strings.Contains(n, "INCOMPLETE") {
					return ""
				}
				return "the client's router entry did not take the announcement: " + n
			})
			if st := x.srv.Stats(); st.ARPAnnouncements != 1 {
				t.Errorf("stats %+v: want 1 announcement", st)
			}
		})
	}
}

func clientInterfaceMAC(t *testing.T, x *nsLink) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := x.client.Do(func() error {
		ifi, err := net.InterfaceByName("c0")
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}
