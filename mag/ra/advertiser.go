// Package ra sends the MAG's Router Advertisements: unicast, one client at a
// time, carrying exactly that client's home network prefix(es) from the
// LMA's Proxy Binding Acknowledgement, from the fixed router link-local and
// link-layer addresses (RFC 5213 6.7, 6.9.3).
//
// The MAG engine calls Serve when a PBA accepts (or refreshes) a binding,
// Withdraw when a binding ends while the client may still listen, and
// Forget when the client has left. Run answers Router Solicitations of
// served clients; solicitations from anyone else get nothing: the prefixes
// a MAG advertises are the ones the LMA assigned (RFC 5213 6.7), which it
// learns from the PBA (RFC 5213 6.9.1.1), so before the PBA there is no
// home link to emulate.
//
// Each RA is a whole Ethernet frame written on a packet socket: layer-2
// destination the client's MAC, IPv6 destination its link-local address
// (or all-nodes when the MAG does not know it yet, still layer-2 unicast as
// RFC 6085 allows), so no other client on a shared access link learns the
// prefix, and nothing depends on the access interface's own addresses.
package ra

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
	"github.com/openpmip/pmip/mag/l2"
	"golang.org/x/net/bpf"
)

// Config configures an Advertiser. Conn is required.
type Config struct {
	Interface string
	Conn      l2.Conn
	Clock     clock.Clock  // nil: clock.Real
	Logger    *slog.Logger // nil: discard
	// Rand draws the random intervals and delays of RFC 4861 6.2.4 and
	// 6.2.6. nil: a generator seeded from the runtime.
	Rand *rand.Rand

	// RouterMAC and RouterLinkLocal are the fixed router identity (RFC 5213
	// 6.9.3). Zero values: the RFC 6543 addresses.
	RouterMAC       net.HardwareAddr
	RouterLinkLocal netip.Addr

	// RFC 4861 6.2.1 variables. Zero values take the RFC defaults.
	MaxRtrAdvInterval  time.Duration
	MinRtrAdvInterval  time.Duration
	AdvDefaultLifetime time.Duration
	AdvCurHopLimit     uint8
	AdvReachableTime   time.Duration // 0: unspecified
	AdvRetransTimer    time.Duration // 0: unspecified
	AdvLinkMTU         uint32        // 0: no MTU option
	// RDNSS lists recursive DNS servers to advertise (RFC 8106 5.1), with
	// lifetime bounded like the prefixes'.
	RDNSS []netip.Addr

	// MaxRADelay caps the random delay of a solicited RA (RFC 4861 6.2.6,
	// MAX_RA_DELAY_TIME). Zero: MaxRADelayTime; negative: no delay (the
	// delay exists to desynchronise several routers answering one multicast
	// RS; a PMIPv6 access link has one router per client).
	MaxRADelay time.Duration
	// MinDelayBetweenRAs is the per-client floor between two solicited
	// RAs (RFC 4861 6.2.6, MIN_DELAY_BETWEEN_RAS). Zero: 3 s.
	MinDelayBetweenRAs time.Duration
	// FinalAdvertisements is how many final RAs Withdraw sends, 1 to
	// MaxFinalRtrAdvertisements (RFC 4861 6.2.5). Zero: 1.
	FinalAdvertisements int
}

// Stats counts the Advertiser's work.
type Stats struct {
	Sent        uint64 // RAs written
	Solicited   uint64 // of which in answer to an RS
	Final       uint64 // of which final (lifetimes 0)
	RSReceived  uint64
	RSUnknown   uint64 // RS from a MAC not served: ignored
	RSInvalid   uint64 // frames failing RFC 4861 6.1.1
	WriteErrors uint64
	Expired     uint64 // bindings that ended without Serve refreshing them
	Announced   uint64 // unsolicited Neighbor Advertisements (AnnounceRouter)
}

