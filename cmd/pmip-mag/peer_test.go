package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/transport"
)

// peer is a minimal LMA for the daemon's tests, built on internal/mh and
// the real raw transport: it answers every Proxy Binding Update with an
// accepting PBA (RFC 5213 5.3.6) carrying one home network prefix and one
// IPv4 home address per client (RFC 5844 3.2.2), fixed by the client's
// link-layer identifier, and records when each PBU arrived and each PBA
// left. With hold set, PBAs wait for release, so a test can have the
// client's DHCPDISCOVER and RS waiting at the MAG before the PBA leaves.
type peer struct {
	conn transport.Conn

	mu      sync.Mutex
	clients map[string]int // MAC -> index
	pbus    []pbuSeen
	pbas    map[string]time.Time // MAC -> departure of the last accepting PBA
	hold    bool
	held    map[string]heldPBA // MAC -> the PBA for the PBU in flight
	changed chan struct{}      // closed and replaced at every record
}

type pbuSeen struct {
	at       time.Time
	mac      string
	lifetime time.Duration
	seq      uint16
	hi       mh.HandoffIndicator
}

type heldPBA struct {
	pba  *mh.ProxyBindingAck
	from netip.AddrPort
}

// Addresses the peer assigns: client i gets 2001:db8:100:i::/64 and
// 10.20.0.(10+i)/24 with the default router 10.20.0.1.
func peerHNP(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, byte(i >> 8), byte(i)}), 64)
}

func peerHoA(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 20, byte((10 + i) >> 8), byte(10 + i)}), 24)
}

var peerRouter4 = netip.MustParseAddr("10.20.0.1")

// startPeer listens on addr inside ns and serves until the test ends.
func startPeer(t testing.TB, ns *nstest.NS, addr netip.Addr) *peer {
	t.Helper()
	p := &peer{clients: map[string]int{}, pbas: map[string]time.Time{}, held: map[string]heldPBA{}, changed: make(chan struct{})}
	if err := ns.Do(func() (err error) {
		// Kernel receive stamps: a PBU's arrival is when it reached the
		// LMA's socket, not when this goroutine got to read it.
		p.conn, err = transport.ListenRaw(addr, transport.Options{Timestamps: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serve(t)
	}()
	t.Cleanup(func() {
		p.conn.Close()
		<-done
	})
	return p
}

func (p *peer) serve(t testing.TB) {
	buf := make([]byte, transport.MaxMessageLen)
	msgs := make([]transport.Message, 1)
	for {
		msgs[0] = transport.Message{Buf: buf}
		_, err := p.conn.ReadBatch(msgs)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			t.Errorf("peer: read: %v", err)
			return
		}
		n, from, at := msgs[0].N, msgs[0].Addr, msgs[0].Time
		if at.IsZero() {
			at = time.Now() // a kernel without SO_TIMESTAMPNS
		}
		m, err := mh.Parse(buf[:n])
		if err != nil {
			t.Errorf("peer: MAG sent a bad mobility header: %v", err)
			continue
		}
		pbu, ok := m.(*mh.ProxyBindingUpdate)
		if !ok {
			continue // heartbeats are off in these tests
		}
		p.answer(t, pbu, from, at)
	}
}

func (p *peer) answer(t testing.TB, pbu *mh.ProxyBindingUpdate, from netip.AddrPort, at time.Time) {
	ll, ok := mh.FirstOption[*mh.MobileNodeLinkLayerID](pbu.Options)
	if !ok {
		t.Errorf("peer: PBU %d without a link-layer identifier", pbu.Sequence)
		return
	}
	mac := ll.ID.String()
	hi, _ := mh.FirstOption[*mh.HandoffIndicatorOption](pbu.Options)
	var hiv mh.HandoffIndicator
	if hi != nil {
		hiv = hi.HI
	}

	p.mu.Lock()
	i, known := p.clients[mac]
	if !known {
		i = len(p.clients)
		p.clients[mac] = i
	}
	p.pbus = append(p.pbus, pbuSeen{at: at, mac: mac, lifetime: pbu.Lifetime, seq: pbu.Sequence, hi: hiv})
	hold := p.hold && pbu.Lifetime > 0
	p.mu.Unlock()

	// RFC 5213 5.3.6: P flag, the PBU's sequence number, and the MN-ID,
	// HI, ATT, link-layer identifier and timestamp copied.
	a := &mh.ProxyBindingAck{Status: mh.StatusAccepted, Flags: mh.BAFlagP, Sequence: pbu.Sequence, Lifetime: pbu.Lifetime}
	for _, o := range pbu.Options {
		switch o := o.(type) {
		case *mh.MobileNodeIdentifier, *mh.HandoffIndicatorOption, *mh.AccessTechnologyTypeOption,
			*mh.MobileNodeLinkLayerID, *mh.Timestamp, *mh.LinkLocalAddress:
			a.Options = append(a.Options, o)
		case *mh.HomeNetworkPrefix:
			// RFC 5213 5.3.6: the prefix assigned (a request for ::/0
			// or for the one held gets it).
			a.Options = append(a.Options, &mh.HomeNetworkPrefix{Prefix: peerHNP(i)})
		case *mh.IPv4HomeAddressRequest:
			// RFC 5844 3.2.2: the address and its default router.
			a.Options = append(a.Options, &mh.IPv4HomeAddressReply{Status: mh.IPv4HoASuccess, Prefix: peerHoA(i)},
				&mh.IPv4DefaultRouterAddress{Addr: peerRouter4})
		}
	}
	if hold {
		p.mu.Lock()
		p.held[mac] = heldPBA{pba: a, from: from}
		p.notifyLocked()
		p.mu.Unlock()
		return
	}
	p.send(t, mac, a, from)
}

func (p *peer) send(t testing.TB, mac string, a *mh.ProxyBindingAck, to netip.AddrPort) {
	b, err := mh.Marshal(a)
	if err != nil {
		t.Errorf("peer: marshal PBA: %v", err)
		return
	}
	p.mu.Lock()
	p.pbas[mac] = time.Now()
	p.notifyLocked()
	p.mu.Unlock()
	if err := p.conn.WriteTo(b, to); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("peer: send PBA: %v", err)
	}
}

func (p *peer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// release sends the held PBA of mac and returns when it left.
func (p *peer) release(t testing.TB, mac string) (time.Time, error) {
	p.mu.Lock()
	h, ok := p.held[mac]
	delete(p.held, mac)
	p.mu.Unlock()
	if !ok {
		return time.Time{}, fmt.Errorf("no PBA held for %s", mac)
	}
	p.send(t, mac, h.pba, h.from)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pbas[mac], nil
}

// waitFor waits until cond, evaluated under the peer's lock, holds.
func (p *peer) waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		ok := cond()
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("peer: timed out after %v waiting for %s", timeout, what)
		}
	}
}

// registrations counts the PBUs with a nonzero lifetime for mac, and
// deregistrations those with lifetime 0. Call under p.mu.
func (p *peer) countLocked(mac string, dereg bool) int {
	n := 0
	for _, s := range p.pbus {
		if s.mac == mac && (s.lifetime == 0) == dereg {
			n++
		}
	}
	return n
}

// firstPBU returns the arrival of mac's first PBU.
func (p *peer) firstPBU(mac string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.pbus {
		if s.mac == mac {
			return s.at, true
		}
	}
	return time.Time{}, false
}

func (p *peer) index(mac string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.clients[mac]
	return i, ok
}
