package mag

import (
	"context"
	"net/netip"
	"slices"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/mag/magconfig"
)

// The data plane is installed whole by applyDataplane (at start, and to
// resynchronise after a failure) and then changed one client at a time by
// syncClient: a registration costs a handful of kernel operations whatever
// the number of clients (a whole-state Set plans over every client: about
// 0.4 ms at 64 clients). Both compute what they install at the time they
// run, under dpMu, from the Binding Update List, so calls made in any
// order leave the kernel matching the list.

// applyDataplane hands the whole desired data plane to the kernel.
func (e *Engine) applyDataplane() error {
	e.dpMu.Lock()
	defer e.dpMu.Unlock()
	return e.applyDataplaneDPLocked()
}

// ResyncDataplane reads the kernel again and installs the whole desired
// data plane, for when state of ours may have gone behind the data
// plane's back: an access link set down and up loses its IPv6 addresses,
// the fixed link-local address of RFC 5213 6.9.3 among them, and the
// routes to the clients on it; a link created again loses the fixed MAC
// (dataplane.WatchLinks reports those). A data plane that cannot
// resynchronise (no dataplane.Resyncer) is handed the state with Set.
func (e *Engine) ResyncDataplane() error {
	e.dpMu.Lock()
	defer e.dpMu.Unlock()
	rs, ok := e.dp.(dataplane.Resyncer)
	if !ok {
		return e.applyDataplaneDPLocked()
	}
	return e.setDataplaneDPLocked(rs.Resync)
}

func (e *Engine) applyDataplaneDPLocked() error {
	return e.setDataplaneDPLocked(e.dp.Set)
}

func (e *Engine) setDataplaneDPLocked(set func(context.Context, *dataplane.State) error) error {
	e.mu.Lock()
	st := e.desiredLocked()
	installed := map[macKey]map[string]dataplane.Object{}
	tun := e.tunnelLocked()
	for k, b := range e.clients {
		if b.served() {
			installed[k] = e.clientObjectsLocked(b, tun)
		}
	}
	ctx := e.ctx
	e.mu.Unlock()
	err := set(ctx, st)
	if err != nil {
		e.dpResync = true
		return err
	}
	e.dpInstalled, e.dpResync = installed, false
	return nil
}

// syncClient makes the kernel hold exactly the objects of the client with
// MAC k as the list now says: its routes, rules and sources if it is
// served, none otherwise. It reports what it did (trace.go).
func (e *Engine) syncClient(k macKey) dpReport {
	var rep dpReport
	start := e.clk.Now()
	e.dpMu.Lock()
	defer e.dpMu.Unlock()
	if e.dpResync || e.dpInstalled == nil {
		e.fullSyncDPLocked()
		rep.full, rep.took = true, e.clk.Now().Sub(start)
		return rep
	}
	e.mu.Lock()
	var want map[string]dataplane.Object
	if b := e.clients[k]; b != nil && b.served() {
		want = e.clientObjectsLocked(b, e.tunnelLocked())
	}
	ctx := e.ctx
	e.mu.Unlock()
	have := e.dpInstalled[k]
	var dels, adds []dataplane.Op
	for _, key := range sortedKeys(have) {
		if _, ok := want[key]; !ok {
			if e.sharedDPLocked(k, key) {
				continue // the IPv4 default-router address of another client too
			}
			dels = append(dels, dataplane.Op{Action: dataplane.Del, Obj: have[key]})
		}
	}
	for _, key := range sortedKeys(want) {
		if _, ok := have[key]; !ok {
			if e.sharedDPLocked(k, key) {
				continue // already installed for another client: no request on the PBA's path
			}
			adds = append(adds, dataplane.Op{Action: dataplane.Add, Obj: want[key]})
		}
	}
	if len(dels)+len(adds) == 0 {
		return rep
	}
	sortOps(dels, true)
	sortOps(adds, false)
	ops := append(dels, adds...)
	rep.count(ops)
	// One Change per run of routes and rules and per run of filter
	// sources: the kernel requests a batching data plane makes of the
	// whole list anyway (one sendmsg, one nftables transaction), and the
	// routes and rules, which carry the client's flows, are timed on
	// their own (trace.go).
	for len(ops) > 0 {
		n := 1
		for n < len(ops) && isSource(ops[n].Obj) == isSource(ops[0].Obj) {
			n++
		}
		if err := e.dp.Change(ctx, ops[:n]...); err != nil {
			e.count(func(s *Stats) { s.DataplaneFailures++ })
			e.log.Error("data plane change failed; resynchronising the whole state", "err", err)
			e.fullSyncDPLocked()
			rep.full, rep.took = true, e.clk.Now().Sub(start)
			return rep
		}
		if !isSource(ops[0].Obj) && rep.routed == 0 {
			rep.routed = e.clk.Now().Sub(start)
		}
		ops = ops[n:]
	}
	rep.took = e.clk.Now().Sub(start)
	if want == nil {
		delete(e.dpInstalled, k)
	} else {
		e.dpInstalled[k] = want
	}
	return rep
}