// Errors returned by Serve.
var (
	ErrNoPrefix  = errors.New("ra: no home network prefix to advertise")
	ErrBadPrefix = errors.New("ra: prefix not advertisable")
	ErrLifetime  = errors.New("ra: binding lifetime must be positive")
	ErrBadMAC    = errors.New("ra: not a unicast MAC address")
)

type macKey = [6]byte

type client struct {
	mac       net.HardwareAddr
	linkLocal netip.Addr
	prefixes  []netip.Prefix
	// withdrawn prefixes are advertised with zero lifetimes in the next
	// finalLeft RAs (RFC 5213 6.12).
	withdrawn []netip.Prefix
	deadline  time.Time // the binding's end
	lastSent  time.Time
	// initialLeft counts the initial unsolicited RAs still to send at the
	// faster pace of RFC 4861 6.2.4.
	initialLeft int
	// finalLeft counts final RAs still due (withdrawing clients) or RAs
	// still to carry withdrawn prefixes.
	finalLeft   int
	withdrawing bool
	solicited   bool // the scheduled RA answers an RS
	timer       clock.Timer
	next        time.Time
	gen         uint64
}

// Advertiser sends unicast Router Advertisements to served clients.
type Advertiser struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	mu      sync.Mutex
	rnd     *rand.Rand
	clients map[macKey]*client
	stats   Stats
	buf     []byte // the RA being built
	naBuf   []byte // the Neighbor Advertisement being built
	burst   [][]byte
	closed  bool
}

