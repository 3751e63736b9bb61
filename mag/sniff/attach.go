package sniff

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/openpmip/pmip/mag/l2"
)

// Offer submits a trigger from any source (the frame reader, the DHCP
// server, hostapd) to deduplication and the flood limits. It reports
// whether the trigger was new and went to OnAttach, which it calls before
// returning. The MAC is the key: a MAC already pending or registered is
// deduplicated.
//
// A new MAC takes a place in the pending set (at most MaxPending; beyond
// it the trigger is dropped and counted) and a token of the bucket that
// paces OnAttach (AttachRate per second after a burst of AttachBurst).
// Without a token it queues, in arrival order, and goes to OnAttach when
// one accrues (the clock's timer, on its goroutine; Offer then reports
// false): a burst of clients (an AP rebooting, a classroom) is registered
// in full, a flood of random MACs costs the engine no more than the rate
// and the pending set no more than its bound.
func (s *Sniffer) Offer(t Trigger) bool {
	k, ok := key(t.MAC)
	if !ok || !l2.IsUnicastMAC(t.MAC) {
		s.mu.Lock()
		s.stats.Ignored++
		s.mu.Unlock()
		return false
	}
	if t.At.IsZero() {
		t.At = s.clk.Now()
	}
	if t.Interface == "" {
		t.Interface = s.cfg.Interface
	}
	s.mu.Lock()
	if _, ok := s.tracked[k]; ok {
		s.stats.Deduplicated++
		s.mu.Unlock()
		return false
	}
	if _, ok := s.pending[k]; ok {
		s.stats.Deduplicated++
		s.mu.Unlock()
		return false
	}
	if len(s.pending) >= s.cfg.MaxPending {
		s.stats.DroppedPendingFull++
		n := s.stats.DroppedPendingFull
		s.mu.Unlock()
		if n&(n-1) == 0 { // log at powers of two, not per frame of a flood
			s.log.Warn("attach trigger dropped: pending table full", "mac", t.MAC, "max_pending", s.cfg.MaxPending, "dropped", n)
		}
		return false
	}
	p := &pendingMAC{since: t.At}
	s.pending[k] = p
	s.stats.Admitted++
	if len(s.queue) > 0 || !s.bucket.Allow(s.clk.Now()) {
		// Queued behind the clients before it, released by the pacer.
		p.t, p.queued = t, true
		s.queue = append(s.queue, k)
		s.stats.Queued++
		s.armReleaseLocked()
		s.mu.Unlock()
		return false
	}
	s.stats.Attaches++
	s.mu.Unlock()
	s.deliver(t)
	return true
}

// deliver hands one admitted trigger to the engine.
func (s *Sniffer) deliver(t Trigger) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("attach trigger", "mac", t.MAC, "kind", t.Kind, "link_local", t.LinkLocal)
	}
	s.cfg.OnAttach(t)
}

// armReleaseLocked arms the pacer for the head of the queue.
func (s *Sniffer) armReleaseLocked() {
	if s.release != nil || s.closed {
		return
	}
	s.release = s.clk.AfterFunc(s.bucket.Wait(s.clk.Now()), s.releaseQueued)
}

// releaseQueued delivers queued triggers, oldest first, as far as the
// bucket allows, and re-arms for the rest.
func (s *Sniffer) releaseQueued() {
	now := s.clk.Now()
	var out []Trigger
	s.mu.Lock()
	s.release = nil
	if s.closed {
		s.mu.Unlock()
		return
	}
	for len(s.queue) > 0 {
		p := s.pending[s.queue[0]]
		if p == nil || !p.queued {
			s.queue = s.queue[1:] // forgotten or expired while queued
			continue
		}
		if !s.bucket.Allow(now) {
			break
		}
		s.queue = s.queue[1:]
		out = append(out, p.t)
		p.t, p.queued = Trigger{}, false
		s.stats.Attaches++
	}
	if len(s.queue) == 0 {
		s.queue = nil
	} else {
		s.armReleaseLocked()
	}
	s.mu.Unlock()
	for _, t := range out {
		s.deliver(t)
	}
}

// Registered moves mac from pending to registered: its triggers are
// deduplicated from now on and its silence is watched. The engine calls it
// once the LMA accepted the binding. probes are addresses at which a silent
// client is asked whether it is still there before it is reported
// detached: its IPv6 link-local address (Neighbor Solicitation) and/or its
// IPv4 home address (ARP); other addresses are ignored. Calling it again
// for a registered MAC updates the probe addresses.
func (s *Sniffer) Registered(m net.HardwareAddr, probes ...netip.Addr) error {
	k, ok := key(m)
	if !ok {
		return fmt.Errorf("sniff: registered: bad MAC %q", m)
	}
	var ps []netip.Addr
	for _, a := range probes {
		if (a.Is6() && a.IsLinkLocalUnicast()) || (a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
			ps = append(ps, a)
		}
	}
	s.mu.Lock()
	if c, ok := s.tracked[k]; ok {
		c.probes = ps
		s.mu.Unlock()
		return nil
	}
	if len(s.tracked) >= s.cfg.MaxTracked {
		s.mu.Unlock()
		return fmt.Errorf("sniff: %s: %w", m, ErrFull)
	}
	delete(s.pending, k) // a queued trigger is then skipped
	// Seen now: registration followed a trigger from it.
	s.tracked[k] = &tracked{lastSeen: s.clk.Now(), seen: true, probes: ps}
	s.mu.Unlock()
	return nil
}

// Forget drops mac from pending and registered (detach, deregistration,
// refused registration); its next trigger attaches it anew.
func (s *Sniffer) Forget(m net.HardwareAddr) {
	k, ok := key(m)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.pending, k)
	if c, ok := s.tracked[k]; ok {
		s.stopProbing(c)
		delete(s.tracked, k)
		if !c.seen && s.cfg.DetachTimeout > 0 {
			s.dirty = true
		}
	}
	s.mu.Unlock()
	s.refreshFilter()
}