// sharedDPLocked reports whether an object of the client with MAC k, by
// its rendering, is installed for another client too: the IPv4
// default-router address on an access link (clientObjectsLocked) is one
// address for all the IPv4 clients there, removed with the last of them.
func (e *Engine) sharedDPLocked(k macKey, key string) bool {
	for other, objs := range e.dpInstalled {
		if other == k {
			continue
		}
		if _, ok := objs[key]; ok {
			return true
		}
	}
	return false
}

func (e *Engine) fullSyncDPLocked() {
	if err := e.applyDataplaneDPLocked(); err != nil {
		e.count(func(s *Stats) { s.DataplaneFailures++ })
		e.log.Error("data plane update failed", "err", err)
	}
}

// sortOps orders one client's operations for the kernel. Adding (a PBA):
// the IPv4 default-router address, routes, rules, then filter sources.
// The router address before the routes, so that the kernel's first ARP
// request for the client already comes from it. The on-link routes: they
// carry the downlink of the client's existing flows (RFC 5213 6.10.3,
// the correspondent's retransmissions after a handoff); the
// reverse-tunnel rules next, in the same netlink request, for what the
// client sends (its ACKs), and never before a route of a table they
// point at (the per-client GRE table, RFC 5845 3); the anti-spoof
// sources (RFC 5213 6.10.5) last, one nftables transaction. Removing:
// rules, routes, sources, so that no rule points at a table whose route
// is gone. Within a kind the order given (by rendering: sortedKeys) is
// kept, so no object is rendered again.
func sortOps(ops []dataplane.Op, removing bool) {
	rank := func(o dataplane.Object) int {
		switch o.(type) {
		case dataplane.Route:
			if removing {
				return 1
			}
			return 0
		case dataplane.Rule:
			if removing {
				return 0
			}
			return 1
		case dataplane.Address:
			if removing {
				return 2
			}
			return -1
		}
		return 2
	}
	slices.SortStableFunc(ops, func(a, b dataplane.Op) int { return rank(a.Obj) - rank(b.Obj) })
}

func isSource(o dataplane.Object) bool {
	_, ok := o.(dataplane.Source)
	return ok
}

// sortedKeys are an object map's renderings in order.
func sortedKeys(m map[string]dataplane.Object) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tunnelLocked is the MAG's tunnel to its LMA (RFC 5213 6.10.1, 6.10.2):
// IPv6-in-IPv6 (and IPv4, RFC 5844 3) over IPv6, the same in IPv4 over an
// IPv4 transport network (RFC 5844 4), or with GRE keys (RFC 5845) one
// flow-based device whose per-client routes carry their keys.
func (e *Engine) tunnelLocked() dataplane.Tunnel {
	t := dataplane.Tunnel{Name: TunnelName, MTU: e.opts.TunnelMTU}
	v4 := e.cfg.Transport == magconfig.TransportIPv4
	switch {
	case e.cfg.Tunnel == magconfig.TunnelGRE && v4:
		t.Kind, t.External = dataplane.IP4GRE, true
	case e.cfg.Tunnel == magconfig.TunnelGRE:
		t.Kind, t.External = dataplane.IP6GRE, true
	case v4:
		t.Kind, t.Local, t.Remote = dataplane.IP4, e.cfg.IPv4ProxyCoA, e.cfg.LMAIPv4Address
	default:
		t.Kind, t.Local, t.Remote = dataplane.IP6, e.cfg.ProxyCoA, e.cfg.LMAAddress
	}
	return t
}

