package ra

import (
	"net/netip"
	"time"

	"github.com/openpmip/pmip/mag/l2"
)

// allNodes is the link-scope all-nodes group (RFC 4291 2.7.1).
var allNodes = netip.MustParseAddr("ff02::1")

// HandleFrame processes one frame from the conn: a Router Solicitation from
// a served client schedules an answer. Run calls it; tests may too.
func (a *Advertiser) HandleFrame(frame []byte) {
	nd, err := l2.ParseND(frame)
	now := a.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.stats.RSInvalid++
		return
	}
	if _, ok := nd.Message.(*l2.RouterSolicitation); !ok {
		return
	}
	a.stats.RSReceived++
	k, _ := key(nd.Eth.Src)
	c, ok := a.clients[k]
	if !ok || c.withdrawing || a.closed {
		// RFC 5213 6.7: the MAG advertises the prefixes the LMA assigned,
		// known only from the PBA (6.9.1.1): before it, nothing to say.
		// The attach sniffer reports the RS.
		a.stats.RSUnknown++
		return
	}
	if src := nd.IP.Src; src.IsLinkLocalUnicast() {
		c.linkLocal = src
	}
	// RFC 4861 6.2.6, adapted to one unicast answer per client: delay by a
	// random time in [0, MAX_RA_DELAY_TIME], and never answer sooner than
	// MIN_DELAY_BETWEEN_RAS after the last RA to this client (a client
	// repeating solicitations gets one answer per interval).
	var delay time.Duration
	if a.cfg.MaxRADelay > 0 {
		delay = time.Duration(a.rnd.Int64N(int64(a.cfg.MaxRADelay) + 1))
	}
	base := now
	if !c.lastSent.IsZero() && now.Sub(c.lastSent) < a.cfg.MinDelayBetweenRAs {
		base = c.lastSent.Add(a.cfg.MinDelayBetweenRAs)
	}
	at := base.Add(delay)
	// RFC 4861 6.2.6: if the next scheduled advertisement comes sooner, it
	// answers the solicitation.
	if !c.next.After(at) {
		return
	}
	a.arm(c, now, at)
	c.solicited = true
}

// send writes one RA to c. Lifetimes are what remains of the binding, so
// the client never holds a prefix or default router beyond it (RFC 5213
// 6.7 emulates the home link only while the binding lasts).
func (a *Advertiser) send(c *client, now time.Time, solicited bool) error {
	return a.sendBurst(nil, false, c, now, solicited)
}

// sendBurst is send, with first and, if announce, the unsolicited Neighbor
// Advertisement (AnnounceRouter) written before the RA in one
// l2.Conn.WriteFrames call (ServeAnnounced). Everything is built before
// the write, so nothing runs between the frames.
func (a *Advertiser) sendBurst(first [][]byte, announce bool, c *client, now time.Time, solicited bool) error {
	remaining := c.deadline.Sub(now).Truncate(time.Second)
	if c.withdrawing || remaining < 0 {
		remaining = 0
	}
	ra := &l2.RouterAdvertisement{
		CurrentHopLimit: a.cfg.AdvCurHopLimit,
		// RFC 4861 6.2.3: Router Lifetime is AdvDefaultLifetime; here never
		// beyond the binding, and 0 in a final RA (6.2.5).
		RouterLifetime:  min(a.cfg.AdvDefaultLifetime, remaining),
		ReachableTime:   a.cfg.AdvReachableTime,
		RetransmitTimer: a.cfg.AdvRetransTimer,
		Options: []l2.Option{
			// RFC 4861 4.2, 6.2.3: the source link-layer address; RFC 5213
			// 6.9.3: the fixed one every MAG shares.
			&l2.LinkLayerAddress{Direction: l2.Source, Addr: a.cfg.RouterMAC},
		},
	}
	if a.cfg.AdvLinkMTU != 0 {
		ra.Options = append(ra.Options, &l2.MTU{MTU: a.cfg.AdvLinkMTU})
	}
	for _, p := range c.prefixes {
		ra.Options = append(ra.Options, pio(p, remaining))
	}
	withdrawn := c.finalLeft > 0 && len(c.withdrawn) > 0
	if withdrawn {
		// RFC 5213 6.12: a prefix no longer the client's is withdrawn with
		// zero lifetimes (RFC 4862 5.5.3 (c), (e): deprecated at once, and
		// invalidated within two hours or its remaining lifetime).
		for _, p := range c.withdrawn {
			ra.Options = append(ra.Options, pio(p, 0))
		}
	}
	if len(a.cfg.RDNSS) > 0 {
		// RFC 8106 5.1: a lifetime of 0 tells the client to stop using the
		// servers; otherwise bounded like the router lifetime.
		ra.Options = append(ra.Options, &l2.RecursiveDNSServer{
			Lifetime: ra.RouterLifetime,
			Servers:  a.cfg.RDNSS,
		})
	}
	dst := c.linkLocal
	if !dst.IsValid() {
		// RFC 6085 2: an IPv6 multicast packet may be sent to a layer-2
		// unicast address; only this client receives it.
		dst = allNodes
	}
	frame, err := l2.AppendND(a.buf[:0], a.cfg.RouterMAC, c.mac, a.cfg.RouterLinkLocal, dst, ra)
	if err != nil {
		// Inputs were validated by New and Serve: a broken invariant.
		a.stats.WriteErrors++
		a.log.Error("build router advertisement", "mac", c.mac, "err", err)
		if len(first) > 0 {
			// The other components' frames are not ours to drop.
			_ = a.cfg.Conn.WriteFrames(first)
		}
		return err
	}
	a.buf = frame[:0]
	if len(first) == 0 && !announce {
		err = a.cfg.Conn.WriteFrame(frame)
	} else {
		burst := append(a.burst[:0], first...)
		var na []byte
		if announce {
			var naErr error
			if na, naErr = a.appendAnnouncement(a.naBuf[:0], c.mac); naErr != nil {
				// The router identity was validated by New: a broken
				// invariant; the other frames still go.
				a.log.Error("build neighbor advertisement", "mac", c.mac, "err", naErr)
				na = nil
			} else {
				a.naBuf = na[:0]
				burst = append(burst, na)
			}
		}
		burst = append(burst, frame)
		err = a.cfg.Conn.WriteFrames(burst)
		clear(burst)
		a.burst = burst[:0]
		if err == nil && na != nil {
			a.stats.Announced++
		}
	}
	if err != nil {
		a.stats.WriteErrors++
		a.log.Warn("send router advertisement", "mac", c.mac, "err", err)
		return err
	}
	if withdrawn || c.withdrawing {
		c.finalLeft--
		if c.finalLeft <= 0 && !c.withdrawing {
			c.withdrawn = nil
		}
	}
	c.lastSent = now
	a.stats.Sent++
	if solicited {
		a.stats.Solicited++
	}
	if c.withdrawing {
		a.stats.Final++
	}
	a.log.Debug("router advertisement sent", "mac", c.mac, "dst", dst, "prefixes", c.prefixes,
		"router_lifetime", ra.RouterLifetime, "solicited", solicited, "final", c.withdrawing)
	return nil
}

