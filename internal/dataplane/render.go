package dataplane

import (
	"fmt"
	"slices"
	"strings"
)

// String renders the tunnel much as `ip -d link` would describe it.
func (t Tunnel) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tunnel %s %s", t.Name, t.Kind)
	if t.External {
		b.WriteString(" external")
	} else {
		fmt.Fprintf(&b, " local %s remote %s", t.Local, t.Remote)
	}
	if t.Keyed {
		fmt.Fprintf(&b, " key %d", t.Key)
	}
	if t.HopLimit != 0 {
		fmt.Fprintf(&b, " hoplimit %d", t.HopLimit)
	}
	if t.MTU != 0 {
		fmt.Fprintf(&b, " mtu %d", t.MTU)
	}
	return b.String()
}

// String renders the address as `ip addr` arguments.
func (a Address) String() string {
	s := fmt.Sprintf("address %s dev %s", a.Prefix, a.Dev)
	if a.NoDAD {
		s += " nodad"
	}
	if a.NoPrefixRoute {
		s += " noprefixroute"
	}
	return s
}

// String renders the route as `ip route` arguments.
func (r Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "route %s", r.Dst)
	if r.Encap.IsSet() {
		e := r.Encap
		fam := "ip"
		if e.Dst.Is6() {
			fam = "ip6"
		}
		fmt.Fprintf(&b, " encap %s", fam)
		if e.Keyed {
			fmt.Fprintf(&b, " id %d key", e.Key)
		}
		fmt.Fprintf(&b, " dst %s", e.Dst)
		if e.Src.IsValid() {
			fmt.Fprintf(&b, " src %s", e.Src)
		}
		if e.HopLimit != 0 {
			fmt.Fprintf(&b, " hoplimit %d", e.HopLimit)
		}
	}
	if r.Gateway.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gateway)
	}
	fmt.Fprintf(&b, " dev %s", r.Dev)
	if r.Table != 0 {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	return b.String()
}

// String renders the rule as `ip rule` arguments.
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %d from %s", r.Priority, r.Src)
	if r.IIf != "" {
		fmt.Fprintf(&b, " iif %s", r.IIf)
	}
	if r.Mask != 0 {
		fmt.Fprintf(&b, " fwmark %#x/%#x", r.Mark, r.Mask)
	}
	fmt.Fprintf(&b, " lookup %d", r.Table)
	return b.String()
}

// String renders the link address as `ip link set` arguments.
func (l LinkMAC) String() string { return fmt.Sprintf("link %s address %s", l.Dev, l.MAC) }

func (FilterTable) String() string   { return "filter table" }
func (a AccessIface) String() string { return "filter access " + string(a) }

// String renders the allowed source.
func (s Source) String() string { return fmt.Sprintf("filter source %s %s", s.MAC, s.Prefix) }

// String renders the flow selector and its mark.
func (f Flow) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "filter flow %s -> %s", f.Src, f.Dst)
	if f.Proto != 0 {
		fmt.Fprintf(&b, " proto %d", f.Proto)
	}
	if f.DstPortFrom != 0 || f.DstPortTo != 0 {
		fmt.Fprintf(&b, " dport %d-%d", f.DstPortFrom, f.DstPortTo)
	}
	if f.Mark != 0 {
		fmt.Fprintf(&b, " mark %#x", f.Mark)
	}
	return b.String()
}

// String renders the state with the kernel's defaults made explicit, one
// object a line, sorted within each kind (tunnels, addresses, routes, rules,
// filter), so that tests compare it with a literal and a dump of the real
// kernel renders the same as the state that produced it.
func (s *State) String() string {
	if s == nil {
		return ""
	}
	n := normalize(s)
	var lines []string
	add := func(group []string) {
		slices.Sort(group)
		lines = append(lines, group...)
	}
	add(render(n.Tunnels))
	add(render(n.LinkMACs))
	add(render(n.AddrGenModes))
	add(render(n.Sysctls))
	add(render(n.Addresses))
	add(render(n.Routes))
	rules := slices.Clone(n.Rules)
	slices.SortFunc(rules, compareRules)
	lines = append(lines, render(rules)...)
	if f := n.Filter; f != nil {
		lines = append(lines, FilterTable{}.String())
		add(render(f.AccessIfaces))
		add(render(f.Sources))
		add(render(f.Flows))
		tunnels := make([]string, len(f.Tunnels))
		for i, t := range f.Tunnels {
			tunnels[i] = TunnelIface(t).String()
		}
		add(tunnels)
		add(render(f.TunnelSources))
		peers := make([]string, len(f.GREPeers))
		for i, p := range f.GREPeers {
			peers[i] = GREPeer(p).String()
		}
		add(peers)
		add(render(f.GRESources))
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func render[T any](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		switch v := any(x).(type) {
		case string:
			out[i] = AccessIface(v).String()
		case fmt.Stringer:
			out[i] = v.String()
		}
	}
	return out
}