var (
	default6 = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	default4 = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
)

// desiredLocked computes the MAG's whole data plane from the Binding
// Update List.
func (e *Engine) desiredLocked() *dataplane.State {
	st := &dataplane.State{Filter: &dataplane.Filter{}}
	tun := e.tunnelLocked()
	st.Tunnels = []dataplane.Tunnel{tun}
	if !tun.External {
		// RFC 5213 6.10.3: what a client sends leaves through the tunnel:
		// one table whose default routes point into it, selected by the
		// rules below.
		st.Routes = append(st.Routes,
			dataplane.Route{Table: e.opts.Table, Dst: default6, Dev: tun.Name},
			dataplane.Route{Table: e.opts.Table, Dst: default4, Dev: tun.Name})
	}
	// RFC 5213 6.10.3, 6.10.5: the MAG routes between its access links
	// and the tunnel, for IPv6 and (RFC 5844 3) IPv4.
	st.Sysctls = dataplane.ForwardingSysctls()
	// IPv4 downlink arrives on the tunnel from sources the main table
	// reaches by the uplink: no reverse-path filter may drop it. The data
	// plane turns it off on the tunnel; the kernel applies the larger of
	// that and conf/all (OpenWrt's default may be 1), so all goes to 0 and
	// each other device keeps its own value. Anti-spoofing on the access
	// links is the filter's (RFC 5213 6.10.5).
	st.Sysctls = append(st.Sysctls, dataplane.Sysctl{Family: 4, Dev: "all", Name: "rp_filter", Value: 0})
	ifaces := make([]string, 0, len(e.links))
	for name := range e.links {
		ifaces = append(ifaces, name)
	}
	slices.Sort(ifaces)
	for _, name := range ifaces {
		// RFC 5213 6.8, 6.9.3: the fixed link-local address below is the
		// only one on the access link; the kernel makes none of its own.
		st.AddrGenModes = append(st.AddrGenModes, dataplane.AddrGenMode{Dev: name, Mode: dataplane.AddrGenNone})
		// The MAG is the clients' router on the link: forwarding on the
		// interface (RFC 4861 6.2.2 joins all-routers; 7.2.5 the IsRouter
		// flag of its neighbour advertisements, without which a client
		// drops it from its default router list), and it never takes a
		// router advertisement there.
		st.Sysctls = append(st.Sysctls,
			dataplane.Sysctl{Family: 6, Dev: name, Name: "forwarding", Value: 1},
			dataplane.Sysctl{Family: 6, Dev: name, Name: "accept_ra", Value: 0})
		// RFC 5213 6.9.3: the fixed link-layer address on every access
		// interface, so the kernel takes frames sent to the router the
		// clients know and answers for it from the same address.
		st.LinkMACs = append(st.LinkMACs, dataplane.LinkMAC{Dev: name, MAC: e.cfg.LinkLayerAddress})
		// RFC 5213 6.8, 6.9.3: the fixed link-local address on every
		// access link, without DAD: every MAG of the domain uses it.
		st.Addresses = append(st.Addresses, dataplane.Address{
			Dev: name, Prefix: netip.PrefixFrom(e.cfg.LinkLocalAddress, 64), NoDAD: true, NoPrefixRoute: true,
		})
	}
	st.Filter.AccessIfaces = ifaces

	keys := make([]macKey, 0, len(e.clients))
	for k, b := range e.clients {
		if b.served() {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b macKey) int { return slices.Compare(a[:], b[:]) })
	for _, k := range keys {
		e.clientStateLocked(st, e.clients[k], tun)
	}
	return st
}

