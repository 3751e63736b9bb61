package dhcpserver_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
)

// TestMalformed: every kind of bad frame is dropped and counted; none is
// answered, none triggers the engine.
func TestMalformed(t *testing.T) {
	good := func() []byte { return bcastFrame(clientMAC, discover(t, clientMAC, false)) }
	for _, tc := range []struct {
		name      string
		frame     func() []byte
		malformed bool // else ignored
	}{
		{"empty", func() []byte { return nil }, true},
		{"ethernet only", func() []byte { return good()[:14] }, true},
		{"short ip", func() []byte { return good()[:30] }, true},
		{"truncated udp payload", func() []byte { return good()[:100] }, true},
		{"ip version 6", func() []byte { b := good(); b[14] = 0x65; return b }, true},
		{"ihl 4", func() []byte { b := good(); b[14] = 0x44; return b }, true},
		{"ip checksum", func() []byte { b := good(); b[14+10] ^= 0xff; return b }, true},
		{"udp checksum", func() []byte { b := good(); b[14+20+6] ^= 0xff; return b }, true},
		{"udp length", func() []byte { b := good(); binary.BigEndian.PutUint16(b[14+20+4:], 4); return b }, true},
		{"total length", func() []byte { b := good(); binary.BigEndian.PutUint16(b[14+2:], 10); return b }, true},
		{"group source mac", func() []byte { b := good(); b[6] |= 1; return b }, true},
		{"bad cookie", func() []byte {
			m := discover(t, clientMAC, false)
			p := m.ToBytes()
			p[236] = 0
			return dhcpservertest.UDPFrame(clientMAC, dhcpservertest.Broadcast, zero4, bcast4, 68, 67, p)
		}, true},
		{"option overruns", func() []byte {
			p := discover(t, clientMAC, false).ToBytes()[:240]
			p = append(p, 53, 1, 1, 12, 200, 'x')
			return dhcpservertest.UDPFrame(clientMAC, dhcpservertest.Broadcast, zero4, bcast4, 68, 67, p)
		}, true},
		{"chaddr spoofed", func() []byte {
			other := net.HardwareAddr{0x02, 9, 9, 9, 9, 9}
			return bcastFrame(clientMAC, discover(t, other, false))
		}, true},
		{"hlen 16", func() []byte {
			m := discover(t, append(append(net.HardwareAddr{}, clientMAC...), make([]byte, 10)...), false)
			return bcastFrame(clientMAC, m)
		}, true},
		{"request with nothing", func() []byte {
			return bcastFrame(clientMAC, request(t, clientMAC, dhcpv4.TransactionID{1}))
		}, true},
		{"fragment", func() []byte { b := good(); b[14+6] = 0x20; return fixIPChecksum(b) }, true},
		{"tcp", func() []byte { b := good(); b[14+9] = 6; b[14+10], b[14+11] = 0, 0; return fixIPChecksum(b) }, false},
		{"other port", func() []byte {
			return dhcpservertest.UDPFrame(clientMAC, dhcpservertest.Broadcast, zero4, bcast4, 68, 68, discover(t, clientMAC, false).ToBytes())
		}, false},
		{"arp", func() []byte { return dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), router) }, false},
		{"reply op", func() []byte {
			m := discover(t, clientMAC, false)
			m.OpCode = dhcpv4.OpcodeBootReply
			return bcastFrame(clientMAC, m)
		}, false},
		{"relayed", func() []byte {
			return bcastFrame(clientMAC, discover(t, clientMAC, false, dhcpv4.WithGatewayIP(net.IPv4(10, 0, 0, 1))))
		}, false},
		{"bootp", func() []byte {
			m := discover(t, clientMAC, false)
			m.Options.Del(dhcpv4.OptionDHCPMessageType)
			return bcastFrame(clientMAC, m)
		}, false},
		{"offer from a client", func() []byte {
			return bcastFrame(clientMAC, discover(t, clientMAC, false, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer)))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.eng.SetLease(clientMAC, testLease())
			h.process(tc.frame())
			h.noReply()
			st := h.srv.Stats()
			malformed, ignored := st.Malformed, st.Ignored-1 // one sentinel
			if tc.malformed && (malformed != 1 || ignored != 0) || !tc.malformed && (ignored != 1 || malformed != 0) {
				t.Errorf("malformed %d ignored %d, want malformed=%v", malformed, ignored, tc.malformed)
			}
			if n := len(h.eng.Seen()); n != 0 {
				t.Errorf("engine triggered %d times", n)
			}
		})
	}
}

func fixIPChecksum(b []byte) []byte {
	ip := b[14:34]
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return b
}

func randomMAC(r *rand.Rand) net.HardwareAddr {
	hw := make(net.HardwareAddr, 6)
	for i := range hw {
		hw[i] = byte(r.UintN(256))
	}
	hw[0] = hw[0]&^1 | 2 // unicast, locally administered
	return hw
}

