// Package sniff detects clients attaching to and leaving a MAG's access
// link from the frames they send (RFC 5213 6.9.1.1: the MAG detects the
// mobile node's attachment; issue 4, "Attach and detach detection").
//
// A packet socket with a classic BPF filter (filter.go) lifts into userspace
// only the frames that announce a client: ICMPv6 Router Solicitations,
// Duplicate Address Detection probes and DHCPv4 DISCOVER/REQUEST. The first
// such frame from a MAC that is neither pending nor registered becomes one
// Attach trigger; later triggers for that MAC are deduplicated, so one
// client gets one registration whichever of its frames (or the DHCP server
// or hostapd, through Offer) came first. The same filter also lets through
// the Ethernet header of one frame per registered client per last-seen
// interval, which is how a client that falls silent past DetachTimeout is
// noticed; it is then probed as Neighbor Unreachability Detection would
// (probe.go) and reported detached only if it does not answer (RFC 5213
// 6.13 leaves detection to the access technology; silence is the fallback
// when hostapd says nothing).
//
// State is bounded against floods: at most MaxPending unregistered MACs
// wait for the engine, attach triggers are rate limited by a token bucket,
// and every drop is counted (Stats).
package sniff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/mag/l2"
)

// Kind says what made the MAG notice a client.
type Kind uint8

// Trigger kinds. The last two are for triggers other components Offer.
const (
	KindRouterSolicitation Kind = iota + 1 // ICMPv6 RS (RFC 4861 4.1)
	KindDAD                                // NS from :: (RFC 4862 5.4.2)
	KindDHCPDiscover                       // DHCPDISCOVER (RFC 2131 3.1)
	KindDHCPRequest                        // DHCPREQUEST (RFC 2131 3.1, 3.2)
	KindDHCPServer                         // offered by the DHCP server
	KindStation                            // offered from a hostapd station event
)

