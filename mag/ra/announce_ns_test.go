package ra_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/ra"
	"golang.org/x/net/bpf"
)

// Tier 2: a real Linux client whose neighbour entry for its default router
// waits for resolution, as after a reassociation with another AP
// (docs/handover.md 8.4-8.5), and the MAG's unsolicited Neighbor
// Advertisement (AnnounceRouter) resolving it with no Neighbor
// Solicitation answered.
//
//	 client namespace                         MAG namespace
//	+-----------------------------+          +--------------------------------+
//	| c0  accept_ra=0, no DAD     |   veth   | m0  MAC 00:00:5e:00:52:13      |
//	| UDP to [fe80::..5213%c0]:9  |----------| NO address: the kernel answers |
//	|  -> router entry INCOMPLETE |          |  no NS; ra.Advertiser on a     |
//	|  (10 solicitations, 1 s)    |          |  packet socket, and a second   |
//	+-----------------------------+          |  one that watches for the UDP  |
//	                                         +--------------------------------+
//
// Without the advertisement the entry would fail after its solicitations
// and the datagram be dropped; with it the entry holds the fixed MAC and
// the datagram queued behind it reaches the MAG.
func TestAnnounceRouterResolvesKernelClient(t *testing.T) {
	nstest.RequireRoot(t)
	client, mag := nstest.New(t, "naclient"), nstest.New(t, "namag")
	nstest.Veth(t, mag, "m0", client, "c0")
	sysctlW := func(ns *nstest.NS, key, val string) {
		t.Helper()
		path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		if err := ns.Do(func() error { return os.WriteFile(path, []byte(val), 0o644) }); err != nil {
			t.Fatalf("sysctl %s=%s: %v", key, val, err)
		}
	}
	client.Run(t, "ip", "link", "set", "c0", "down")
	sysctlW(client, "net.ipv6.conf.c0.accept_ra", "0")
	sysctlW(client, "net.ipv6.conf.c0.accept_dad", "0")
	// Ten solicitations a second apart: the entry stays INCOMPLETE long
	// enough for a loaded test host (the kernel default is three).
	sysctlW(client, "net.ipv6.neigh.c0.mcast_solicit", "10")
	mag.Run(t, "ip", "link", "set", "m0", "down")
	mag.Run(t, "ip", "link", "set", "m0", "addrgenmode", "none")
	mag.Run(t, "ip", "link", "set", "m0", "address", ra.DefaultRouterMAC.String())
	mag.Run(t, "ip", "link", "set", "m0", "up")
	client.Run(t, "ip", "link", "set", "c0", "up")
	for _, end := range []struct {
		ns  *nstest.NS
		dev string
	}{{client, "c0"}, {mag, "m0"}} {
		nstest.WaitFor(t, 10*time.Second, func() string {
			out, _ := end.ns.Output("ip", "link", "show", "dev", end.dev)
			if strings.Contains(out, "state UP") && !strings.Contains(out, "qdisc noop") {
				return ""
			}
			return end.dev + " not operational:\n" + out
		})
	}
	ifi, err := interfaceIn(client, "c0")
	if err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 10*time.Second, func() string {
		out, _ := client.Output("ip", "-6", "addr", "show", "dev", "c0", "scope", "link")
		if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
			return ""
		}
		return "c0 has no usable link-local address:\n" + out
	})

	var aConn, watch *l2.Socket
	if err := mag.Do(func() (err error) {
		if aConn, err = l2.Listen("m0", l2.EtherTypeIPv6, []bpf.Instruction{bpf.RetConstant{Val: 0}}); err != nil {
			return err
		}
		watch, err = l2.Listen("m0", l2.EtherTypeIPv6, []bpf.Instruction{bpf.RetConstant{Val: 0xffff}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close() })
	adv, err := ra.New(ra.Config{Interface: "m0", Conn: aConn, MaxRtrAdvInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { adv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// The client has something to send to its router: the kernel queues
	// it behind an INCOMPLETE entry and solicits.
	router := ra.DefaultRouterLinkLocal.String()
	if err := client.Do(func() error {
		c, err := net.Dial("udp6", "["+router+"%c0]:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("queued behind the router's neighbour entry"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	neigh := func() string {
		out, _ := client.Output("ip", "-6", "neigh", "show", router, "dev", "c0")
		return strings.TrimSpace(out)
	}
	nstest.WaitFor(t, 5*time.Second, func() string {
		if strings.Contains(neigh(), "INCOMPLETE") {
			return ""
		}
		return "no INCOMPLETE entry for the router: " + neigh()
	})

	if err := adv.AnnounceRouter(ifi.HardwareAddr); err != nil {
		t.Fatal(err)
	}
	// RFC 4861 7.2.5: the entry records the advertised address and goes
	// STALE (then DELAY and PROBE as the queued datagram leaves), never
	// FAILED; the MAG namespace answered no solicitation.
	nstest.WaitFor(t, 5*time.Second, func() string {
		n := neigh()
		if strings.Contains(n, "lladdr "+ra.DefaultRouterMAC.String()) && !strings.Contains(n, "FAILED") &&
			!strings.Contains(n, "INCOMPLETE") {
			return ""
		}
		return "the router's entry did not take the advertisement: " + n
	})
	if n := neigh(); !strings.Contains(n, "router") {
		t.Errorf("entry %q lacks the router flag (RFC 4861 7.2.5: R sets IsRouter)", n)
	}
	// The datagram that waited for resolution reaches the MAG's link.
	if err := watch.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, err := watch.ReadFrame(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the datagram queued behind the entry never reached the MAG")
		}
		if err != nil {
			t.Fatal(err)
		}
		f := buf[:n]
		// Ethernet to the fixed MAC, IPv6 next header UDP, destination port 9.
		if n >= 14+40+8 && bytes.Equal(f[0:6], ra.DefaultRouterMAC) && f[14+6] == 17 &&
			binary.BigEndian.Uint16(f[14+40+2:]) == 9 {
			break
		}
	}
	if s := adv.Stats(); s.Announced != 1 {
		t.Errorf("stats %+v: want 1 announcement", s)
	}
}
