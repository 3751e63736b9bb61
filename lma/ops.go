package lma

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/uci"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// Reload applies a new configuration, as the main does on SIGHUP. New
// policies, pools, MAGs, timers and lifetimes apply to the PBUs that
// follow; existing sessions keep what they were given. Settings bound at
// start (lmaconfig.Config.RestartNeeded) are refused.
//
// How removals are handled: a mobile node whose policy is gone (the
// operator removed it) and a session whose MAG is no longer authorized
// are revoked: routes and pool entries go at once and the MAG is told with
// a Binding Revocation Indication (RFC 5846 8.1, trigger Administrative
// Reason). A policy that changed (another pool, other tunnels) does not
// revoke: the session keeps its prefixes and meets the new policy when it
// next registers anew, so a reload never cuts clients off for a cosmetic
// edit. A pool whose range changed is rebuilt and re-reserves what
// sessions hold inside it.
func (e *Engine) Reload(ctx context.Context, cfg lmaconfig.Config) error {
	var err error
	if cerr := e.call(ctx, func() { err = e.reload(cfg) }); cerr != nil {
		return cerr
	}
	return err
}

func (e *Engine) reload(cfg lmaconfig.Config) error {
	if r := cfg.RestartNeeded(e.cfg); len(r) > 0 {
		return fmt.Errorf("lma: reload: %s changed: a restart is needed", strings.Join(r, ", "))
	}
	hb, resync := e.cfg.HeartbeatInterval, e.cfg.DataplaneResyncInterval
	if err := e.setConfig(cfg); err != nil {
		return err
	}
	if fresh := e.pools.fresh; len(fresh) > 0 {
		for b := range e.bc.all {
			for _, x := range append(e.bc.hnps(b), b.hoa.prefix()) {
				if !x.IsValid() {
					continue
				}
				if err := e.pools.reserve(x, fresh); err != nil {
					e.log.Warn("lma: reload: a session's entry conflicts with the new pool", "binding", e.bc.describe(b), "entry", x, "err", err)
				}
			}
		}
	}
	var gone []*binding
	var why []string
	for b := range e.bc.all {
		switch {
		case e.pol.lookup(e.bc.mn(b)) == nil:
			gone, why = append(gone, b), append(why, "mobile node's policy removed")
		case e.mags[b.coa.addr()] == nil:
			gone, why = append(gone, b), append(why, "MAG no longer authorized")
		}
	}
	for i, b := range gone {
		e.revoke(b, mh.TriggerAdministrative, why[i])
	}
	if cfg.HeartbeatInterval != hb {
		e.scheduleHeartbeat()
	}
	if cfg.DataplaneResyncInterval != resync {
		e.schedulePeriodicResync()
	}
	e.log.Info("lma: configuration reloaded", "policies", len(cfg.Policies), "mags", len(cfg.MAGs), "pools", len(cfg.Pools), "revoked", len(gone))
	return nil
}

// BindingInfo describes one Binding Cache entry for pmipctl and the
// control socket.
type BindingInfo struct {
	ID uint64
	// MobileNode is the Mobile Node Identifier as text (NAI, MAC, ...);
	// MNIDType names its subtype (RFC 4283, RFC 8371).
	MobileNode string
	MNIDType   string
	// LinkLayerID is the mobile's interface identifier, "" if unknown.
	LinkLayerID      string
	AccessTechnology string
	MAG              string
	ProxyCoA         netip.Addr
	Tunnel           string
	HomePrefixes     []netip.Prefix
	// IPv4HomeAddress carries the client's prefix length; invalid when
	// none.
	IPv4HomeAddress   netip.Prefix
	IPv4DefaultRouter netip.Addr
	// GRE keys, when the session uses GRE (RFC 5845).
	GREUplinkKey, GREDownlinkKey       uint32
	HasGREUplinkKey, HasGREDownlinkKey bool
	Policy                             string
	// State is "active" or "deregistered" (waiting out
	// MinDelayBeforeBCEDelete).
	State      string
	Lifetime   time.Duration
	Registered time.Time
	Updated    time.Time
	// Expires is when the entry goes unless refreshed.
	Expires time.Time
}