// TestDiscoverFlood: a DISCOVER flood from random MACs costs at most
// MaxPending entries and engine calls at the trigger rate after
// TriggerBurst, while a client with a
// lease is still served and, once the flood's transactions expire or the
// bucket refills, new clients get through again (issue 4, "Bad input").
func TestDiscoverFlood(t *testing.T) {
	const (
		maxPending = 32
		burst      = 16
		flood      = 5000
	)
	h := newHarness(t, func(c *dhcpserver.Config) {
		c.MaxPending = maxPending
		c.TriggerBurst = burst
		c.TriggerRate = 10
		c.PendingTimeout = 30 * time.Second
	})
	h.eng.SetLease(clientMAC, testLease())
	r := rand.New(rand.NewPCG(1, 2))
	for i := range flood {
		hw := randomMAC(r)
		h.inject(bcastFrame(hw, discover(t, hw, false)))
		if i%100 == 50 {
			// Time moves, slowly: the bucket refills a little.
			h.clk.Advance(100 * time.Millisecond)
		}
		if i == flood/2 {
			h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
			if r := h.reply(); r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
				t.Fatalf("known client got %s during the flood", r.Msg.Summary())
			}
		}
	}
	h.process(sentinel)
	st := h.srv.Stats()
	if p := h.srv.Pending(); p > maxPending {
		t.Errorf("pending %d above MaxPending %d", p, maxPending)
	}
	// 5000 frames over 5 s of fake time at 10/s plus the burst.
	if st.Triggers > burst+60 {
		t.Errorf("%d triggers, want at most %d", st.Triggers, burst+60)
	}
	if st.NewClients+st.PendingFull != flood {
		t.Errorf("new clients %d + pending full %d != %d", st.NewClients, st.PendingFull, flood)
	}
	if st.Triggers > st.NewClients || st.Queued > st.NewClients {
		t.Errorf("%d triggers, %d queued of %d new clients", st.Triggers, st.Queued, st.NewClients)
	}
	if st.PendingFull == 0 || st.Queued == 0 {
		t.Errorf("expected both limits to act: %+v", st)
	}
	if n := len(h.eng.Seen()); uint64(n) != st.Triggers {
		t.Errorf("engine saw %d, server counted %d", n, st.Triggers)
	}

	// After the flood's transactions expire a new client is admitted.
	h.clk.Advance(time.Minute)
	newcomer := net.HardwareAddr{0x02, 0xaa, 0, 0, 0, 1}
	h.process(bcastFrame(newcomer, discover(t, newcomer, false)))
	if seen := h.eng.Seen(); seen[len(seen)-1].HardwareAddr.String() != newcomer.String() {
		t.Errorf("newcomer not admitted after the flood expired")
	}
	if p := h.srv.Pending(); p != 1 {
		t.Errorf("pending %d after expiry, want 1", p)
	}
}

// TestTriggerInterval: a retransmitting client triggers once per
// TriggerInterval, and its newest transaction is the one answered.
func TestTriggerInterval(t *testing.T) {
	h := newHarness(t, func(c *dhcpserver.Config) { c.TriggerInterval = 4 * time.Second })
	var last *dhcpv4.DHCPv4
	for range 3 {
		last = discover(t, clientMAC, false)
		h.process(bcastFrame(clientMAC, last))
		h.clk.Advance(time.Second)
	}
	if n := len(h.eng.Seen()); n != 1 {
		t.Errorf("%d triggers within the interval, want 1", n)
	}
	h.clk.Advance(2 * time.Second)
	h.process(bcastFrame(clientMAC, last))
	if n := len(h.eng.Seen()); n != 2 {
		t.Errorf("%d triggers after the interval, want 2", n)
	}
	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	if r := h.reply(); r.Msg.TransactionID != last.TransactionID {
		t.Errorf("answered xid %v, want the latest %v", r.Msg.TransactionID, last.TransactionID)
	}
}

// TestForget: a rejected registration drops the transaction.
func TestForget(t *testing.T) {
	h := newHarness(t, nil)
	h.process(bcastFrame(clientMAC, discover(t, clientMAC, false)))
	h.srv.Forget(clientMAC)
	h.srv.Forget(net.HardwareAddr{1})
	if h.srv.Pending() != 0 {
		t.Fatal("Forget kept the transaction")
	}
	h.eng.SetLease(clientMAC, testLease())
	h.srv.LeaseReady(clientMAC)
	h.noReply()
}

