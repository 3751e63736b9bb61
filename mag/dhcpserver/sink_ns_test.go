package dhcpserver_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestUnicastRenewalNoPortUnreachable: the MAG holds the router address on
// the access link, so a client's unicast renewal reaches the MAG's own
// stack; the server's port sink keeps the kernel from answering ICMP port
// unreachable beside the DHCPACK. A datagram to a port nobody holds is
// the control: it must be refused, or the check proves nothing.
//
//	client ns: c0 10.20.0.17/24 ── UDP to 10.20.0.1:67 ──► s0 10.20.0.1/32 (MAG ns, server listening)
func TestUnicastRenewalNoPortUnreachable(t *testing.T) {
	x := setupNS(t, time.Hour)
	x.mag.Run(t, "ip", "addr", "add", "10.20.0.1/32", "dev", "s0", "noprefixroute")
	x.mag.Run(t, "ip", "route", "add", "10.20.0.0/24", "dev", "s0")
	x.client.Run(t, "ip", "addr", "add", "10.20.0.17/24", "dev", "c0")
	send := func(port int) error {
		var rerr error
		if err := x.client.Do(func() error {
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 20, 0, 1), Port: port})
			if err != nil {
				return err
			}
			defer c.Close()
			// Two tries: the first may wait for ARP. A refusal shows on
			// the socket as ECONNREFUSED at the next read.
			for range 2 {
				if _, err := c.Write([]byte("renewal")); err != nil {
					rerr = err
					return nil
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err := c.Read(make([]byte, 64))
				if !errors.Is(err, syscall.ECONNREFUSED) {
					continue
				}
				rerr = err
				return nil
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return rerr
	}
	if err := send(69); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("control: a datagram to an unbound port got %v, want ECONNREFUSED (no ICMP path: the check below would prove nothing)", err)
	}
	if err := send(67); err != nil {
		t.Errorf("a unicast datagram to the server port was refused: %v (the kernel answered ICMP port unreachable)", err)
	}
}
