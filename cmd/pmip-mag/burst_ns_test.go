package main

import (
	"net"
	"testing"
	"time"

	"github.com/openpmip/pmip/mag/l2/l2test"
)

// TestSimultaneousClients: 64 clients arrive at the real daemon in the
// same instant (an AP rebooting, a classroom), each with a DHCPDISCOVER
// and a Router Solicitation sent back to back, in the domain of
// domain_ns_test.go; the test LMA answers every PBU at once. Every client
// must be registered exactly once and get its DHCPOFFER and its RA
// (issue 4: the flood bounds must not turn a legitimate burst away).
//
//	ns client: 64 × (DISCOVER, RS) ══ acc0 ══ pmip-mag ══ peer LMA
//	           <── 64 × (OFFER, RA)
func TestSimultaneousClients(t *testing.T) {
	const clients = 64
	// identity_wait 0: these clients never get a hostapd event.
	d := newDomain(t, "\toption identity_wait '0'\n")
	writeSysctl(t, d.client, "net.ipv6.conf.c0.disable_ipv6", "1")
	d.client.Run(t, "ip", "link", "set", "c0", "up")
	d.start(t, "-log-level", "info")
	cap := startCapture(t, d)

	macs := make([]net.HardwareAddr, clients)
	frames := make([][]byte, 0, 2*clients)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0x43, 0, 0, 0, byte(i)}
		frames = append(frames, l2test.DHCP(macs[i], l2test.DHCPDiscover, nil), l2test.RS(macs[i], linkLocalOf(macs[i])))
	}
	t0 := time.Now()
	for _, f := range frames {
		cap.send(t, f)
	}
	var last time.Time
	for _, mac := range macs {
		ra, offer := cap.wait(t, mac.String(), 10*time.Second)
		for _, at := range []time.Time{ra, offer} {
			if at.After(last) {
				last = at
			}
		}
	}
	took := last.Sub(t0)
	t.Logf("%d clients arriving at once: all registered and served (OFFER and RA) %v after the first frame", clients, took.Round(time.Millisecond))
	d.peer.mu.Lock()
	for _, mac := range macs {
		if n := d.peer.countLocked(mac.String(), false); n != 1 {
			t.Errorf("%s: %d registration PBUs, want 1", mac, n)
		}
	}
	d.peer.mu.Unlock()
	// The access side admits the burst at once (sniff and dhcpserver
	// burst 64): seconds would mean clients were queued or dropped.
	if took > 2*time.Second {
		t.Errorf("the burst took %v to serve", took)
	}
}