// BindingFilter selects bindings; zero fields match everything.
type BindingFilter struct {
	// MobileNode matches the identifier as BindingInfo renders it.
	MobileNode string
	// MAG matches the MAG's name.
	MAG string
	// Prefix matches sessions with a home prefix or IPv4 home address
	// inside it, or a home prefix containing it.
	Prefix netip.Prefix
	// Limit caps the answer (0: no cap); the cache may hold a million.
	// The answer is the first Limit matches in the order Bindings
	// returns them, so that a capped listing is the same from one call
	// to the next.
	Limit int
}

func (f BindingFilter) match(c *cache, b *binding) bool {
	if f.MobileNode != "" && c.mn(b).String() != f.MobileNode {
		return false
	}
	if f.MAG != "" && c.mag(b) != f.MAG {
		return false
	}
	if f.Prefix.IsValid() {
		hit := false
		for i := range int(b.nhnp) {
			if c.hnpAt(b, i).Overlaps(f.Prefix) {
				hit = true
			}
		}
		if b.hoa.valid() && f.Prefix.Contains(b.hoa.a.addr()) {
			hit = true
		}
		if !hit {
			return false
		}
	}
	return true
}

func (e *Engine) info(b *binding) BindingInfo {
	c := e.bc
	i := BindingInfo{
		ID: b.id, MobileNode: c.mn(b).String(), MNIDType: b.mnSubtype.String(),
		AccessTechnology: b.att.String(), MAG: c.mag(b), ProxyCoA: b.coa.addr(), Tunnel: string(c.tunnel(b)),
		HomePrefixes: c.hnps(b), IPv4HomeAddress: b.hoa.prefix(), IPv4DefaultRouter: b.v4router.addr(),
		GREUplinkKey: b.greUp, GREDownlinkKey: b.greDown, HasGREUplinkKey: b.greUpSet, HasGREDownlinkKey: b.greDownSet,
		Policy: c.policy(b), State: b.state.String(), Lifetime: b.lifetime,
		Registered: time.Unix(0, b.registered).UTC(), Updated: time.Unix(0, b.updated).UTC(), Expires: b.deadlineTime().UTC(),
	}
	if l := c.llid(b); l != "" {
		i.LinkLayerID = net.HardwareAddr(l).String()
	}
	return i
}

// Bindings lists the Binding Cache entries that f selects, ordered by
// mobile node (identifier type, then identifier), then interface
// (link-layer identifier, access technology), then id: a stable order, so
// that a Limit answers the same first entries every time. A mobile node
// identifier matches fast; other filters scan the cache, keeping only the
// first Limit in a bounded heap (a million entries, a thousand kept).
func (e *Engine) Bindings(ctx context.Context, f BindingFilter) ([]BindingInfo, error) {
	var out []BindingInfo
	err := e.call(ctx, func() {
		var sel []*binding
		if k, ok := parseMN(f.MobileNode); ok {
			for _, b := range e.bc.ofMN(k) {
				if f.match(e.bc, b) {
					sel = append(sel, b)
				}
			}
		} else {
			sel = e.firstBindings(f)
		}
		slices.SortFunc(sel, e.bc.compareBindings)
		if f.Limit > 0 && len(sel) > f.Limit {
			sel = sel[:f.Limit]
		}
		out = make([]BindingInfo, 0, len(sel))
		for _, b := range sel {
			out = append(out, e.info(b))
		}
	})
	return out, err
}

