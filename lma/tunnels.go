package lma

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// Names of the flow-based GRE devices: one per family carries every keyed
// session (internal/dataplane's package documentation).
const (
	greDevice6 = "pmip-gre6"
	greDevice4 = "pmip-gre4"
)

// tunnelRef counts the sessions using a tunnel device: one per MAG and
// kind, shared by all its clients (RFC 5213 5.6.1), removed with the last.
type tunnelRef struct {
	t    dataplane.Tunnel
	refs int
	// retire is armed while the tunnel lingers after its last session
	// moved to another MAG (oldTunnelLinger); gen tells its firing from a
	// later linger's.
	retire clock.Timer
	gen    uint64
}

// oldTunnelLinger is how long the tunnel to a MAG stays after its last
// session moved to another MAG in a handoff, before it goes (with its
// place in the uplink check). RFC 5213 5.6.1 leaves how the tunnel a
// MAG's sessions share is managed, and when it goes, to the
// implementation; issue 5 asks that none be left once a MAG's last
// binding is gone, which holds one linger later. Two reasons to wait:
//
//   - in the second after a handoff the new MAG brings up the client's
//     data plane and serves its DHCP and RAs; a tunnel's deletion is tens
//     of milliseconds of kernel work (42 ms in the QEMU guest of issue 5's
//     scenario 2, where all daemons share one CPU) that is nobody's
//     hurry;
//   - a client moving back (a ping-pong between two APs) finds its old
//     MAG's tunnel still there, and its PBA does not wait for a tunnel's
//     creation (8-11 ms median in the same guest, TestFirstTunnelVM).
//
// A deregistration or an expiry removes the tunnel at once: no handoff
// is in progress then.
const oldTunnelLinger = time.Second

// dpView is what one session puts in the data plane.
type dpView struct {
	tunnel dataplane.Tunnel
	routes []dataplane.Route
	// peer is the MAG of a keyed GRE session (invalid otherwise), and
	// gre its allowed (MAG, uplink key, home address) triples.
	peer netip.Addr
	gre  []dataplane.GRESource
}

// tunnelName names a MAG's point-to-point tunnel after its kind and remote
// end, so that the name survives restarts and reloads without a table:
// "pmip" + family + 9 hex digits of a hash (IFNAMSIZ allows 15 octets).
func tunnelName(kind dataplane.TunnelKind, remote netip.Addr) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", kind, remote)
	fam := "6"
	if remote.Is4() {
		fam = "4"
	}
	return fmt.Sprintf("pmip%s%09x", fam, h.Sum64()&0xfffffffff)
}

// tunnelKey is what a point-to-point tunnel's name derives from.
type tunnelKey struct {
	kind   dataplane.TunnelKind
	remote netip.Addr
}

// tunnelNameOf caches tunnelName per kind and MAG address: view runs for every
// PBU, and hashing and formatting a name each time shows in profiles.
func (e *Engine) tunnelNameOf(kind dataplane.TunnelKind, remote netip.Addr) string {
	k := tunnelKey{kind, remote}
	if n, ok := e.tunnelNames[k]; ok {
		return n
	}
	n := tunnelName(kind, remote)
	e.tunnelNames[k] = n
	return n
}

// view is b's data plane: its tunnel and a route into it for every home
// network prefix and the IPv4 home address (RFC 5213 5.6.1, RFC 5844
// 3.1.3).
func (e *Engine) view(b *binding) *dpView {
	v := &dpView{}
	v.tunnel, v.routes = e.appendView(b, nil)
	if peer, key, ok := e.greUplink(b); ok {
		v.peer = peer
		v.gre = appendGRESources(nil, peer, key, v.routes)
	}
	return v
}

// greUplink is the MAG and uplink key of a keyed GRE session: what its
// MAG's GRE packets carry as outer source and key (RFC 5845 3: the key
// the LMA gave in its PBA).
func (e *Engine) greUplink(b *binding) (netip.Addr, uint32, bool) {
	if !b.greUpSet || e.bc.tunnel(b) != lmaconfig.TunnelGRE {
		return netip.Addr{}, 0, false
	}
	return b.coa.addr(), b.greUp, true
}

