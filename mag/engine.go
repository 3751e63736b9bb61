package mag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/magconfig"
)

// Options are the engine's settings beyond the MAG configuration.
type Options struct {
	// RestartCounter is this MAG's RFC 5847 5.2 restart counter, which
	// the caller persists and increments at every start. It is sent in
	// Heartbeat responses.
	RestartCounter uint32
	// RulePriority, Table and GRETableBase place the reverse-tunnel
	// policy routing; zero values take the defaults.
	RulePriority uint32
	Table        uint32
	GRETableBase uint32
	// TunnelMTU is the MTU of the tunnel device; 0 leaves the kernel's.
	TunnelMTU uint32
	// Rand seeds the sequence numbers and GRE keys; nil uses the runtime's.
	Rand *rand.Rand
	// StationQuery, if set, asks hostapd about a station of BSS bss
	// (hostapd.QueryStation on its control socket). The engine asks when
	// a client is heard before hostapd's event reported it (identity.go),
	// so that the identity hostapd already knows ends the wait at once.
	StationQuery func(ctx context.Context, bss string, mac net.HardwareAddr) (hostapd.Station, error)
	// StationRemove, if set, has hostapd drop station mac from BSS bss
	// without sending it a frame (hostapd.Monitor.Deauthenticate:
	// DEAUTHENTICATE <mac> tx=0). The engine calls it when the LMA
	// revokes a binding because its client moved to another MAG
	// (hostapdmon.go, docs/handover.md 5.5).
	StationRemove func(ctx context.Context, bss string, mac net.HardwareAddr) error
}

// Stats counts the engine's work.
type Stats struct {
	Triggers       uint64 // attach triggers received, all sources
	Deduplicated   uint64 // triggers for a MAC already in the list
	DroppedPending uint64 // triggers dropped: MaxPendingClients in flight
	// IdentityWaits counts clients heard before hostapd reported them
	// that waited for their identity (Config.IdentityWait);
	// IdentityWaitTimeouts those that then registered under the
	// MAC-derived identifier because hostapd said nothing in time.
	// IdentityQueried counts the waits hostapd's control interface
	// ended (Options.StationQuery) before the hook's event came.
	IdentityWaits        uint64
	IdentityWaitTimeouts uint64
	IdentityQueried      uint64
	// IdentityNotStation counts waits ended because no BSS's hostapd
	// knew the client (a wired host on the link): no event would come.
	IdentityNotStation    uint64
	StationsNotRemembered uint64 // hostapd stations above maxStations
	NotServed             uint64 // triggers for clients the policy refuses
	PBUSent               uint64 // PBUs written, retransmissions included
	Retransmissions       uint64
	Accepted              uint64 // PBAs accepted
	Rejected              uint64 // PBAs rejected (status >= 128)
	GaveUp                uint64 // registrations unanswered after the backoff
	Deregistrations       uint64 // deregistration PBUs (first transmissions)
	Expired               uint64 // bindings that ran out without refresh
	UnmatchedPBA          uint64 // PBAs matching no PBU in flight
	BadMessages           uint64 // unparsable or unexpected messages
	HeartbeatsSent        uint64
	HeartbeatsAnswer      uint64 // heartbeat requests from the LMA answered
	LMARestarts           uint64 // restart counter changes seen
	LMAFailures           uint64 // times the LMA was declared unreachable
	Revocations           uint64 // BRIs handled
	StationsRemoved       uint64 // stale stations hostapd dropped after a handoff revocation
	DataplaneFailures     uint64
}

// Engine is the MAG engine. Create it with New, give it each access link's
// components with SetAccess, then Run it.
type Engine struct {
	cfg  magconfig.Config
	opts Options
	log  *slog.Logger
	clk  clock.Clock
	conn transport.Conn
	dp   dataplane.Dataplane
	lma  netip.AddrPort // where PBUs and heartbeats go

	// links and byHostapd are fixed after New; each link's side is set by
	// SetAccess before Run and read under mu.
	links     map[string]*link
	byHostapd map[string]*link

	// dpMu serialises data plane updates (see doc.go) and guards the
	// two fields after it.
	dpMu        sync.Mutex
	dpInstalled map[macKey]map[string]dataplane.Object // per client, as last installed
	dpResync    bool                                   // a change failed: install whole next time

	// mu guards everything below.
	mu       sync.Mutex
	clients  map[macKey]*binding      // the Binding Update List, by client MAC
	inflight map[uint16]*binding      // PBUs awaiting a PBA, by sequence number
	pending  int                      // bindings registering for the first time
	holds    map[macKey]*identityHold // clients waiting for hostapd (identity.go)
	stations map[macKey]station       // what hostapd reported, until disconnect
	tables   map[uint32]*binding      // GRE per-client tables in use
	seq      uint16                   // last sequence number used
	greKey   uint32                   // last downlink GRE key chosen
	tsOffset time.Duration            // LMA clock minus ours (RFC 5213 5.5)
	hb       heartbeatState           // RFC 5847
	stats    Stats
	rnd      *rand.Rand
	running  bool
	ctx      context.Context // Run's, for data plane calls
	closed   bool
	draining bool // DeregisterAll ran: no new registration

	// deregDone is signalled (never blocking) when a deregistration
	// leaves inflight, for DeregisterAll.
	deregDone chan struct{}
}