// compareBindings is the order of Bindings.
func (bc *cache) compareBindings(a, b *binding) int {
	if c := cmp.Compare(a.mnSubtype, b.mnSubtype); c != 0 {
		return c
	}
	if c := strings.Compare(bc.strsOf(a).mnID, bc.strsOf(b).mnID); c != 0 {
		return c
	}
	if c := strings.Compare(bc.strsOf(a).llid, bc.strsOf(b).llid); c != 0 {
		return c
	}
	if c := cmp.Compare(a.att, b.att); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// firstBindings returns the bindings f matches, only the first f.Limit
// of them in compareBindings order when f has a Limit (unordered).
func (e *Engine) firstBindings(f BindingFilter) []*binding {
	if f.Limit <= 0 {
		var all []*binding
		for b := range e.bc.all {
			if f.match(e.bc, b) {
				all = append(all, b)
			}
		}
		return all
	}
	// A max-heap of the Limit smallest seen so far: its root is the
	// largest kept, which a smaller binding replaces.
	h := make([]*binding, 0, min(f.Limit, len(e.bc.byID)))
	less := func(i, j int) bool { return e.bc.compareBindings(h[i], h[j]) > 0 }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(r, l) {
				m = r
			}
			if !less(m, i) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for b := range e.bc.all {
		if !f.match(e.bc, b) {
			continue
		}
		if len(h) < f.Limit {
			h = append(h, b)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !less(i, p) {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if e.bc.compareBindings(b, h[0]) < 0 {
			h[0] = b
			down(0)
		}
	}
	return h
}

// parseMN reads a mobile node identifier as an operator types it: a MAC
// address is an EUI-48 identifier (RFC 8371 4.4), anything else a NAI.
func parseMN(s string) (mnKey, bool) {
	if s == "" {
		return mnKey{}, false
	}
	if mac, ok := uci.ParseMAC(s); ok {
		return mnKey{subtype: mh.MNIDEUI48, id: string(mac)}, true
	}
	return mnKey{subtype: mh.MNIDNAI, id: s}, true
}

// PoolInfo is one pool's use.
type PoolInfo struct {
	Name   string
	Family string
	Prefix netip.Prefix
	Size   uint64
	Used   uint64
	Free   uint64
}

// Pools reports every pool's size and use.
func (e *Engine) Pools(ctx context.Context) ([]PoolInfo, error) {
	var out []PoolInfo
	err := e.call(ctx, func() {
		for _, n := range e.pools.order {
			d := e.pools.defs[n]
			i := PoolInfo{Name: n, Family: string(d.Family), Prefix: d.Prefix}
			if p := e.pools.v6[n]; p != nil {
				u := p.Usage()
				i.Size, i.Used, i.Free = u.Size, u.Used, u.Free()
			}
			if p := e.pools.v4[n]; p != nil {
				u := p.Usage()
				i.Size, i.Used, i.Free = u.Size, u.Used, u.Free()
			}
			out = append(out, i)
		}
	})
	return out, err
}

// MAGInfo is one authorized MAG with its heartbeat state (RFC 5847).
type MAGInfo struct {
	Name      string
	Addresses []netip.Addr
	Bindings  int
	// Heartbeat is "up" (answering), "failed" (more than
	// MISSING_HEARTBEATS_ALLOWED probes unanswered) or "unknown" (not
	// heard from yet).
	Heartbeat        string
	MissedHeartbeats int
	RestartCounter   uint32
	HasRestartCount  bool
	LastHeard        time.Time
}

// MAGs lists the authorized MAGs.
func (e *Engine) MAGs(ctx context.Context) ([]MAGInfo, error) {
	var out []MAGInfo
	err := e.call(ctx, func() {
		for _, m := range e.cfg.MAGs {
			ms := e.magState[m.Name]
			i := MAGInfo{Name: m.Name, Addresses: slices.Clone(m.Addresses), Bindings: e.bc.perMAG[m.Name],
				MissedHeartbeats: ms.missed, RestartCounter: ms.restart, HasRestartCount: ms.restartKnown, LastHeard: ms.lastHeard}
			switch {
			case ms.failed:
				i.Heartbeat = "failed"
			case ms.lastHeard.IsZero():
				i.Heartbeat = "unknown"
			default:
				i.Heartbeat = "up"
			}
			out = append(out, i)
		}
	})
	return out, err
}

// Counters returns the engine's counters; safe at any time, cheap.
func (e *Engine) Counters() Counters {
	c := e.stats.snapshot()
	c.Bindings = int(e.bc.size.Load())
	return c
}

// RestartCounter is this LMA's RFC 5847 restart counter.
func (e *Engine) RestartCounter(ctx context.Context) (uint32, error) {
	var n uint32
	err := e.call(ctx, func() { n = e.restarts })
	return n, err
}

// RevokeMobileNode ends every session of a mobile node (a NAI or a MAC
// address) and tells their MAGs (RFC 5846 8.1, Administrative Reason). It
// returns how many sessions it ended.
func (e *Engine) RevokeMobileNode(ctx context.Context, id string) (int, error) {
	k, ok := parseMN(id)
	if !ok {
		return 0, fmt.Errorf("lma: %q is not a mobile node identifier", id)
	}
	n := 0
	err := e.call(ctx, func() {
		for _, b := range e.bc.ofMN(k) {
			e.revoke(b, mh.TriggerAdministrative, "revoked by the operator")
			n++
		}
	})
	return n, err
}