// appendGRESources appends the triple of every route's home address.
func appendGRESources(to []dataplane.GRESource, peer netip.Addr, key uint32, routes []dataplane.Route) []dataplane.GRESource {
	for _, r := range routes {
		to = append(to, dataplane.GRESource{Peer: peer, Key: key, Prefix: r.Dst})
	}
	return to
}

// appendView appends b's routes to routes and returns its tunnel with
// them (view without a dpView, for the whole state).
func (e *Engine) appendView(b *binding, routes []dataplane.Route) (dataplane.Tunnel, []dataplane.Route) {
	v := struct{ tunnel dataplane.Tunnel }{}
	var encap dataplane.Encap
	coa := b.coa.addr()
	gre := e.bc.tunnel(b) == lmaconfig.TunnelGRE
	switch {
	case gre && coa.Is6():
		v.tunnel = dataplane.Tunnel{Name: greDevice6, Kind: dataplane.IP6GRE, External: true}
		encap = dataplane.Encap{Dst: coa, Src: e.cfg.Address, Keyed: b.greDownSet, Key: b.greDown}
	case gre:
		v.tunnel = dataplane.Tunnel{Name: greDevice4, Kind: dataplane.IP4GRE, External: true}
		encap = dataplane.Encap{Dst: coa, Src: e.cfg.IPv4Address, Keyed: b.greDownSet, Key: b.greDown}
	case coa.Is4():
		// RFC 5844 4: IPv4 transport, IPv6 and IPv4 in IPv4.
		v.tunnel = dataplane.Tunnel{Name: e.tunnelNameOf(dataplane.IP4, coa), Kind: dataplane.IP4, Local: e.cfg.IPv4Address, Remote: coa}
	default:
		// RFC 5213 6.10.2, RFC 5844 3: IPv6 and IPv4 in IPv6.
		v.tunnel = dataplane.Tunnel{Name: e.tunnelNameOf(dataplane.IP6, coa), Kind: dataplane.IP6, Local: e.cfg.Address, Remote: coa}
	}
	for i := range int(b.nhnp) {
		routes = append(routes, dataplane.Route{Dst: e.bc.hnpAt(b, i).Masked(), Dev: v.tunnel.Name, Encap: encap})
	}
	if b.hoa.valid() {
		routes = append(routes, dataplane.Route{Dst: netip.PrefixFrom(b.hoa.a.addr(), 32), Dev: v.tunnel.Name, Encap: encap})
	}
	return v.tunnel, routes
}

// dpTransition changes the data plane from old to new (either may be nil)
// in an order the kernel accepts and that never leaves a client's packets
// checked against a partial set:
//
//  1. the new tunnel, when this session is its first;
//  2. the routes replaced in place (a handoff moves a route in one step);
//  3. the new routes' allowed sources on their tunnel, then the tunnel
//     itself in the set of checked tunnels when step 1 created it (its
//     clients' packets are checked only once their sources are there);
//  4. the routes that went, and the sources of old routes whose tunnel
//     changed or went (a handoff: the same prefix, another device);
//  5. the old tunnel out of the checked set, then the tunnel, when its
//     last session left.
//
// RFC 5213 5.6.2: what the LMA forwards from a MAG's reverse tunnel
// carries the mobile node's home address as its source; a source that is
// no home address of a session that tunnel serves is dropped (ingress
// filtering, BCP 38 / RFC 3704, at the anchor: internal/dataplane's
// TunnelSource).
func (e *Engine) dpTransition(old, new *dpView) {
	first, rest, gone := e.dpOps(old, new)
	if ops := append(append(first, rest...), gone...); len(ops) > 0 {
		e.apply.enqueue(ops)
	}
}

// dpSwitch is dpTransition for a handoff between MAGs. Steps 1 and 2 (the
// new MAG's tunnel if it is new, and the routes that move the downlink
// into it) are a change of their own, applied first; switched is called
// on the applier's goroutine once it is applied, which releases the PBA
// (handoff.go). Steps 3 and 4 (the anti-spoofing sources) follow as a
// change of their own right behind it, so that an nftables transaction
// never holds up the route. Step 5, when the old MAG's last session
// left, comes oldTunnelLinger later (retireTunnel), alone (the kernel
// took up to a second over a tunnel's deletion in the QEMU guest,
// docs/lma.md).
func (e *Engine) dpSwitch(old, new *dpView, switched func(dpResult)) {
	first, rest, gone := e.dpOpsLinger(old, new, true)
	e.apply.push(dpItem{ops: first, done: switched, what: "handoff: route switch"})
	if len(rest) > 0 {
		e.apply.push(dpItem{ops: rest, what: "handoff: sources"})
	}
	if len(gone) > 0 {
		e.apply.push(dpItem{ops: gone, what: "handoff: old tunnel removed"})
	}
}