// TestARP: the responder answers a registered client for every address of
// its home subnet except its own, with the fixed router MAC.
func TestARP(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.SetLease(clientMAC, testLease())
	stranger := net.HardwareAddr{0x02, 0xde, 0xad, 0, 0, 1}
	h.eng.SetLease(stranger, dhcpserver.Lease{}) // invalid: never answered
	spoofed := dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), router)
	copy(spoofed[6:12], stranger)
	for _, tc := range []struct {
		name   string
		frame  []byte
		answer bool
	}{
		{"default router", dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), router), true},
		{"on-link neighbour", dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), netip.MustParseAddr("10.20.0.200")), true},
		{"own address", dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), homeAddr.Addr()), false},
		{"probe (RFC 5227)", dhcpservertest.ARPRequest(clientMAC, zero4, homeAddr.Addr()), false},
		{"probe for router", dhcpservertest.ARPRequest(clientMAC, zero4, router), false},
		{"off-link", dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), netip.MustParseAddr("10.21.0.1")), false},
		{"wrong sender address", dhcpservertest.ARPRequest(clientMAC, netip.MustParseAddr("10.20.0.18"), router), false},
		{"unregistered", dhcpservertest.ARPRequest(net.HardwareAddr{0x02, 1, 1, 1, 1, 1}, homeAddr.Addr(), router), false},
		{"bad lease", dhcpservertest.ARPRequest(stranger, homeAddr.Addr(), router), false},
		{"sha not source", spoofed, false},
		{"truncated", dhcpservertest.ARPRequest(clientMAC, homeAddr.Addr(), router)[:30], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.srv.Stats().ARPReplies
			h.processARP(tc.frame)
			var f dhcpservertest.Frame
			select {
			case f = <-h.aconn.Sent():
			default:
			}
			if got := f.Data != nil; got != tc.answer {
				t.Fatalf("answered %v, want %v", got, tc.answer)
			}
			if !tc.answer {
				return
			}
			if h.srv.Stats().ARPReplies != before+1 {
				t.Error("reply not counted")
			}
			r, err := dhcpservertest.ParseARPReply(f.Data)
			if err != nil {
				t.Fatal(err)
			}
			target := netip.AddrFrom4([4]byte(tc.frame[38:42]))
			if r.SHA.String() != routerMAC.String() || r.EthSrc.String() != routerMAC.String() || r.SPA != target ||
				r.THA.String() != clientMAC.String() || r.TPA != homeAddr.Addr() || r.EthDst.String() != clientMAC.String() ||
				f.To.String() != clientMAC.String() {
				t.Errorf("reply %+v to %v", r, f.To)
			}
		})
	}
}

// TestBurstQueues: new clients beyond the trigger burst queue instead of
// being dropped; the engine hears of them at the trigger rate, oldest
// first, and a queued client whose lease is ready meanwhile (another
// trigger registered it) is answered and not told again.
func TestBurstQueues(t *testing.T) {
	h := newHarness(t, func(c *dhcpserver.Config) {
		c.MaxPending = 1000
		c.TriggerBurst = 10
		c.TriggerRate = 5
	})
	macs := make([]net.HardwareAddr, 100)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, byte(i)}
		h.inject(bcastFrame(macs[i], discover(t, macs[i], false)))
	}
	h.process(sentinel)
	if n := len(h.eng.Seen()); n != 10 {
		t.Fatalf("%d clients told at once, want the burst of 10", n)
	}
	if st := h.srv.Stats(); st.Queued != 90 || st.PendingFull != 0 || st.NewClients != 100 {
		t.Errorf("stats %+v: want 90 queued, none dropped, 100 new", st)
	}
	// Client 50 gets its lease through another trigger while queued.
	h.eng.SetLease(macs[50], testLease())
	h.srv.LeaseReady(macs[50])
	if r := h.reply(); r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("queued client with a lease got %s", r.Msg.Summary())
	}
	h.clk.Advance(time.Second)
	if n := len(h.eng.Seen()); n != 15 {
		t.Fatalf("%d clients told after a second, want 15", n)
	}
	h.clk.Advance(17 * time.Second)
	var got, want []string
	for _, c := range h.eng.Seen() {
		got = append(got, c.HardwareAddr.String())
	}
	for i, m := range macs {
		if i != 50 {
			want = append(want, m.String())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clients told, in order (-want +got):\n%s", diff)
	}
	if p := h.srv.Pending(); p != 99 {
		t.Errorf("%d pending, want 99 waiting for their leases", p)
	}
}

// Issue 4: with the defaults, 64 DISCOVERs in the same instant all reach
// the engine at once.
func TestClassroomBurst(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 64 {
		hw := net.HardwareAddr{0x02, 0xcc, 0, 0, 0, byte(i)}
		h.inject(bcastFrame(hw, discover(t, hw, false)))
	}
	h.process(sentinel)
	if n := len(h.eng.Seen()); n != 64 {
		t.Errorf("%d of 64 clients told", n)
	}
}
