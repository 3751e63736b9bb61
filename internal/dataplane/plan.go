package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Action is what an [Op] does to its object.
type Action uint8

// Actions.
const (
	// Add creates the object. Adding an address, rule or set element that
	// already exists is not an error.
	Add Action = iota + 1
	// Del removes the object. Removing one that is gone is not an error.
	Del
	// Replace creates the object or changes it in place (routes, the MTU
	// of a tunnel, the flags of an address).
	Replace
)

func (a Action) String() string {
	switch a {
	case Add:
		return "add"
	case Del:
		return "del"
	case Replace:
		return "replace"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Object is one kernel object of ours: a [Tunnel], [Address], [Route],
// [Rule], [FilterTable], [AccessIface], [Source] or [Flow]; or a
// [LinkMAC], [AddrGenMode] or [Sysctl], settings of devices that may not
// be ours and of the namespace, which are set and never undone.
type Object interface {
	fmt.Stringer
	object()
}

// FilterTable is the nftables table with its chains, rules and empty sets.
type FilterTable struct{}

// AccessIface is one element of the table's set of access interfaces.
type AccessIface string

func (Tunnel) object()      {}
func (Address) object()     {}
func (Route) object()       {}
func (Rule) object()        {}
func (FilterTable) object() {}
func (AccessIface) object() {}
func (Source) object()      {}
func (Flow) object()        {}
func (LinkMAC) object()     {}

// Op is one step of a [Plan].
type Op struct {
	Action Action
	Obj    Object
}

func (o Op) String() string { return o.Action.String() + " " + o.Obj.String() }

// Plan returns the operations that turn the kernel state cur into want, in
// this order, which respects the objects' dependencies:
//
//  1. filter elements (flows, sources, access interfaces), or the whole
//     filter table, removed;
//  2. rules, routes, addresses, tunnels removed, in that order (a tunnel
//     that must change other than its MTU is removed here and created
//     again below; the kernel drops its routes and addresses with it);
//  3. tunnels created or changed, brought up; foreign devices' MACs,
//     address generation modes and sysctls set; then the kernel-made
//     link-local addresses of devices whose mode is none removed;
//  4. addresses, routes, rules added or replaced;
//  5. the filter table, then its access interfaces, sources and flows.
//
// Both states must be valid; Plan normalises defaults itself. Equal states
// give an empty plan.
func Plan(cur, want *State) []Op {
	if cur == nil {
		cur = &State{}
	}
	if want == nil {
		want = &State{}
	}
	// Set hands states it normalised already: copying a million routes
	// twice more per Set was a third of a resynchronisation's memory.
	cur, want = normalized(cur), normalized(want)
	var dels, adds []Op

	// Tunnels first: their fate decides which routes and addresses the
	// kernel drops on its own.
	curT := indexBy(cur.Tunnels, func(t Tunnel) string { return t.Name })
	wantT := indexBy(want.Tunnels, func(t Tunnel) string { return t.Name })
	gone := map[string]bool{} // devices deleted (and maybe recreated)
	var tunnelDels, tunnelAdds []Op
	for name, c := range curT {
		w, ok := wantT[name]
		switch {
		case !ok:
			tunnelDels = append(tunnelDels, Op{Del, c})
			gone[name] = true
		case !sameTunnel(c, w):
			tunnelDels = append(tunnelDels, Op{Del, c})
			tunnelAdds = append(tunnelAdds, Op{Add, w})
			gone[name] = true
		case w.MTU != 0 && c.MTU != w.MTU:
			tunnelAdds = append(tunnelAdds, Op{Replace, w})
		}
	}
	for name, w := range wantT {
		if _, ok := curT[name]; !ok {
			tunnelAdds = append(tunnelAdds, Op{Add, w})
		}
	}

	// Addresses.
	curA := indexBy(cur.Addresses, addressKey)
	wantA := indexBy(want.Addresses, addressKey)
	var addrDels, addrAdds []Op
	for k, c := range curA {
		if gone[c.Dev] {
			delete(curA, k) // the kernel drops it with the device
			continue
		}
		if _, ok := wantA[k]; !ok {
			addrDels = append(addrDels, Op{Del, c})
		}
	}
	for k, w := range wantA {
		c, ok := curA[k]
		switch {
		case !ok:
			addrAdds = append(addrAdds, Op{Add, w})
		case c != w:
			addrAdds = append(addrAdds, Op{Replace, w})
		}
	}

	// Routes: indexed by position, not copied into the maps (an LMA
	// holds a million; a copy each was most of a Set's memory).
	curR := positions(cur.Routes, Route.key)
	wantR := positions(want.Routes, Route.key)
	var routeDels, routeAdds []Op
	for k, i := range curR {
		c := cur.Routes[i]
		if gone[c.Dev] {
			delete(curR, k)
			continue
		}
		if _, ok := wantR[k]; !ok {
			routeDels = append(routeDels, Op{Del, c})
		}
	}
	for k, j := range wantR {
		w := want.Routes[j]
		if i, ok := curR[k]; !ok || cur.Routes[i] != w {
			routeAdds = append(routeAdds, Op{Replace, w})
		}
	}

	// Rules: a rule is its whole content.
	curU := indexBy(cur.Rules, func(r Rule) Rule { return r })
	wantU := indexBy(want.Rules, func(r Rule) Rule { return r })
	var ruleDels, ruleAdds []Op
	for r := range curU {
		if _, ok := wantU[r]; !ok {
			ruleDels = append(ruleDels, Op{Del, r})
		}
	}
	for r := range wantU {
		if _, ok := curU[r]; !ok {
			ruleAdds = append(ruleAdds, Op{Add, r})
		}
	}

	// Link addresses: set when the kernel is not known to hold them; a
	// dump does not report them, so after one they are set again (setting
	// the address a device has changes nothing).
	curM := indexBy(cur.LinkMACs, func(l LinkMAC) string { return l.Dev + " " + l.MAC.String() })
	var macAdds []Op
	for _, w := range want.LinkMACs {
		if _, ok := curM[w.Dev+" "+w.MAC.String()]; !ok {
			macAdds = append(macAdds, Op{Replace, w})
		}
	}

	// Address generation modes and sysctls, the same way; those of a
	// device deleted above went with it.
	curG := indexBy(cur.AddrGenModes, func(m AddrGenMode) string { return m.Dev })
	var linkAdds []Op
	for _, w := range want.AddrGenModes {
		if c, ok := curG[w.Dev]; !ok || c != w || gone[w.Dev] {
			linkAdds = append(linkAdds, Op{Replace, w})
		}
	}
	curS := indexBy(cur.Sysctls, Sysctl.key)
	for _, w := range want.Sysctls {
		if c, ok := curS[w.key()]; !ok || c != w || gone[w.Dev] {
			linkAdds = append(linkAdds, Op{Replace, w})
		}
	}

	// Kernel-made link-local addresses (cur.ForeignLinkLocals, from a
	// dump) on a device whose mode is to be none: RFC 5213 6.8, 6.9.3, the
	// MAG's fixed link-local address is the only one on the access link.
	// The mode alone does not remove the one the kernel made when the
	// device came up, and a second link-local is a per-MAG router address
	// the kernel sources its neighbour solicitations from, which a client
	// that moved here does not know (docs/handover.md 9.9). Only
	// link-locals of those devices, and never one the desired state holds.
	wantG := indexBy(want.AddrGenModes, func(m AddrGenMode) string { return m.Dev })
	var llDels []Op
	for _, f := range cur.ForeignLinkLocals {
		m, ok := wantG[f.Dev]
		if !ok || m.Mode != AddrGenNone || gone[f.Dev] || !f.Prefix.Addr().Is6() || !f.Prefix.Addr().IsLinkLocalUnicast() {
			continue
		}
		if _, ok := wantA[addressKey(f)]; ok {
			continue
		}
		llDels = append(llDels, Op{Del, f})
	}

	// Filter.
	var filterDels, filterAdds []Op
	curFilter := cur.Filter // cur may be the caller's: not changed here
	if curFilter != nil && curFilter.stale {
		filterDels = append(filterDels, Op{Del, FilterTable{}})
		curFilter = nil
	}
	switch {
	case curFilter != nil && want.Filter == nil:
		filterDels = append(filterDels, Op{Del, FilterTable{}})
	case want.Filter != nil:
		cf := curFilter
		if cf == nil {
			filterAdds = append(filterAdds, Op{Add, FilterTable{}})
			cf = &Filter{}
		}
		wf := want.Filter
		fd, fa := diffElems(flowsOf(cf), flowsOf(wf))
		sd, sa := diffElems(sourcesOf(cf), sourcesOf(wf))
		ad, aa := diffElems(accessOf(cf), accessOf(wf))
		td, ta := diffSet(cf.Tunnels, wf.Tunnels, func(t string) Object { return TunnelIface(t) })
		tsd, tsa := diffSet(cf.TunnelSources, wf.TunnelSources, func(s TunnelSource) Object { return s })
		gpd, gpa := diffSet(cf.GREPeers, wf.GREPeers, func(a netip.Addr) Object { return GREPeer(a) })
		gsd, gsa := diffSet(cf.GRESources, wf.GRESources, func(s GRESource) Object { return s })
		filterDels = append(append(append(filterDels, fd...), sd...), ad...)
		filterAdds = append(append(append(filterAdds, aa...), sa...), fa...)
		// A checked tunnel's sources go after it and come before it, so
		// its traffic is never checked against a partial set.
		filterDels = append(append(filterDels, td...), tsd...)
		filterAdds = append(append(filterAdds, tsa...), ta...)
		// GRE peers likewise, with their (peer, key, source) triples.
		filterDels = append(append(filterDels, gpd...), gsd...)
		filterAdds = append(append(filterAdds, gsa...), gpa...)
	}

	for _, ops := range [][]Op{filterDels, routeDels, addrDels, tunnelDels, tunnelAdds, macAdds, linkAdds, llDels, addrAdds, routeAdds, filterAdds} {
		sortOps(ops)
	}
	// Checked tunnels and GRE peers are added after their sources
	// (sortOps put them before).
	checked := func(o Object) bool {
		switch o.(type) {
		case TunnelIface, GREPeer:
			return true
		}
		return false
	}
	slices.SortStableFunc(filterAdds, func(a, b Op) int {
		ta, tb := checked(a.Obj), checked(b.Obj)
		switch {
		case ta && !tb:
			return 1
		case tb && !ta:
			return -1
		}
		return 0
	})
	slices.SortFunc(ruleDels, func(a, b Op) int { return compareRules(a.Obj.(Rule), b.Obj.(Rule)) })
	slices.SortFunc(ruleAdds, func(a, b Op) int { return compareRules(a.Obj.(Rule), b.Obj.(Rule)) })
	dels = slices.Concat(filterDels, ruleDels, routeDels, addrDels, tunnelDels)
	adds = slices.Concat(tunnelAdds, macAdds, linkAdds, llDels, addrAdds, routeAdds, ruleAdds, filterAdds)
	return append(dels, adds...)
}

// normalize returns a copy of s with the kernel's defaults made explicit,
// so that a state and its dump compare equal.
func normalize(s *State) *State {
	n := s.Clone()
	for i := range n.Tunnels {
		n.Tunnels[i] = normTunnel(n.Tunnels[i])
	}
	for i := range n.Routes {
		n.Routes[i] = normRoute(n.Routes[i])
	}
	return n
}

// normalized returns s itself when it holds the kernel's defaults
// explicitly already (a scan, no copy), else normalize(s). Plan only
// reads its states.
func normalized(s *State) *State {
	for _, t := range s.Tunnels {
		if normTunnel(t) != t {
			return normalize(s)
		}
	}
	for _, r := range s.Routes {
		if normRoute(r) != r {
			return normalize(s)
		}
	}
	return s
}

func normTunnel(t Tunnel) Tunnel {
	if t.External {
		t.HopLimit = 0 // each route's Encap says it
	} else if t.HopLimit == 0 {
		t.HopLimit = 64
	}
	if !t.Keyed {
		t.Key = 0
	}
	return t
}

func normRoute(r Route) Route {
	if r.Table == 0 {
		r.Table = mainTable
	}
	if r.Metric == 0 && r.Dst.Addr().Is6() {
		r.Metric = 1024 // the kernel's IP6_RT_PRIO_USER
	}
	if r.Encap.IsSet() && r.Encap.HopLimit == 0 {
		r.Encap.HopLimit = 64
	}
	if !r.Encap.Keyed {
		r.Encap.Key = 0
	}
	return r
}

// sameTunnel reports whether c can stay as it is for w, the MTU aside.
func sameTunnel(c, w Tunnel) bool {
	c.MTU, w.MTU = 0, 0
	return c == w
}

type routeKey struct {
	table  uint32
	dst    netip.Prefix
	metric uint32
}

func (r Route) key() routeKey { return routeKey{r.Table, r.Dst, r.Metric} }

type addrKey struct {
	dev    string
	prefix netip.Prefix
}

func addressKey(a Address) addrKey { return addrKey{a.Dev, a.Prefix} }

type sourceKey struct {
	mac    [6]byte
	prefix netip.Prefix
}

func (s Source) key() sourceKey {
	var k sourceKey
	copy(k.mac[:], s.MAC)
	k.prefix = s.Prefix
	return k
}

type flowKey struct {
	src, dst      netip.Prefix
	proto         uint8
	portLo, portH uint16
}

func (f Flow) key() flowKey { return flowKey{f.Src, f.Dst, f.Proto, f.DstPortFrom, f.DstPortTo} }

// elems are a filter's set or map elements by their key, rendered for a
// stable order.
type elem struct {
	obj Object
	val uint32 // a map element's value (a flow's mark)
}

func flowsOf(f *Filter) map[string]elem {
	m := map[string]elem{}
	for _, fl := range f.Flows {
		k := fl
		k.Mark = 0
		m[k.String()] = elem{fl, fl.Mark}
	}
	return m
}

func sourcesOf(f *Filter) map[string]elem {
	m := map[string]elem{}
	for _, s := range f.Sources {
		m[s.String()] = elem{obj: s}
	}
	return m
}

func accessOf(f *Filter) map[string]elem {
	m := map[string]elem{}
	for _, a := range f.AccessIfaces {
		m[a] = elem{obj: AccessIface(a)}
	}
	return m
}

// diffElems returns the deletions and additions that turn cur into want;
// an element whose value changed is deleted and added again.
func diffElems[K comparable](cur, want map[K]elem) (dels, adds []Op) {
	for k := range cur {
		if w, ok := want[k]; !ok || w.val != cur[k].val {
			dels = append(dels, Op{Del, cur[k].obj})
		}
	}
	for k := range want {
		if c, ok := cur[k]; !ok || c.val != want[k].val {
			adds = append(adds, Op{Add, want[k].obj})
		}
	}
	return dels, adds
}

// diffSet returns the deletions and additions that turn the set of
// elements cur into want. The elements are the map keys themselves, with
// no value, and an Object is made only for the differences: an LMA's
// filter holds a million (one per home address), a boxed copy of each
// was a third of a Set's memory.
func diffSet[K comparable](cur, want []K, obj func(K) Object) (dels, adds []Op) {
	c := make(map[K]struct{}, len(cur))
	for _, k := range cur {
		c[k] = struct{}{}
	}
	w := make(map[K]struct{}, len(want))
	for _, k := range want {
		w[k] = struct{}{}
	}
	for k := range c {
		if _, ok := w[k]; !ok {
			dels = append(dels, Op{Del, obj(k)})
		}
	}
	for k := range w {
		if _, ok := c[k]; !ok {
			adds = append(adds, Op{Add, obj(k)})
		}
	}
	return dels, adds
}

// positions maps each key to the position of its (last) element.
func positions[T any, K comparable](xs []T, key func(T) K) map[K]int {
	m := make(map[K]int, len(xs))
	for i, x := range xs {
		m[key(x)] = i
	}
	return m
}

func indexBy[T any, K comparable](xs []T, key func(T) K) map[K]T {
	m := make(map[K]T, len(xs))
	for _, x := range xs {
		m[key(x)] = x
	}
	return m
}

// sortOps orders ops by kind of object (the order Plan documents) and then
// by their rendering, so that a plan is deterministic. Only the changes are
// sorted, never the whole state.
// Each op is rendered once, not at every comparison: rendering is most of
// the cost of planning a restarted LMA's million routes.
func sortOps(ops []Op) {
	type keyed struct {
		rank int
		s    string
		op   Op
	}
	ks := make([]keyed, len(ops))
	for i, op := range ops {
		ks[i] = keyed{objRank(op.Obj), op.Obj.String(), op}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.s, b.s)
	})
	for i := range ks {
		ops[i] = ks[i].op
	}
}

func objRank(o Object) int {
	switch o.(type) {
	case FilterTable:
		return 0
	case AccessIface:
		return 1
	case Source:
		return 2
	case Flow:
		return 3
	case TunnelIface:
		return 4
	case TunnelSource:
		return 5
	case GREPeer:
		return 6
	case GRESource:
		return 7
	}
	return 8
}

func compareRules(a, b Rule) int {
	if a.Priority != b.Priority {
		if a.Priority < b.Priority {
			return -1
		}
		return 1
	}
	return strings.Compare(a.String(), b.String())
}