// New validates cfg and installs the Router Solicitation filter on the conn.
func New(cfg Config) (*Advertiser, error) {
	if cfg.Conn == nil {
		return nil, errors.New("ra: Config.Conn is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.RouterMAC == nil {
		cfg.RouterMAC = DefaultRouterMAC
	}
	if !l2.IsUnicastMAC(cfg.RouterMAC) {
		return nil, fmt.Errorf("ra: router MAC %s: %w", cfg.RouterMAC, ErrBadMAC)
	}
	if !cfg.RouterLinkLocal.IsValid() {
		cfg.RouterLinkLocal = DefaultRouterLinkLocal
	}
	// RFC 4861 6.1.2: an RA's source is the router's link-local address.
	if !cfg.RouterLinkLocal.Is6() || !cfg.RouterLinkLocal.IsLinkLocalUnicast() {
		return nil, fmt.Errorf("ra: router address %s is not an IPv6 link-local address", cfg.RouterLinkLocal)
	}
	if cfg.MaxRtrAdvInterval == 0 {
		cfg.MaxRtrAdvInterval = DefaultMaxRtrAdvInterval
	}
	// RFC 4861 6.2.1: MaxRtrAdvInterval within [4 s, 1800 s].
	if cfg.MaxRtrAdvInterval < MinMaxRtrAdvInterval || cfg.MaxRtrAdvInterval > MaxMaxRtrAdvInterval {
		return nil, fmt.Errorf("ra: MaxRtrAdvInterval %s outside [%s, %s] (RFC 4861 6.2.1)",
			cfg.MaxRtrAdvInterval, MinMaxRtrAdvInterval, MaxMaxRtrAdvInterval)
	}
	if cfg.MinRtrAdvInterval == 0 {
		// RFC 4861 6.2.1 default: 0.33 * MaxRtrAdvInterval, but at least 3 s.
		cfg.MinRtrAdvInterval = max(cfg.MaxRtrAdvInterval*33/100, MinMinRtrAdvInterval)
	}
	// RFC 4861 6.2.1: MinRtrAdvInterval within [3 s, 0.75 * MaxRtrAdvInterval].
	if cfg.MinRtrAdvInterval < MinMinRtrAdvInterval || cfg.MinRtrAdvInterval > cfg.MaxRtrAdvInterval*3/4 {
		return nil, fmt.Errorf("ra: MinRtrAdvInterval %s outside [%s, 0.75 * MaxRtrAdvInterval] (RFC 4861 6.2.1)",
			cfg.MinRtrAdvInterval, MinMinRtrAdvInterval)
	}
	if cfg.AdvDefaultLifetime == 0 {
		cfg.AdvDefaultLifetime = min(3*cfg.MaxRtrAdvInterval, MaxAdvDefaultLifetime)
	}
	// RFC 4861 6.2.1: AdvDefaultLifetime between MaxRtrAdvInterval and
	// 9000 s (zero would advertise no default router: not a MAG's role).
	if cfg.AdvDefaultLifetime < cfg.MaxRtrAdvInterval || cfg.AdvDefaultLifetime > MaxAdvDefaultLifetime {
		return nil, fmt.Errorf("ra: AdvDefaultLifetime %s outside [MaxRtrAdvInterval, %s] (RFC 4861 6.2.1)",
			cfg.AdvDefaultLifetime, MaxAdvDefaultLifetime)
	}
	if cfg.AdvCurHopLimit == 0 {
		cfg.AdvCurHopLimit = DefaultAdvCurHopLimit
	}
	// RFC 4861 6.2.1: AdvLinkMTU is 0 or at least the IPv6 minimum of
	// 1280 octets (RFC 8200 5).
	if cfg.AdvLinkMTU != 0 && cfg.AdvLinkMTU < 1280 {
		return nil, fmt.Errorf("ra: AdvLinkMTU %d below 1280", cfg.AdvLinkMTU)
	}
	for _, a := range cfg.RDNSS {
		if !a.Is6() || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("ra: RDNSS %s is not an IPv6 unicast address", a)
		}
	}
	switch {
	case cfg.MaxRADelay == 0:
		cfg.MaxRADelay = MaxRADelayTime
	case cfg.MaxRADelay < 0:
		cfg.MaxRADelay = 0
	}
	if cfg.MinDelayBetweenRAs == 0 {
		cfg.MinDelayBetweenRAs = MinDelayBetweenRAs
	}
	if cfg.FinalAdvertisements == 0 {
		cfg.FinalAdvertisements = 1
	}
	// RFC 4861 6.2.5: one or more, but not more than
	// MAX_FINAL_RTR_ADVERTISEMENTS, final RAs.
	if cfg.FinalAdvertisements < 1 || cfg.FinalAdvertisements > MaxFinalRtrAdvertisements {
		return nil, fmt.Errorf("ra: FinalAdvertisements %d outside [1, %d] (RFC 4861 6.2.5)",
			cfg.FinalAdvertisements, MaxFinalRtrAdvertisements)
	}
	if err := cfg.Conn.SetFilter(rsFilter()); err != nil {
		return nil, fmt.Errorf("ra: %w", err)
	}
	return &Advertiser{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Logger.With("iface", cfg.Interface),
		rnd:     cfg.Rand,
		clients: make(map[macKey]*client),
		buf:     make([]byte, 0, 256),
		naBuf:   make([]byte, 0, 128),
	}, nil
}

// rsFilter passes ICMPv6 Router Solicitations (no extension headers) whole.
func rsFilter() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: l2.EtherTypeIPv6, SkipTrue: 5},
		bpf.LoadAbsolute{Off: 14 + 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: l2.ProtoICMPv6, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 14 + 40, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 133, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
}

// checkPrefix says whether p can be advertised as a home network prefix.
func checkPrefix(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case !p.IsValid() || !a.Is6() || a.Is4In6():
		return fmt.Errorf("%w: %s is not an IPv6 prefix", ErrBadPrefix, p)
	case p != p.Masked():
		return fmt.Errorf("%w: %s has bits set past its length", ErrBadPrefix, p)
	case p.Bits() == 0 || p.Bits() > 64:
		// A prefix longer than the 64-bit interface identifier of
		// Ethernet-like links (RFC 4291 2.5.1) cannot be a home link.
		return fmt.Errorf("%w: %s: length must be 1 to 64", ErrBadPrefix, p)
	case a.IsLinkLocalUnicast():
		// RFC 4861 6.2.1: the link-local prefix SHOULD NOT be advertised;
		// RFC 4862 5.5.3 (b) ignores it anyway.
		return fmt.Errorf("%w: %s is link-local", ErrBadPrefix, p)
	case a.IsMulticast() || a.IsLoopback() || a.IsUnspecified():
		return fmt.Errorf("%w: %s is not unicast", ErrBadPrefix, p)
	}
	return nil
}