// link is one access link of the configuration.
type link struct {
	cfg  magconfig.Access
	side AccessSide
}

type macKey = [6]byte

// Errors of New.
var errConfig = errors.New("mag: invalid configuration")

// New returns an engine for cfg that signals over conn and programs dp.
// log and clk may be nil (discard, wall clock).
func New(cfg magconfig.Config, opts Options, log *slog.Logger, clk clock.Clock, conn transport.Conn, dp dataplane.Dataplane) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if conn == nil || dp == nil {
		return nil, fmt.Errorf("%w: a transport and a data plane are required", errConfig)
	}
	e := &Engine{
		cfg: cfg, opts: opts, log: log, clk: clk, conn: conn, dp: dp,
		links:     map[string]*link{},
		byHostapd: map[string]*link{},
		clients:   map[macKey]*binding{},
		inflight:  map[uint16]*binding{},
		tables:    map[uint32]*binding{},
		holds:     map[macKey]*identityHold{},
		stations:  map[macKey]station{},
		deregDone: make(chan struct{}, 1),
		ctx:       context.Background(),
	}
	if e.opts.RulePriority == 0 {
		e.opts.RulePriority = DefaultRulePriority
	}
	if e.opts.Table == 0 {
		e.opts.Table = DefaultTable
	}
	if e.opts.GRETableBase == 0 {
		e.opts.GRETableBase = DefaultGRETableBase
	}
	e.rnd = opts.Rand
	if e.rnd == nil {
		e.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	// RFC 6275 9.5.1 / 11.7.1: sequence numbers start anywhere and
	// increase modulo 2^16; one counter for the whole MAG keeps every
	// PBU in flight unique, so a PBA finds its PBU by number.
	e.seq = uint16(e.rnd.Uint32())
	e.greKey = e.rnd.Uint32()

	switch cfg.Transport {
	case magconfig.TransportIPv4:
		if !cfg.LMAIPv4Address.Is4() || !cfg.IPv4ProxyCoA.Is4() {
			return nil, fmt.Errorf("%w: IPv4 transport needs the LMA's and the MAG's IPv4 addresses", errConfig)
		}
		// RFC 5844 4: signalling in UDP/IPv4 to port 5436.
		e.lma = netip.AddrPortFrom(cfg.LMAIPv4Address, transport.Port)
	default:
		if !cfg.LMAAddress.Is6() || !cfg.ProxyCoA.Is6() {
			return nil, fmt.Errorf("%w: IPv6 transport needs the LMA address and the Proxy-CoA", errConfig)
		}
		e.lma = netip.AddrPortFrom(cfg.LMAAddress, 0)
	}
	if !cfg.LinkLocalAddress.Is6() || !cfg.LinkLocalAddress.IsLinkLocalUnicast() {
		return nil, fmt.Errorf("%w: fixed link-local address %v (RFC 5213 6.9.3)", errConfig, cfg.LinkLocalAddress)
	}
	if len(cfg.LinkLayerAddress) != 6 {
		return nil, fmt.Errorf("%w: fixed link-layer address %v (RFC 5213 6.9.3)", errConfig, cfg.LinkLayerAddress)
	}
	if cfg.BindingLifetime < MinLifetime || cfg.BindingLifetime > mh.MaxLifetime || cfg.BindingLifetime%mh.LifetimeUnit != 0 {
		return nil, fmt.Errorf("%w: binding lifetime %v (RFC 6275 6.1.7: a multiple of 4 s)", errConfig, cfg.BindingLifetime)
	}
	if cfg.InitialBindackTimeoutFirstReg <= 0 || cfg.MaxBindackTimeout < cfg.InitialBindackTimeoutFirstReg {
		return nil, fmt.Errorf("%w: retransmission timers %v..%v (RFC 5213 6.9.4)", errConfig,
			cfg.InitialBindackTimeoutFirstReg, cfg.MaxBindackTimeout)
	}
	if len(cfg.Access) == 0 {
		return nil, fmt.Errorf("%w: no access link", errConfig)
	}
	for _, a := range cfg.Access {
		if _, dup := e.links[a.Interface]; dup {
			return nil, fmt.Errorf("%w: access interface %q twice", errConfig, a.Interface)
		}
		l := &link{cfg: a}
		e.links[a.Interface] = l
		for _, h := range a.HostapdInterfaces {
			e.byHostapd[h] = l
		}
	}
	if cfg.MaxPendingClients <= 0 {
		e.cfg.MaxPendingClients = magconfig.DefaultMaxPendingClients
	}
	return e, nil
}

