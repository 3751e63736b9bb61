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
// wait for the engine, beyond which triggers are dropped and counted
// (Stats); attach triggers reach the engine paced by a token bucket, a
// burst beyond it queuing in arrival order rather than being dropped.
package sniff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/ratelimit"
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
	DefaultAttachRate     = 20 // triggers per second, after the burst
	DefaultAttachBurst    = DefaultMaxPending
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
	// MaxPending caps MACs triggered (or queued for the engine) but
	// neither Registered nor Forgotten; triggers from new MACs beyond it
	// are dropped and counted.
	MaxPending int
	// PendingTimeout forgets a pending MAC the engine never answered for,
	// so it may trigger again.
	PendingTimeout time.Duration
	// AttachRate (per second) and AttachBurst shape the token bucket that
	// paces attach triggers to the engine; a trigger without a token
	// queues (within MaxPending) until one accrues.
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
	Admitted           uint64 // new MACs taken into the pending set
	Attaches           uint64 // triggers delivered to OnAttach
	Queued             uint64 // admitted triggers that waited for a token
	Deduplicated       uint64 // triggers for a MAC already pending or registered
	DroppedPendingFull uint64 // triggers dropped: MaxPending reached
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

// pendingMAC is a MAC that triggered and waits for the engine's answer,
// or, queued, for a token to reach the engine.
type pendingMAC struct {
	since  time.Time
	t      Trigger // while queued
	queued bool
}

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
	pending map[mac]*pendingMAC
	tracked map[mac]*tracked
	bucket  ratelimit.Bucket
	queue   []mac       // pending MACs waiting for a token, oldest first
	release clock.Timer // armed while the queue is not empty
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
		pending: make(map[mac]*pendingMAC),
		tracked: make(map[mac]*tracked),
	}
	s.bucket = ratelimit.NewBucket(cfg.AttachRate, cfg.AttachBurst, s.clk.Now())
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
	if s.release != nil {
		s.release.Stop()
	}
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