// Serve starts or refreshes advertising to the client with MAC mac. It
// sends an RA at once, before returning (the "PBA received to RA on the
// wire" path), then keeps advertising periodically until the binding's
// lifetime runs out, Serve is called again, or Withdraw/Forget.
//
// prefixes are exactly the home network prefixes of the PBA (RFC 5213 6.7:
// the MAG advertises the mobile node's home network prefix(es) and no
// other); a prefix dropped since the last Serve is withdrawn with zero
// lifetimes (RFC 5213 6.12). linkLocal is the client's link-local address if
// known (the zero Addr otherwise: RAs then go to all-nodes, still layer-2
// unicast). lifetime is the binding lifetime the PBA granted: no
// advertised lifetime outlasts the binding.
func (a *Advertiser) Serve(mac net.HardwareAddr, linkLocal netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error {
	return a.serve(nil, false, mac, linkLocal, prefixes, lifetime)
}

// ServeAnnounced is Serve for a client that just registered here, with
// the router's announcements in one burst: it writes first (frames for
// the same client from the access side's other components, the DHCP
// server's ARP request: any EtherType), then the unsolicited Neighbor
// Advertisement of AnnounceRouter, then the RA, with one
// l2.Conn.WriteFrames call. Each announcement releases the client's
// queued traffic, whose forwarding and the correspondent's answer then
// take the CPU; written one system call each, the next announcement
// waited for the MAG to run again (39-197 ms under TCG,
// docs/handover.md 9.5). If an argument is bad, only first is written;
// if the NA cannot be built, first and the RA still go.
func (a *Advertiser) ServeAnnounced(first [][]byte, mac net.HardwareAddr, linkLocal netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error {
	return a.serve(first, true, mac, linkLocal, prefixes, lifetime)
}

// checkServe validates Serve's arguments.
func checkServe(mac net.HardwareAddr, linkLocal netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error {
	if !l2.IsUnicastMAC(mac) {
		return fmt.Errorf("ra: serve %s: %w", mac, ErrBadMAC)
	}
	if linkLocal.IsValid() && !(linkLocal.Is6() && linkLocal.IsLinkLocalUnicast()) {
		return fmt.Errorf("ra: serve %s: client address %s is not link-local", mac, linkLocal)
	}
	if len(prefixes) == 0 {
		return fmt.Errorf("ra: serve %s: %w", mac, ErrNoPrefix)
	}
	for _, p := range prefixes {
		if err := checkPrefix(p); err != nil {
			return fmt.Errorf("ra: serve %s: %w", mac, err)
		}
	}
	if lifetime < time.Second {
		return fmt.Errorf("ra: serve %s: %s: %w", mac, lifetime, ErrLifetime)
	}
	return nil
}

// serve is Serve, writing first and, if announce, the unsolicited NA
// before the RA in one burst.
func (a *Advertiser) serve(first [][]byte, announce bool, mac net.HardwareAddr, linkLocal netip.Addr, prefixes []netip.Prefix, lifetime time.Duration) error {
	if err := checkServe(mac, linkLocal, prefixes, lifetime); err != nil {
		if len(first) > 0 {
			// The other components' frames are not ours to drop.
			_ = a.cfg.Conn.WriteFrames(first)
		}
		return err
	}
	now := a.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("ra: serve %s: %w", mac, net.ErrClosed)
	}
	k := macKey(mac)
	c, ok := a.clients[k]
	if !ok || c.withdrawing {
		if c != nil {
			a.stopTimer(c)
		}
		c = &client{mac: slices.Clone(mac), initialLeft: MaxInitialRtrAdvertisements}
		a.clients[k] = c
	}
	if linkLocal.IsValid() {
		c.linkLocal = linkLocal
	}
	newPrefixes := slices.Clone(prefixes)
	slices.SortFunc(newPrefixes, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	newPrefixes = slices.Compact(newPrefixes)
	for _, old := range c.prefixes {
		if !slices.Contains(newPrefixes, old) && !slices.Contains(c.withdrawn, old) {
			c.withdrawn = append(c.withdrawn, old)
			c.finalLeft = a.cfg.FinalAdvertisements
		}
	}
	c.withdrawn = slices.DeleteFunc(c.withdrawn, func(p netip.Prefix) bool { return slices.Contains(newPrefixes, p) })
	c.prefixes = newPrefixes
	c.deadline = now.Add(lifetime)
	// A new binding or a refresh: advertise now, so the client learns its
	// prefix without waiting and its lifetimes follow the binding's.
	if c.initialLeft > 0 {
		c.initialLeft--
	}
	err := a.sendBurst(first, announce, c, now, false)
	a.schedule(c, now)
	if err != nil {
		return fmt.Errorf("ra: serve %s: %w", mac, err)
	}
	return nil
}

// Withdraw stops serving mac after sending final RAs: router lifetime 0 and
// every prefix with zero lifetimes (RFC 4861 6.2.5 for a router that stops
// advertising; RFC 5213 6.12 for withdrawing a home network prefix), so a
// client still on the link stops using the MAG and deprecates its
// addresses at once. Use it when a binding ends while the client may still
// be attached (revocation, refused refresh, policy).
func (a *Advertiser) Withdraw(mac net.HardwareAddr) {
	k, ok := key(mac)
	if !ok {
		return
	}
	now := a.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.clients[k]
	if !ok || c.withdrawing || a.closed {
		return
	}
	a.beginWithdraw(c, now)
}

func (a *Advertiser) beginWithdraw(c *client, now time.Time) {
	c.withdrawing = true
	c.withdrawn = append(c.withdrawn, c.prefixes...)
	c.prefixes = nil
	c.finalLeft = a.cfg.FinalAdvertisements
	c.solicited = false
	a.send(c, now, false)
	a.schedule(c, now)
}

// Forget stops serving mac silently: the client has left the link.
func (a *Advertiser) Forget(mac net.HardwareAddr) {
	k, ok := key(mac)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[k]; ok {
		a.stopTimer(c)
		delete(a.clients, k)
	}
}

// Serving reports whether mac is being advertised to (withdrawal included).
func (a *Advertiser) Serving(mac net.HardwareAddr) bool {
	k, ok := key(mac)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok = a.clients[k]
	return ok
}

// Stats returns a snapshot of the counters.
func (a *Advertiser) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

func key(mac net.HardwareAddr) (macKey, bool) {
	if len(mac) != 6 {
		return macKey{}, false
	}
	return macKey(mac), true
}

// Run reads Router Solicitations until ctx ends or the conn fails, then
// closes the Advertiser.
func (a *Advertiser) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { a.Close() })
	defer stop()
	buf := make([]byte, 2048)
	for {
		n, err := a.cfg.Conn.ReadFrame(buf)
		if err != nil {
			a.Close()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return ctx.Err()
			}
			return fmt.Errorf("ra: %w", err)
		}
		a.HandleFrame(buf[:n])
	}
}

// Close stops every timer and closes the conn. No final RAs are sent: a
// restarting MAG serves its clients again once the engine re-registers
// them, and their lifetimes cover the gap.
func (a *Advertiser) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	for _, c := range a.clients {
		a.stopTimer(c)
	}
	a.mu.Unlock()
	return a.cfg.Conn.Close()
}