// dpOps is the operations of dpTransition: first those of steps 1 and 2,
// then the rest but for the deletion of the old tunnel device, gone.
func (e *Engine) dpOps(old, new *dpView) (first, rest, gone []dataplane.Op) {
	return e.dpOpsLinger(old, new, false)
}

// dpOpsLinger is dpOps; with linger, an old tunnel whose last session
// left is not removed but retires (retireTunnel), and gone is empty.
func (e *Engine) dpOpsLinger(old, new *dpView, linger bool) (first, rest, gone []dataplane.Op) {
	if new != nil {
		created := e.ref(new.tunnel)
		if created {
			first = append(first, dataplane.Op{Action: dataplane.Add, Obj: new.tunnel})
		}
		for _, r := range new.routes {
			if old != nil && slices.Contains(old.routes, r) {
				continue
			}
			first = append(first, dataplane.Op{Action: dataplane.Replace, Obj: r})
		}
		for _, r := range new.routes {
			if old != nil && old.allows(r) {
				continue
			}
			rest = append(rest, dataplane.Op{Action: dataplane.Add, Obj: tunnelSource(r)})
		}
		if created {
			rest = append(rest, dataplane.Op{Action: dataplane.Add, Obj: dataplane.TunnelIface(new.tunnel.Name)})
		}
		// RFC 5845 3 on the flow-based GRE device: the MAG's packets
		// carry the session's uplink key; its triples go in before the
		// MAG's GRE is checked.
		for _, g := range new.gre {
			if old != nil && slices.Contains(old.gre, g) {
				continue
			}
			rest = append(rest, dataplane.Op{Action: dataplane.Add, Obj: g})
		}
		if new.peer.IsValid() && e.refPeer(new.peer) {
			rest = append(rest, dataplane.Op{Action: dataplane.Add, Obj: dataplane.GREPeer(new.peer)})
		}
	}
	if old != nil {
		for _, r := range old.routes {
			if new != nil && slices.ContainsFunc(new.routes, func(n dataplane.Route) bool { return n.Dst == r.Dst }) {
				continue
			}
			rest = append(rest, dataplane.Op{Action: dataplane.Del, Obj: r})
		}
		for _, r := range old.routes {
			if new != nil && new.allows(r) {
				continue
			}
			rest = append(rest, dataplane.Op{Action: dataplane.Del, Obj: tunnelSource(r)})
		}
		for _, g := range old.gre {
			if new != nil && slices.Contains(new.gre, g) {
				continue
			}
			rest = append(rest, dataplane.Op{Action: dataplane.Del, Obj: g})
		}
		if old.peer.IsValid() && e.unrefPeer(old.peer) {
			rest = append(rest, dataplane.Op{Action: dataplane.Del, Obj: dataplane.GREPeer(old.peer)})
		}
		if e.unref(old.tunnel, linger) {
			rest = append(rest, dataplane.Op{Action: dataplane.Del, Obj: dataplane.TunnelIface(old.tunnel.Name)})
			gone = append(gone, dataplane.Op{Action: dataplane.Del, Obj: old.tunnel})
		}
	}
	return first, rest, gone
}

// tunnelSource is the source a route's session may send from through the
// route's tunnel: its home network prefix, or its IPv4 home address as a
// /32 (RFC 5213 5.6.2, RFC 5844 3.1.3).
func tunnelSource(r dataplane.Route) dataplane.TunnelSource {
	return dataplane.TunnelSource{Dev: r.Dev, Prefix: r.Dst}
}

