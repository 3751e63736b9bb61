package mag

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// RFC 5844 3.3: the IPv4 default router the LMA names is an address of
// the MAG on the access link while an IPv4 client is served there
// (docs/handover.md 9.9: the kernel's ARP for a client then comes from
// it). One address for all the link's clients: the first one's
// registration adds it, it stays while one is left, and goes with the
// last; the whole-state Set lists it once. An IPv6-only client adds none.
func TestIPv4RouterAddressShared(t *testing.T) {
	const routerAddr = "address 10.20.0.1/32 dev br-lan noprefixroute"
	h := newHarness(t, baseConf, noHeartbeat)
	has := func(when string, want bool) {
		t.Helper()
		if got := strings.Count(h.dp.String(), routerAddr); got != map[bool]int{false: 0, true: 1}[want] {
			t.Errorf("%s: %d router addresses, want present=%v:\n%s", when, got, want, h.dp.String())
		}
	}
	has("before any client", false)
	h.register1(time.Hour)
	has("client 1 served", true)
	h.dp.Kernel.Ops()

	h.e.OnSniffAttach(rsTrigger(client2))
	h.deliver(pba(h.nextPBU(), mh.StatusAccepted, time.Hour,
		&mh.HomeNetworkPrefix{Prefix: hnp2},
		&mh.IPv4HomeAddressReply{Status: mh.IPv4HoASuccess, Prefix: netip.MustParsePrefix("10.20.0.6/24")},
		&mh.IPv4DefaultRouterAddress{Addr: router1}))
	has("clients 1 and 2 served", true)
	for _, op := range h.dp.Kernel.Ops() {
		if strings.Contains(op, "10.20.0.1/32") {
			t.Errorf("client 2's registration asked for the router address client 1 installed: %s", op)
		}
	}
	// The whole state lists it once (a second copy is invalid).
	if err := h.e.ResyncDataplane(); err != nil {
		t.Fatal(err)
	}
	has("after a resynchronisation", true)
	h.dp.Kernel.Ops()

	h.e.OnSniffDetach(snDetach(client1))
	for _, op := range h.dp.Kernel.Ops() {
		if strings.Contains(op, "10.20.0.1/32") {
			t.Errorf("client 1 left, client 2 still uses the router: %s", op)
		}
	}
	has("client 2 still served", true)
	h.e.OnSniffDetach(snDetach(client2))
	has("no client left", false)
}

// A client served over IPv6 only (the LMA grants no IPv4 home address, as
// for a MAG whose policy asks none) gives the access link no IPv4 address.
func TestIPv6OnlyClientNoRouterAddress(t *testing.T) {
	h := newHarness(t, baseConf, noHeartbeat)
	h.deliver(pba(h.attach1(), mh.StatusAccepted, time.Hour, &mh.HomeNetworkPrefix{Prefix: hnp1}))
	got := h.dp.String()
	if !strings.Contains(got, "route 2001:db8:100:1::/64 dev br-lan") {
		t.Fatalf("client not served:\n%s", got)
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.HasPrefix(l, "address ") && !strings.Contains(l, "fe80::") {
			t.Errorf("IPv6-only client added %q", l)
		}
	}
}