func (k Kind) String() string {
	switch k {
	case KindRouterSolicitation:
		return "router-solicitation"
	case KindDAD:
		return "dad"
	case KindDHCPDiscover:
		return "dhcp-discover"
	case KindDHCPRequest:
		return "dhcp-request"
	case KindDHCPServer:
		return "dhcp-server"
	case KindStation:
		return "station"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Trigger is one client seen attaching. MAC is the deduplication key.
type Trigger struct {
	MAC       net.HardwareAddr
	Interface string
	Kind      Kind
	// LinkLocal is the client's link-local address when the trigger showed
	// it: an RS's source, a DAD probe's target.
	LinkLocal netip.Addr
	// Address is a non-link-local DAD target (the client probing an
	// address it configured, e.g. after a handover).
	Address netip.Addr
	// ClientID is the DHCP client identifier (RFC 2132 9.14), if sent.
	ClientID []byte
	At       time.Time
}

// Detach reports a registered client silent for longer than DetachTimeout.
type Detach struct {
	MAC       net.HardwareAddr
	Interface string
	LastSeen  time.Time
	At        time.Time
}

// Defaults of Config.
const (
	DefaultMaxPending     = 64
	DefaultPendingTimeout = 30 * time.Second
	DefaultAttachRate     = 20 // triggers per second
	DefaultAttachBurst    = 32
	DefaultMaxTracked     = 512
	DefaultProbeCount     = 3           // RFC 4861 10: MAX_UNICAST_SOLICIT
	DefaultProbeInterval  = time.Second // RFC 4861 10: RETRANS_TIMER
	// MinSeenInterval bounds how often the filter is reloaded.
	MinSeenInterval = time.Second
)

// Config configures a Sniffer. Conn, Interface, OnAttach are required.
type Config struct {
	Interface string
	Conn      l2.Conn
	Clock     clock.Clock  // nil: clock.Real
	Logger    *slog.Logger // nil: discard
	// OnAttach receives each deduplicated trigger; OnDetach each silent
	// client. They run on the sniffer's goroutines (the frame reader, the
	// timer) without its lock held, so they may call Registered, Forget or
	// Offer; they should not block for long.
	OnAttach func(Trigger)
	OnDetach func(Detach)
	// Ignore lists source MACs that never trigger (the MAG's own: the
	// interface's address and the fixed router address of RFC 5213 6.9.3).
	Ignore []net.HardwareAddr
	// MaxPending caps MACs triggered but neither Registered nor Forgotten.
	MaxPending int
	// PendingTimeout forgets a pending MAC the engine never answered for,
	// so it may trigger again.
	PendingTimeout time.Duration
	// AttachRate (per second) and AttachBurst shape the token bucket that
	// attach triggers draw from.
	AttachRate  float64
	AttachBurst int
	// DetachTimeout is the silence after which a registered client is
	// reported detached; 0 disables silence detection.
	DetachTimeout time.Duration
	// SeenInterval is how long one frame proves a client alive: the filter
	// passes one frame per registered client per interval. Default
	// DetachTimeout/4, at least MinSeenInterval.
	SeenInterval time.Duration
	// MaxTracked caps registered clients (the filter lists each).
	MaxTracked int
	// ProbeCount and ProbeInterval: before reporting a silent client that
	// Registered gave probe addresses, ask it up to ProbeCount times,
	// ProbeInterval apart (unicast NS to its link-local, ARP request for
	// its IPv4 address), as Neighbor Unreachability Detection does (RFC
	// 4861 7.3.3: MAX_UNICAST_SOLICIT 3, RETRANS_TIMER 1 s, the defaults).
	// A sleeping phone answers; a departed one does not. Negative
	// ProbeCount: never probe.
	ProbeCount    int
	ProbeInterval time.Duration
	// RouterMAC and RouterLinkLocal are the source of probes, the fixed
	// router identity (default l2.FixedRouterMAC, l2.FixedRouterLinkLocal),
	// so that answers come back to the address the clients already use.
	// RouterMAC is also ignored as a trigger source.
	RouterMAC       net.HardwareAddr
	RouterLinkLocal netip.Addr
}

// Stats counts what the sniffer saw and what it dropped.
type Stats struct {
	Frames             uint64 // frames read
	Attaches           uint64 // triggers delivered to OnAttach
	Deduplicated       uint64 // triggers for a MAC already pending or registered
	DroppedPendingFull uint64 // triggers dropped: MaxPending reached
	DroppedRateLimited uint64 // triggers dropped: token bucket empty
	Malformed          uint64 // frames that failed to parse
	Invalid            uint64 // ND messages failing RFC 4861 checks
	NotTrigger         uint64 // frames passed whole that carried no trigger
	Ignored            uint64 // frames from Ignore MACs or bad source MACs
	Seen               uint64 // frames that refreshed a registered client
	PendingExpired     uint64 // pending MACs forgotten after PendingTimeout
	Probes             uint64 // probes sent to silent clients
	ProbeAnswered      uint64 // silent clients that answered a probe
	Detached           uint64 // silent clients reported
	FilterUpdates      uint64
	FilterErrors       uint64
}

// ErrFull is returned by Registered when MaxTracked clients are registered.
var ErrFull = errors.New("sniff: registered client table full")

type mac = [6]byte

type tracked struct {
	lastSeen time.Time
	seen     bool // heard from in the current interval
	// probe addresses (an IPv6 link-local, an IPv4 address) and the state
	// of a probe round (probe.go).
	probes     []netip.Addr
	probing    bool
	probesSent int
	probeTimer clock.Timer
	probeGen   uint64
}

// Sniffer turns access-link frames into attach and detach events.
type Sniffer struct {
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger
	ignore map[mac]bool

	mu      sync.Mutex
	pending map[mac]time.Time // MAC -> when it triggered
	tracked map[mac]*tracked
	bucket  tokenBucket
	stats   Stats
	timer   clock.Timer
	closed  bool
	// dirty: the filter no longer matches tracked/seen; filterMu
	// serialises reloads so an older program never overwrites a newer one.
	dirty    bool
	filterMu sync.Mutex
}

// New validates cfg, installs the initial filter on cfg.Conn and starts the
// last-seen timer. Call Run to read frames.
func New(cfg Config) (*Sniffer, error) {
	if cfg.Conn == nil {
		return nil, errors.New("sniff: Config.Conn is required")
	}
	if cfg.OnAttach == nil {
		return nil, errors.New("sniff: Config.OnAttach is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = DefaultPendingTimeout
	}
	if cfg.AttachRate <= 0 {
		cfg.AttachRate = DefaultAttachRate
	}
	if cfg.AttachBurst <= 0 {
		cfg.AttachBurst = DefaultAttachBurst
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	if cfg.MaxTracked > maxFilterMACs {
		return nil, fmt.Errorf("sniff: MaxTracked %d above the filter's %d", cfg.MaxTracked, maxFilterMACs)
	}
	if cfg.DetachTimeout < 0 {
		return nil, fmt.Errorf("sniff: negative DetachTimeout %s", cfg.DetachTimeout)
	}
	switch {
	case cfg.ProbeCount == 0:
		cfg.ProbeCount = DefaultProbeCount
	case cfg.ProbeCount < 0:
		cfg.ProbeCount = 0
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.RouterMAC == nil {
		cfg.RouterMAC = l2.FixedRouterMAC
	}
	if !l2.IsUnicastMAC(cfg.RouterMAC) {
		return nil, fmt.Errorf("sniff: router MAC %s is not a unicast address", cfg.RouterMAC)
	}
	if !cfg.RouterLinkLocal.IsValid() {
		cfg.RouterLinkLocal = l2.FixedRouterLinkLocal
	}
	if !cfg.RouterLinkLocal.Is6() || !cfg.RouterLinkLocal.IsLinkLocalUnicast() {
		return nil, fmt.Errorf("sniff: router address %s is not an IPv6 link-local address", cfg.RouterLinkLocal)
	}
	if cfg.SeenInterval <= 0 {
		cfg.SeenInterval = cfg.DetachTimeout / 4
	}
	cfg.SeenInterval = max(cfg.SeenInterval, MinSeenInterval)
	s := &Sniffer{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger.With("iface", cfg.Interface),
		ignore:  make(map[mac]bool),
		pending: make(map[mac]time.Time),
		tracked: make(map[mac]*tracked),
	}
	s.bucket = newTokenBucket(cfg.AttachRate, cfg.AttachBurst, s.clk.Now())
	for _, m := range append(cfg.Ignore, cfg.RouterMAC) {
		if k, ok := key(m); ok {
			s.ignore[k] = true
		}
	}
	if err := cfg.Conn.SetFilter(buildFilter(nil)); err != nil {
		return nil, fmt.Errorf("sniff: %w", err)
	}
	s.mu.Lock()
	s.timer = s.clk.AfterFunc(s.tickInterval(), s.tick)
	s.mu.Unlock()
	return s, nil
}

func key(m net.HardwareAddr) (mac, bool) {
	if len(m) != 6 {
		return mac{}, false
	}
	return mac(m), true
}

// tickInterval: the timer drives last-seen intervals, detach and pending
// expiry; it ticks at the finer of the two periods.
func (s *Sniffer) tickInterval() time.Duration {
	d := s.cfg.PendingTimeout / 2
	if s.cfg.DetachTimeout > 0 {
		d = min(d, s.cfg.SeenInterval)
	}
	return max(d, MinSeenInterval)
}

// Run reads frames until ctx ends or the conn fails, then closes the conn.
func (s *Sniffer) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	buf := make([]byte, 2048)
	for {
		n, err := s.cfg.Conn.ReadFrame(buf)
		if err != nil {
			s.Close()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return ctx.Err()
			}
			return fmt.Errorf("sniff: %w", err)
		}
		s.HandleFrame(buf[:n])
	}
}

// Close stops the timer and closes the conn.
func (s *Sniffer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.timer.Stop()
	for _, c := range s.tracked {
		s.stopProbing(c)
	}
	s.mu.Unlock()
	return s.cfg.Conn.Close()
}

// HandleFrame processes one frame as the filter delivered it (whole, or cut
// to its Ethernet header). Run calls it; tests may too.
func (s *Sniffer) HandleFrame(frame []byte) {
	now := s.clk.Now()
	s.mu.Lock()
	s.stats.Frames++
	eth, err := l2.ParseEthernet(frame)
	if err != nil {
		s.stats.Malformed++
		s.mu.Unlock()
		return
	}
	k, _ := key(eth.Src)
	if !l2.IsUnicastMAC(eth.Src) || s.ignore[k] {
		s.stats.Ignored++
		s.mu.Unlock()
		return
	}
	if c, ok := s.tracked[k]; ok {
		// Any frame of a registered client proves it alive; its triggers
		// (an RS, a DHCP renewal) are not new attachments.
		c.lastSeen = now
		s.stats.Seen++
		if c.probing {
			s.stopProbing(c)
			s.stats.ProbeAnswered++
		}
		if !c.seen && s.cfg.DetachTimeout > 0 {
			c.seen = true
			s.dirty = true
		}
		s.mu.Unlock()
		s.refreshFilter()
		return
	}
	s.mu.Unlock()
	if len(frame) <= snapSeen {
		// Cut by a filter listing a client since forgotten.
		return
	}
	t, err := classify(frame)
	if err != nil {
		s.mu.Lock()
		switch {
		case errors.Is(err, errNotTrigger):
			s.stats.NotTrigger++
		case errors.Is(err, l2.ErrInvalidND):
			s.stats.Invalid++
		default:
			s.stats.Malformed++
		}
		s.mu.Unlock()
		s.log.Debug("frame dropped", "src", eth.Src, "err", err)
		return
	}
	t.MAC = append(net.HardwareAddr(nil), t.MAC...)
	t.Interface = s.cfg.Interface
	t.At = now
	s.Offer(t)
}

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

// Stats returns a snapshot of the counters.
func (s *Sniffer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Pending returns how many MACs wait for the engine.
func (s *Sniffer) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

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
	for k, since := range s.pending {
		if now.Sub(since) >= s.cfg.PendingTimeout {
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