// allows reports whether the view already allows the source of r (the
// same destination through the same device: a change of GRE key or MAG
// behind the flow-based GRE device keeps it).
func (v *dpView) allows(r dataplane.Route) bool {
	return slices.ContainsFunc(v.routes, func(o dataplane.Route) bool { return o.Dst == r.Dst && o.Dev == r.Dev })
}

// ref counts a session on t and reports whether t must be created. A
// tunnel that lingers after its last session moved away (unref) is
// taken back as it is: it is still in the kernel and in the uplink check.
func (e *Engine) ref(t dataplane.Tunnel) bool {
	if r := e.tunnels[t.Name]; r != nil {
		if r.retire != nil {
			r.retire.Stop()
			r.retire = nil
			r.gen++
		}
		r.refs++
		return false
	}
	e.tunnels[t.Name] = &tunnelRef{t: t, refs: 1}
	return true
}

// refPeer counts a keyed GRE session of a MAG and reports whether the MAG
// must join the checked GRE peers.
func (e *Engine) refPeer(a netip.Addr) bool {
	e.grePeers[a]++
	return e.grePeers[a] == 1
}

// unrefPeer uncounts one and reports whether the MAG must leave them.
func (e *Engine) unrefPeer(a netip.Addr) bool {
	n, ok := e.grePeers[a]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(e.grePeers, a)
		return true
	}
	e.grePeers[a] = n - 1
	return false
}

// unref uncounts a session and reports whether t must be removed. With
// linger (a handoff moved the session away), a tunnel left without
// sessions stays oldTunnelLinger and retireTunnel removes it then, unless
// a session took it back (ref); unref reports false for it.
func (e *Engine) unref(t dataplane.Tunnel, linger bool) bool {
	r := e.tunnels[t.Name]
	if r == nil || r.refs <= 0 {
		return false
	}
	if r.refs--; r.refs > 0 {
		return false
	}
	if linger {
		r.gen++
		gen := r.gen
		r.retire = e.clk.AfterFunc(oldTunnelLinger, func() { e.post(func() { e.retireTunnel(t.Name, r, gen) }) })
		return false
	}
	delete(e.tunnels, t.Name)
	return true
}

// retireTunnel removes the tunnel of r, which lingered after its last
// session moved to another MAG, if no session took it back meanwhile
// and no whole-state rebuild (fullState, countTunnels) replaced the
// counts (on the loop): first out of the uplink check, then the device
// (RFC 5213 5.6.1, steps 4 and 5 of dpTransition).
func (e *Engine) retireTunnel(name string, r *tunnelRef, gen uint64) {
	if e.tunnels[name] != r || r.refs > 0 || r.gen != gen {
		return
	}
	delete(e.tunnels, name)
	e.apply.push(dpItem{ops: []dataplane.Op{
		{Action: dataplane.Del, Obj: dataplane.TunnelIface(name)},
		{Action: dataplane.Del, Obj: r.t},
	}, what: "handoff: old tunnel removed"})
}

// fullState is the whole data plane of every session, for the
// reconciliation at start, after a failure and periodically. With a
// million sessions it is a million routes and as many allowed sources:
// the slices are sized once (appending would copy them some thirty times
// over, the old arrays garbage until the next cycle), and no per-session
// view is built.
func (e *Engine) fullState() *dataplane.State {
	n := 0
	for b := range e.bc.all {
		n += int(b.nhnp)
		if b.hoa.valid() {
			n++
		}
	}
	s := &dataplane.State{
		Routes:  make([]dataplane.Route, 0, n),
		Sysctls: lmaSysctls(),
		// A table even without sessions, so that per-session changes
		// always find its sets.
		Filter: &dataplane.Filter{TunnelSources: make([]dataplane.TunnelSource, 0, n)},
	}
	e.tunnels = map[string]*tunnelRef{}
	e.grePeers = map[netip.Addr]int{}
	for b := range e.bc.all {
		var t dataplane.Tunnel
		from := len(s.Routes)
		t, s.Routes = e.appendView(b, s.Routes)
		for _, r := range s.Routes[from:] {
			s.Filter.TunnelSources = append(s.Filter.TunnelSources, tunnelSource(r))
		}
		if peer, key, ok := e.greUplink(b); ok {
			s.Filter.GRESources = appendGRESources(s.Filter.GRESources, peer, key, s.Routes[from:])
			if e.refPeer(peer) {
				s.Filter.GREPeers = append(s.Filter.GREPeers, peer)
			}
		}
		if e.ref(t) {
			s.Tunnels = append(s.Tunnels, t)
			// Every tunnel device of ours is checked, the flow-based
			// GRE ones included (RFC 5213 5.6.2).
			s.Filter.Tunnels = append(s.Filter.Tunnels, t.Name)
		}
	}
	return s
}

