package sniff

import (
	"encoding/binary"
	"net/netip"

	"github.com/openpmip/pmip/mag/l2"
)

// A registered client silent for DetachTimeout is not reported at once: it
// is probed first, as Neighbor Unreachability Detection probes a neighbor
// (RFC 4861 7.3.3): up to ProbeCount unicast solicitations, ProbeInterval
// apart. Any frame from it, the answer included, ends the round (the
// filter lists it as unseen, so its answer reaches HandleFrame); a client
// that stays silent through the round is reported detached. RFC 5213 6.13
// leaves the means of detecting detachment to the access technology; this
// is the fallback when hostapd says nothing.

// startProbing begins a probe round for c and returns its first probes.
// Called with s.mu held.
func (s *Sniffer) startProbing(k mac, c *tracked) [][]byte {
	c.probing = true
	c.probesSent = 0
	return s.nextProbe(k, c)
}

// nextProbe builds one probe per address, counts it and arms the timer
// that sends the next or gives up. Called with s.mu held.
func (s *Sniffer) nextProbe(k mac, c *tracked) [][]byte {
	var frames [][]byte
	for _, a := range c.probes {
		f, err := s.probeFrame(k, a)
		if err != nil {
			s.log.Error("build probe", "mac", k[:], "addr", a, "err", err)
			continue
		}
		frames = append(frames, f)
	}
	c.probesSent++
	s.stats.Probes += uint64(len(frames))
	c.probeGen++
	gen := c.probeGen
	c.probeTimer = s.clk.AfterFunc(s.cfg.ProbeInterval, func() { s.probeTimeout(k, gen) })
	return frames
}

func (s *Sniffer) stopProbing(c *tracked) {
	if c.probeTimer != nil {
		c.probeTimer.Stop()
		c.probeTimer = nil
	}
	c.probeGen++
	c.probing = false
}

// probeTimeout runs ProbeInterval after a probe went unanswered.
func (s *Sniffer) probeTimeout(k mac, gen uint64) {
	now := s.clk.Now()
	s.mu.Lock()
	c, ok := s.tracked[k]
	if s.closed || !ok || !c.probing || c.probeGen != gen {
		s.mu.Unlock()
		return
	}
	c.probeTimer = nil
	if c.probesSent < s.cfg.ProbeCount {
		frames := s.nextProbe(k, c)
		s.mu.Unlock()
		s.sendProbes(frames)
		return
	}
	d := s.detach(k, c, now)
	s.mu.Unlock()
	s.report([]Detach{d})
}

func (s *Sniffer) sendProbes(frames [][]byte) {
	for _, f := range frames {
		if err := s.cfg.Conn.WriteFrame(f); err != nil {
			s.log.Warn("send probe", "err", err)
		}
	}
}

// probeFrame builds a unicast probe for a: a Neighbor Solicitation for an
// IPv6 link-local address (RFC 4861 7.2.2: unicast to the neighbor, with
// our link-layer address so the answer needs no resolution), an ARP
// request for an IPv4 address (RFC 826), sent like an RFC 5227 2.1.1 probe
// (sender protocol address 0.0.0.0: the MAG need not own an IPv4 address
// on the link, and hosts answer such requests for their own address).
func (s *Sniffer) probeFrame(k mac, a netip.Addr) ([]byte, error) {
	dst := k[:]
	if a.Is6() {
		ns := &l2.NeighborSolicitation{
			TargetAddress: a,
			Options:       []l2.Option{&l2.LinkLayerAddress{Direction: l2.Source, Addr: s.cfg.RouterMAC}},
		}
		return l2.AppendND(nil, s.cfg.RouterMAC, dst, s.cfg.RouterLinkLocal, a, ns)
	}
	f := make([]byte, 0, l2.EthernetHeaderLen+28)
	f = append(f, dst...)
	f = append(f, s.cfg.RouterMAC...)
	f = binary.BigEndian.AppendUint16(f, l2.EtherTypeARP)
	f = append(f, 0, 1, 0x08, 0x00, 6, 4, 0, 1) // Ethernet, IPv4, hlen 6, plen 4, request
	f = append(f, s.cfg.RouterMAC...)
	f = append(f, 0, 0, 0, 0) // sender protocol address: none
	f = append(f, 0, 0, 0, 0, 0, 0)
	t := a.As4()
	return append(f, t[:]...), nil
}
