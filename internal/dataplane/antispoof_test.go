package dataplane_test

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestAntiSpoofing sends real packets through the MAG's reverse-tunnel
// rules (a veth stands in for the tunnel, which the host kernel lacks):
//
//	ns client                  ns mag                         ns lma
//	cl0 02:00:00:00:00:01 ── wlan0 fe80::1, 10.1.0.1   uplink0 ── up0 2001:db8:ff::1
//	  2001:db8:1::10 (own HNP)     rules: from HNPs iif wlan0       192.0.2.1
//	  2001:db8:2::10 (client 2's)         lookup 100
//	  2001:db8:9::10 (nobody's)    table 100: default via LMA
//	  10.1.0.5 (own HoA)           nft: ether saddr . ip saddr
//	  2001:db8:80:5::10 (in its own /56)
//	  2001:db8:1:1::10 (beside its /64, in nobody's)
//
// With the filter's access set empty every source is forwarded (so the
// filter alone makes the difference); with wlan0 in it only the client's
// own prefix and address pass, and link-local traffic with the MAG still
// works (RFC 5213 6.10.5, RFC 5844 3.2). The client's /64 is checked in
// the hash set src6h (the source masked to 64 bits), its /56 in the
// interval set src6: both pass, and an address one /64 beyond its /64
// does not.
func TestAntiSpoofing(t *testing.T) {
	client := nstest.New(t, "client")
	mag := nstest.New(t, "mag")
	lma := nstest.New(t, "lma")
	nstest.Veth(t, client, "cl0", mag, "wlan0")
	nstest.Veth(t, mag, "uplink0", lma, "up0")
	client.Run(t, "ip", "link", "set", "cl0", "address", "02:00:00:00:00:01")
	for _, a := range []string{"2001:db8:1::10/64", "2001:db8:2::10/64", "2001:db8:9::10/64", "2001:db8:80:5::10/64", "2001:db8:1:1::10/64"} {
		client.Run(t, "ip", "addr", "add", a, "dev", "cl0", "nodad")
	}
	client.Run(t, "ip", "addr", "add", "10.1.0.5/24", "dev", "cl0")
	client.Run(t, "ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "cl0")
	client.Run(t, "ip", "route", "add", "default", "via", "10.1.0.1")
	lma.Run(t, "ip", "addr", "add", "2001:db8:ff::1/64", "dev", "up0", "nodad")
	lma.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "up0")
	lma.Run(t, "ip", "-6", "route", "add", "2001:db8::/40", "via", "2001:db8:ff::2")
	lma.Run(t, "ip", "route", "add", "10.1.0.0/16", "via", "192.0.2.2")
	if err := mag.Do(func() error {
		return errors.Join(
			os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0),
			os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0))
	}); err != nil {
		t.Fatal(err)
	}

	state := func(access ...string) *dataplane.State {
		s := &dataplane.State{
			Addresses: []dataplane.Address{
				{Dev: "wlan0", Prefix: pfx("fe80::1/64"), NoDAD: true},
				{Dev: "wlan0", Prefix: pfx("10.1.0.1/24")},
				{Dev: "uplink0", Prefix: pfx("2001:db8:ff::2/64"), NoDAD: true},
				{Dev: "uplink0", Prefix: pfx("192.0.2.2/24")},
			},
			Routes: []dataplane.Route{
				{Table: 100, Dst: pfx("::/0"), Dev: "uplink0", Gateway: addr("2001:db8:ff::1")},
				{Table: 100, Dst: pfx("0.0.0.0/0"), Dev: "uplink0", Gateway: addr("192.0.2.1")},
			},
			Filter: &dataplane.Filter{
				AccessIfaces: access,
				Sources: []dataplane.Source{
					{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("2001:db8:1::/64")},
					{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("10.1.0.5/32")},
					{MAC: mac("02:00:00:00:00:02"), Prefix: pfx("2001:db8:2::/64")},
					{MAC: mac("02:00:00:00:00:01"), Prefix: pfx("2001:db8:80::/56")},
				},
			},
		}
		// Reverse tunnelling for every prefix on the link (RFC 5213
		// 6.10.5), so routing alone would carry the spoofed packets too.
		for _, p := range []string{"2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:9::/64", "10.1.0.5/32", "2001:db8:80::/56", "2001:db8:1:1::/64"} {
			s.Routes = append(s.Routes, dataplane.Route{Dst: pfx(p), Dev: "wlan0"})
			s.Rules = append(s.Rules, dataplane.Rule{Priority: 1000, Src: pfx(p), IIf: "wlan0", Table: 100})
		}
		return s
	}
	if len(state().Filter.AccessIfaces) != 0 {
		t.Fatal("state() with no access interface has one")
	}
	ctx := context.Background()
	r, c, _ := open(t, mag)
	// One echo, two seconds to answer; an expected answer gets five
	// tries, as the first packet of a flow waits for neighbour discovery
	// on three links and the machine may be busy.
	ping := func(t *testing.T, src, dst string, tries int) bool {
		t.Helper()
		for range tries {
			out, err := client.Output(pingCmd(), "-c", "1", "-W", "2", "-I", src, dst)
			if err == nil && strings.Contains(out, " 0% packet loss") {
				return true
			}
		}
		return false
	}
	type probe struct {
		src, dst string
		pass     bool
	}
	check := func(t *testing.T, probes []probe) {
		t.Helper()
		for _, p := range probes {
			tries := 1
			if p.pass {
				tries = 5
			}
			if got := ping(t, p.src, p.dst, tries); got != p.pass {
				t.Errorf("ping from %s to %s: got through %v, want %v", p.src, p.dst, got, p.pass)
			}
		}
	}

	t.Run("filter off", func(t *testing.T) {
		if err := r.Set(ctx, state()); err != nil {
			t.Fatal(err)
		}
		check(t, []probe{
			{"2001:db8:1::10", "2001:db8:ff::1", true},
			{"2001:db8:2::10", "2001:db8:ff::1", true},
			{"2001:db8:9::10", "2001:db8:ff::1", true},
			{"10.1.0.5", "192.0.2.1", true},
			{"2001:db8:80:5::10", "2001:db8:ff::1", true},
			{"2001:db8:1:1::10", "2001:db8:ff::1", true},
		})
	})
	t.Run("filter on", func(t *testing.T) {
		c.take()
		if err := r.Set(ctx, state("wlan0")); err != nil {
			t.Fatal(err)
		}
		// Turning the check on is one set element.
		if ops := c.take(); len(ops) != 1 || ops[0] != "add filter access wlan0" {
			t.Errorf("ops %q", ops)
		}
		check(t, []probe{
			{"2001:db8:1::10", "2001:db8:ff::1", true},
			{"2001:db8:2::10", "2001:db8:ff::1", false}, // client 2's prefix from client 1's MAC
			{"2001:db8:9::10", "2001:db8:ff::1", false},
			{"10.1.0.5", "192.0.2.1", true},
			{"cl0", "fe80::1", true},                      // link-local with the MAG itself
			{"2001:db8:80:5::10", "2001:db8:ff::1", true}, // its /56, in src6
			{"2001:db8:1:1::10", "2001:db8:ff::1", false}, // beside its /64 in src6h
		})
		if haveTool(t, "nft") {
			// The /64s in the hash set, the /56 in the interval set.
			h := mag.Run(t, "nft", "list", "set", "inet", "pmip", "src6h")
			i := mag.Run(t, "nft", "list", "set", "inet", "pmip", "src6")
			for _, want := range []string{"02:00:00:00:00:01 . 2001:db8:1::", "02:00:00:00:00:02 . 2001:db8:2::"} {
				if !strings.Contains(h, want) || strings.Contains(i, want) {
					t.Errorf("%s not in src6h alone:\n%s\n%s", want, h, i)
				}
			}
			if !strings.Contains(i, "2001:db8:80::/56") || strings.Contains(h, "2001:db8:80::") {
				t.Errorf("the /56 not in src6 alone:\n%s\n%s", h, i)
			}
		}
		if haveTool(t, "nft") {
			out := mag.Run(t, "nft", "list", "chain", "inet", "pmip", "antispoof1")
			if !strings.Contains(out, "counter packets") || strings.Contains(out, "counter packets 0 ") {
				t.Errorf("drop counter did not count:\n%s", out)
			}
		}
	})
	// RFC 2131 4.4.5: a renewing client unicasts its DHCPREQUEST to the
	// default router from its home address; the MAG's DHCP server reads
	// it from a packet socket, and the copy the reverse-tunnel rule would
	// forward to the LMA is dropped (other UDP ports still pass).
	t.Run("DHCP to a server is not forwarded", func(t *testing.T) {
		if err := r.Set(ctx, state("wlan0")); err != nil {
			t.Fatal(err)
		}
		var dhcp, other *net.UDPConn
		if err := lma.Do(func() (err error) {
			dhcp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 67})
			if err != nil {
				return err
			}
			other, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 6767})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer dhcp.Close()
		defer other.Close()
		send := func(port int) {
			if err := client.Do(func() error {
				c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 1, 0, 5), Port: 68}, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: port})
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Write([]byte("renew"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 64)
		got := false
		for range 5 { // the first packets may wait for neighbour discovery
			send(6767)
			other.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := other.ReadFrom(buf); err == nil {
				got = true
				break
			}
		}
		if !got {
			t.Fatal("control packet to port 6767 not forwarded")
		}
		send(67)
		send(67)
		dhcp.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _, err := dhcp.ReadFrom(buf); err == nil {
			t.Errorf("DHCP message forwarded to the LMA side: %q", buf[:n])
		}
	})
	t.Run("client leaves", func(t *testing.T) {
		s := state("wlan0")
		s.Filter.Sources = slices.DeleteFunc(s.Filter.Sources, func(src dataplane.Source) bool {
			return src.MAC.String() == "02:00:00:00:00:01"
		})
		if err := r.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
		check(t, []probe{
			{"2001:db8:1::10", "2001:db8:ff::1", false},
			{"10.1.0.5", "192.0.2.1", false},
			{"2001:db8:80:5::10", "2001:db8:ff::1", false},
		})
	})
}