// pio is the Prefix Information option of a home network prefix (RFC 4861
// 4.6.2): on-link (L, RFC 4861 6.3.4) and, for a /64, autonomous (A: RFC
// 4862 5.5.3 (d) forms addresses only when prefix and interface identifier
// lengths add up to 128). Preferred and valid lifetimes are equal: RFC
// 4862 5.5.3 (c) ignores an option whose preferred lifetime exceeds the
// valid one.
func pio(p netip.Prefix, lifetime time.Duration) *l2.PrefixInformation {
	return &l2.PrefixInformation{
		PrefixLength:                   uint8(p.Bits()),
		OnLink:                         true,
		AutonomousAddressConfiguration: p.Bits() == 64,
		ValidLifetime:                  lifetime,
		PreferredLifetime:              lifetime,
		Prefix:                         p.Addr(),
	}
}

// schedule arms c's timer for its next unsolicited RA (RFC 4861 6.2.4: a
// random interval in [MinRtrAdvInterval, MaxRtrAdvInterval], at most
// MAX_INITIAL_RTR_ADVERT_INTERVAL for the first
// MAX_INITIAL_RTR_ADVERTISEMENTS), for the binding's end if that comes
// first, or for the next final RA of a withdrawal.
func (a *Advertiser) schedule(c *client, now time.Time) {
	if c.withdrawing {
		if c.finalLeft <= 0 {
			a.stopTimer(c)
			delete(a.clients, macKey(c.mac))
			return
		}
		// Final RAs spaced like solicited ones (RFC 4861 6.2.5 leaves the
		// spacing open).
		a.arm(c, now, now.Add(a.cfg.MinDelayBetweenRAs))
		return
	}
	lo, hi := int64(a.cfg.MinRtrAdvInterval), int64(a.cfg.MaxRtrAdvInterval)
	d := time.Duration(lo + a.rnd.Int64N(hi-lo+1))
	if c.initialLeft > 0 {
		d = min(d, MaxInitialRtrAdvertInterval)
	}
	at := now.Add(d)
	if at.After(c.deadline) {
		at = c.deadline
	}
	a.arm(c, now, at)
}

// arm (re)sets c's single timer to fire at at.
func (a *Advertiser) arm(c *client, now, at time.Time) {
	a.stopTimer(c)
	gen := c.gen
	c.next = at
	c.solicited = false
	c.timer = a.clk.AfterFunc(at.Sub(now), func() { a.fire(c, gen) })
}

func (a *Advertiser) stopTimer(c *client) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.gen++
}

// fire runs c's timer: a periodic, solicited or final RA, or the end of an
// unrefreshed binding.
func (a *Advertiser) fire(c *client, gen uint64) {
	now := a.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || c.gen != gen || a.clients[macKey(c.mac)] != c {
		return // stopped or superseded
	}
	c.timer = nil
	if !c.withdrawing && !now.Before(c.deadline) {
		// The binding ended and the engine did not refresh it: the MAG no
		// longer forwards for this client, so it must not stay its router.
		a.stats.Expired++
		a.log.Warn("binding lifetime over without refresh: withdrawing", "mac", c.mac, "prefixes", c.prefixes)
		a.beginWithdraw(c, now)
		return
	}
	solicited := c.solicited
	if !solicited && !c.withdrawing && c.initialLeft > 0 {
		c.initialLeft--
	}
	a.send(c, now, solicited)
	a.schedule(c, now)
}