// clientStateLocked adds one served client to st.
func (e *Engine) clientStateLocked(st *dataplane.State, b *binding, tun dataplane.Tunnel) {
	objs := e.clientObjectsLocked(b, tun)
	for _, k := range sortedKeys(objs) {
		switch o := objs[k].(type) {
		case dataplane.Route:
			st.Routes = append(st.Routes, o)
		case dataplane.Rule:
			st.Rules = append(st.Rules, o)
		case dataplane.Source:
			st.Filter.Sources = append(st.Filter.Sources, o)
		case dataplane.Address:
			// The router address is shared by the link's IPv4 clients.
			if !slices.Contains(st.Addresses, o) {
				st.Addresses = append(st.Addresses, o)
			}
		}
	}
}

// clientObjectsLocked are one served client's kernel objects, by their
// rendering: with an IPv4 home address, the IPv4 default-router address
// its DHCP lease names on its access interface; on-link routes to its
// addresses, reverse-tunnel rules for
// what it sends from them on its access interface (RFC 5213 6.10.3, RFC
// 5844 3.1.2), its anti-spoof sources (RFC 5213 6.10.5: only the
// client's own prefix and address are tunnelled), and with GRE keys its
// own default routes.
func (e *Engine) clientObjectsLocked(b *binding, tun dataplane.Tunnel) map[string]dataplane.Object {
	objs := map[string]dataplane.Object{}
	add := func(o dataplane.Object) { objs[o.String()] = o }
	iface := b.link.cfg.Interface
	table := e.opts.Table
	if tun.External {
		// RFC 5845 3: the uplink key belongs to the session, so the
		// client's default routes are its own.
		table = b.table
		lma, src := e.cfg.LMAAddress, e.cfg.ProxyCoA
		if e.cfg.Transport == magconfig.TransportIPv4 {
			lma, src = e.cfg.LMAIPv4Address, e.cfg.IPv4ProxyCoA
		}
		enc := dataplane.Encap{Dst: lma, Src: src, Keyed: b.greKeyed, Key: b.greUp}
		add(dataplane.Route{Table: table, Dst: default6, Dev: tun.Name, Encap: enc})
		add(dataplane.Route{Table: table, Dst: default4, Dev: tun.Name, Encap: enc})
	}
	if b.hoa.IsValid() && b.router4.IsValid() {
		// RFC 5844 3.3: the client's IPv4 default router, which the LMA
		// names in the PBA and every MAG of the domain presents, as a /32
		// on the access interface (no prefix route: the client's own /32
		// route below says where it is). With it, the kernel answers ARP
		// for the router from the fixed MAC of RFC 5213 6.9.3 and, for
		// the first downlink packet, asks for the client from the router's
		// address instead of the backhaul's; RFC 826: the client's request
		// updates the sender's entry, so its ARP entry for the router
		// (which its queued packets wait on after a move) is completed
		// without its own retry (docs/handover.md 9.9). The DHCP server's
		// user-space responder answers the same requests with the same
		// MAC: the duplicate replies are identical, and harmless.
		add(dataplane.Address{Dev: iface, Prefix: netip.PrefixFrom(b.router4, 32), NoPrefixRoute: true})
	}
	own := slices.Clone(b.prefixes)
	if b.hoa.IsValid() {
		own = append(own, netip.PrefixFrom(b.hoa.Addr(), 32))
	}
	for _, p := range own {
		add(dataplane.Route{Dst: p, Dev: iface})
		add(dataplane.Rule{Priority: e.opts.RulePriority, Src: p, IIf: iface, Table: table})
		add(dataplane.Source{MAC: slices.Clone(b.mac), Prefix: p})
	}
	return objs
}
