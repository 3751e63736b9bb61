package sniff

import (
	"net"
	"slices"
	"time"
)

// tick ends a last-seen interval: it reports registered clients silent
// past DetachTimeout, forgets pending MACs older than PendingTimeout, and
// re-arms the filter for every registered client.
func (s *Sniffer) tick() {
	now := s.clk.Now()
	var detached []Detach
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for k, p := range s.pending {
		if now.Sub(p.since) >= s.cfg.PendingTimeout {
			delete(s.pending, k)
			s.stats.PendingExpired++
		}
	}
	var probes [][]byte
	if s.cfg.DetachTimeout > 0 {
		for k, c := range s.tracked {
			if c.probing {
				continue // the probe timer decides
			}
			if now.Sub(c.lastSeen) >= s.cfg.DetachTimeout {
				if s.cfg.ProbeCount > 0 && len(c.probes) > 0 {
					probes = append(probes, s.startProbing(k, c)...)
					continue
				}
				detached = append(detached, s.detach(k, c, now))
				continue
			}
			if c.seen {
				c.seen = false
				s.dirty = true
			}
		}
	}
	s.timer = s.clk.AfterFunc(s.tickInterval(), s.tick)
	s.mu.Unlock()
	s.refreshFilter()
	s.sendProbes(probes)
	s.report(detached)
}

// detach removes a silent client; the caller reports the result after
// unlocking.
func (s *Sniffer) detach(k mac, c *tracked, now time.Time) Detach {
	s.stopProbing(c)
	delete(s.tracked, k)
	s.stats.Detached++
	return Detach{
		MAC: net.HardwareAddr(append([]byte(nil), k[:]...)), Interface: s.cfg.Interface,
		LastSeen: c.lastSeen, At: now,
	}
}

func (s *Sniffer) report(detached []Detach) {
	for _, d := range detached {
		s.log.Info("client silent: detach", "mac", d.MAC, "last_seen", d.LastSeen)
		if s.cfg.OnDetach != nil {
			s.cfg.OnDetach(d)
		}
	}
}

// refreshFilter reloads the filter if tracked or seen changed.
func (s *Sniffer) refreshFilter() {
	s.filterMu.Lock()
	defer s.filterMu.Unlock()
	s.mu.Lock()
	if !s.dirty || s.closed {
		s.mu.Unlock()
		return
	}
	s.dirty = false
	var unseen []mac
	if s.cfg.DetachTimeout > 0 {
		for k, c := range s.tracked {
			if !c.seen {
				unseen = append(unseen, k)
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(unseen, func(a, b mac) int { return slices.Compare(a[:], b[:]) })
	err := s.cfg.Conn.SetFilter(buildFilter(unseen))
	s.mu.Lock()
	if err != nil {
		s.stats.FilterErrors++
		s.dirty = true // retried at the next change or tick
	} else {
		s.stats.FilterUpdates++
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("filter reload failed", "err", err)
	}
}