// lmaSysctls are the namespace settings the LMA needs:
//
//   - forwarding, IPv6 and IPv4: the LMA routes its clients' packets
//     between the tunnels and the network (RFC 5213 5.6.2, RFC 5844 3.1.3);
//   - net.ipv4.conf.all.rp_filter=0. The kernel applies the larger of
//     conf/all and the device's own rp_filter (IN_DEV_MAXCONF), so the
//     0 the data plane gives each tunnel of ours counts only when all is
//     0 too (Debian's and systemd's sysctl.d set all to 2). And loose
//     mode (2) is not enough: our tunnels carry no IPv4 address, and for
//     such a device the kernel's reverse-path check fails any source whose
//     route leaves by another device (__fib_validate_source, "no_addr",
//     loose or strict): a home address whose route points into another
//     tunnel than the one a packet came in by, as for a mobile node
//     attached through several MAGs whose flows the LMA steers (RFC 7864
//     3), or an IPv4 home address on a flow-based GRE device while its
//     route is being replaced. The check of each uplink source against
//     its session is the filter's (TunnelSource), for IPv6 too, which has
//     no rp_filter. Other devices keep their own value.
func lmaSysctls() []dataplane.Sysctl {
	return append(dataplane.ForwardingSysctls(), dataplane.Sysctl{Family: 4, Dev: "all", Name: "rp_filter", Value: 0})
}

// countTunnels rebuilds the tunnels' session counts without building the
// state (no data plane to hand it to).
func (e *Engine) countTunnels() {
	e.tunnels = map[string]*tunnelRef{}
	e.grePeers = map[netip.Addr]int{}
	for b := range e.bc.all {
		t, _ := e.appendView(b, nil)
		e.ref(t)
		if peer, _, ok := e.greUplink(b); ok {
			e.refPeer(peer)
		}
	}
}

// resyncDelay is how long after a failed data plane change the engine
// hands the data plane its whole state again: long enough to coalesce a
// burst of failures, short enough that a lost route comes back quickly.
const resyncDelay = 5 * time.Second

// scheduleResync arranges a whole-state resynchronisation after a
// failure (on the loop).
func (e *Engine) scheduleResync() {
	if e.resyncPending {
		return
	}
	e.resyncPending = true
	e.clk.AfterFunc(resyncDelay, func() {
		e.post(func() {
			e.resyncPending = false
			e.log.Info("lma: resynchronising the data plane after a failure", "bindings", e.bc.len())
			e.apply.enqueueSet(e.fullState())
		})
	})
}

// schedulePeriodicResync arms the periodic whole-state resynchronisation
// (Config.DataplaneResyncInterval; 0 is off, and so is an engine without
// a data plane), replacing the timer armed before.
func (e *Engine) schedulePeriodicResync() {
	if e.resyncTimer != nil {
		e.resyncTimer.Stop()
		e.resyncTimer = nil
	}
	if e.noDP || e.cfg.DataplaneResyncInterval <= 0 {
		return
	}
	e.resyncTimer = e.clk.AfterFunc(e.cfg.DataplaneResyncInterval, func() { e.post(e.periodicResync) })
}

// periodicResync hands the data plane the whole state, which reads the
// kernel again (dataplane.Resyncer): a tunnel, route or filter element
// removed or changed by hand comes back, and anything of ours nobody
// wants goes. It runs on the applier's goroutine behind the changes
// already queued; the loop only builds the state.
func (e *Engine) periodicResync() {
	e.resyncTimer = nil
	e.stats.dpResyncs.Add(1)
	if e.debug() {
		e.log.Debug("lma: periodic data plane resynchronisation", "bindings", e.bc.len())
	}
	e.apply.enqueueSet(e.fullState())
	e.schedulePeriodicResync()
}
