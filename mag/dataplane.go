package mag

import (
	"net/netip"
	"slices"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/mag/magconfig"
)

// applyDataplane hands the whole desired data plane to the kernel. Calls
// are serialised, and each computes the state at the time it runs, so the
// last call always leaves the kernel matching the Binding Update List.
func (e *Engine) applyDataplane() error {
	e.dpMu.Lock()
	defer e.dpMu.Unlock()
	e.mu.Lock()
	st := e.desiredLocked()
	ctx := e.ctx
	e.mu.Unlock()
	return e.dp.Set(ctx, st)
}

func (e *Engine) applyDataplaneLogged() {
	if err := e.applyDataplane(); err != nil {
		e.count(func(s *Stats) { s.DataplaneFailures++ })
		e.log.Error("data plane update failed", "err", err)
	}
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
	ifaces := make([]string, 0, len(e.links))
	for name := range e.links {
		ifaces = append(ifaces, name)
	}
	slices.Sort(ifaces)
	for _, name := range ifaces {
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

// clientStateLocked adds one served client: on-link routes to its
// addresses, reverse-tunnel rules for what it sends from them on its
// access interface (RFC 5213 6.10.3, RFC 5844 3.1.2), and its anti-spoof
// sources (RFC 5213 6.10.5: only the client's own prefix and address are
// tunnelled).
func (e *Engine) clientStateLocked(st *dataplane.State, b *binding, tun dataplane.Tunnel) {
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
		st.Routes = append(st.Routes,
			dataplane.Route{Table: table, Dst: default6, Dev: tun.Name, Encap: enc},
			dataplane.Route{Table: table, Dst: default4, Dev: tun.Name, Encap: enc})
	}
	var own []netip.Prefix
	own = append(own, b.prefixes...)
	if b.hoa.IsValid() {
		own = append(own, netip.PrefixFrom(b.hoa.Addr(), 32))
	}
	for _, p := range own {
		st.Routes = append(st.Routes, dataplane.Route{Dst: p, Dev: iface})
		st.Rules = append(st.Rules, dataplane.Rule{Priority: e.opts.RulePriority, Src: p, IIf: iface, Table: table})
		st.Filter.Sources = append(st.Filter.Sources, dataplane.Source{MAC: b.mac, Prefix: p})
	}
}