// SetAccess gives the engine the components serving the access link on
// interface iface. Call it before Run.
func (e *Engine) SetAccess(iface string, side AccessSide) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.links[iface]
	if !ok {
		return fmt.Errorf("mag: %q is not an access interface of the configuration", iface)
	}
	l.side = side
	return nil
}

// Run installs the base data plane (tunnel, fixed link-local addresses,
// anti-spoofing table), starts heartbeats, and reads signalling from the
// LMA until ctx ends or the transport fails. It does not deregister the
// clients when it returns: a restarted MAG registers them again as their
// triggers arrive, and the LMA keeps their sessions meanwhile.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("mag: Run called twice")
	}
	e.running = true
	e.ctx = ctx
	e.mu.Unlock()

	if err := e.applyDataplane(); err != nil {
		e.log.Warn("base data plane not fully installed", "err", err)
	}
	e.startHeartbeat()
	stop := context.AfterFunc(ctx, func() { e.conn.Close() })
	defer stop()
	defer e.shutdown()

	buf := make([]byte, transport.MaxMessageLen)
	for {
		n, from, err := e.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, transport.ErrTruncated) {
				e.count(func(s *Stats) { s.BadMessages++ })
				continue
			}
			return fmt.Errorf("mag: read: %w", err)
		}
		e.HandleMessage(buf[:n], from)
	}
}

// shutdown stops every timer; bindings stay as they are.
func (e *Engine) shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.hb.timer != nil {
		e.hb.timer.Stop()
	}
	for _, b := range e.clients {
		b.stopTimers()
	}
	for _, b := range e.inflight {
		b.stopTimers()
	}
	for k := range e.holds {
		e.endHoldLocked(k)
	}
	e.deregistrationEndedLocked() // no PBA will be read any more
}

// HandleMessage processes one Mobility Header message received from from.
// Run calls it for every message; tests and benchmarks may call it
// directly.
func (e *Engine) HandleMessage(b []byte, from netip.AddrPort) {
	// RFC 5213 6.9.1.2, RFC 5847 5, RFC 5846 8.2: the MAG acts only on
	// messages from its LMA.
	if from.Addr().Unmap() != e.lma.Addr() {
		e.count(func(s *Stats) { s.BadMessages++ })
		e.log.Debug("mobility header from a stranger dropped", "from", from)
		return
	}
	m, err := mh.Parse(b)
	if err != nil {
		e.count(func(s *Stats) { s.BadMessages++ })
		e.log.Warn("bad mobility header from the LMA", "from", from, "err", err)
		return
	}
	switch m := m.(type) {
	case *mh.ProxyBindingAck:
		e.handlePBA(m)
	case *mh.Heartbeat:
		e.handleHeartbeat(m, from)
	case *mh.BindingRevocationIndication:
		e.handleBRI(m, from)
	default:
		e.count(func(s *Stats) { s.BadMessages++ })
		e.log.Debug("mobility header ignored", "type", m.Type(), "from", from)
	}
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Engine) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

// send writes one message to the LMA. e.mu may be held: the transport
// never calls back.
func (e *Engine) send(m mh.Message) error {
	b, err := mh.Marshal(m)
	if err != nil {
		return fmt.Errorf("mag: %w", err)
	}
	if err := e.conn.WriteTo(b, e.lma); err != nil {
		return fmt.Errorf("mag: send %s: %w", m.Type(), err)
	}
	return nil
}

// BindingInfo describes one Binding Update List entry, for pmipctl and
// logs.
type BindingInfo struct {
	MAC       net.HardwareAddr
	MNID      string
	Interface string
	State     string // registering, registered, rejected
	Prefixes  []netip.Prefix
	HoA       netip.Prefix
	Router4   netip.Addr
	Expires   time.Time // zero unless registered
	GREKeyOut uint32    // uplink GRE key, 0 without
	GREKeyIn  uint32    // downlink GRE key, 0 without
}

// Bindings returns a snapshot of the Binding Update List, sorted by MAC.
func (e *Engine) Bindings() []BindingInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]BindingInfo, 0, len(e.clients))
	for _, b := range e.clients {
		bi := BindingInfo{
			MAC: slices.Clone(b.mac), MNID: b.mnid.String(), Interface: b.link.cfg.Interface,
			State: b.state.String(), Prefixes: slices.Clone(b.prefixes), HoA: b.hoa, Router4: b.router4,
			GREKeyIn: b.greDown,
		}
		if b.served() {
			bi.Expires = b.expires
		}
		if b.greKeyed {
			bi.GREKeyOut = b.greUp
		}
		out = append(out, bi)
	}
	slices.SortFunc(out, func(a, b BindingInfo) int { return slices.Compare(a.MAC, b.MAC) })
	return out
}
