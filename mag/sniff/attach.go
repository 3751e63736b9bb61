package sniff

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/mag/l2"
)

// Offer submits a trigger from any source (the frame reader, the DHCP
// server, hostapd) to deduplication and the flood limits. It reports
// whether the trigger was new and went to OnAttach, which it calls before
// returning. The MAC is the key: a MAC already pending or registered is
// deduplicated.
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
	if !s.bucket.take(s.clk.Now()) {
		s.stats.DroppedRateLimited++
		n := s.stats.DroppedRateLimited
		s.mu.Unlock()
		if n&(n-1) == 0 {
			s.log.Warn("attach trigger dropped: rate limited", "mac", t.MAC, "dropped", n)
		}
		return false
	}
	s.pending[k] = t.At
	s.stats.Attaches++
	s.mu.Unlock()
	s.log.Info("attach trigger", "mac", t.MAC, "kind", t.Kind, "link_local", t.LinkLocal)
	s.cfg.OnAttach(t)
	return true
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
	delete(s.pending, k)
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

// tokenBucket is a rate limiter driven by the injected clock.
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *tokenBucket) take(now time.Time) bool {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
