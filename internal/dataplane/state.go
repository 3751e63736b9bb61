package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// ErrInvalid is wrapped by every error of [State.Validate].
var ErrInvalid = errors.New("dataplane: invalid state")

// State is the whole data plane that an engine wants. The zero State owns
// nothing: handing it to Set removes every object of ours.
type State struct {
	Tunnels   []Tunnel
	Addresses []Address
	Routes    []Route
	Rules     []Rule
	// LinkMACs set the hardware address of devices that are not ours.
	LinkMACs []LinkMAC
	// AddrGenModes set how the kernel makes devices' IPv6 link-local
	// addresses; set, never restored.
	AddrGenModes []AddrGenMode
	// Sysctls set network parameters of the namespace and of devices;
	// set, never restored.
	Sysctls []Sysctl
	// Filter is the nftables anti-spoofing and flow table; nil means no
	// table.
	Filter *Filter

	// ForeignLinkLocals are IPv6 link-local addresses that are not ours
	// (the kernel made them): a [Kernel]'s Dump reports them, and Set
	// removes those on a device whose mode is [AddrGenNone] unless the
	// desired state holds the same address (RFC 5213 6.8, 6.9.3: the fixed
	// link-local is the only one on the access link). An engine leaves it
	// empty; Set ignores it in a desired state.
	ForeignLinkLocals []Address
}

// LinkMAC gives a device that is not ours (an access interface) the MAC
// address every MAG of a domain presents on its access links (RFC 5213
// 6.9.3), so that the kernel accepts frames sent to that address and
// sends its own (neighbour advertisements, forwarded packets) from it.
// The data plane sets the address and never restores the previous one:
// removing a LinkMAC from the State leaves the device as it is.
type LinkMAC struct {
	Dev string
	MAC net.HardwareAddr
}

// TunnelKind says what a tunnel carries over what.
type TunnelKind uint8

// Tunnel kinds. Each carries both IPv6 and IPv4 payloads, as RFC 5844 3
// requires of a tunnel that serves IPv4 home addresses.
const (
	// IP6 is ip6tnl in "mode any": IPv6-in-IPv6 and IPv4-in-IPv6 over an
	// IPv6 transport network (RFC 5213 6.10.2, RFC 2473, RFC 5844 3).
	IP6 TunnelKind = iota + 1
	// IP6GRE is GRE over IPv6 (RFC 5845, RFC 2784/2890).
	IP6GRE
	// IP4 is sit in "mode any": IPv6-in-IPv4 and IPv4-in-IPv4 for MAGs that
	// signal over an IPv4 transport network (RFC 5844 4).
	IP4
	// IP4GRE is GRE over IPv4 (RFC 5844 4, RFC 5845).
	IP4GRE
)

var kindNames = map[TunnelKind]string{IP6: "ip6tnl", IP6GRE: "ip6gre", IP4: "sit", IP4GRE: "gre"}

// String returns the kernel's name of the link kind.
func (k TunnelKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("TunnelKind(%d)", uint8(k))
}

// transport6 reports whether the kind runs over IPv6.
func (k TunnelKind) transport6() bool { return k == IP6 || k == IP6GRE }

// gre reports whether the kind is a GRE tunnel.
func (k TunnelKind) gre() bool { return k == IP6GRE || k == IP4GRE }

// Tunnel is a point-to-point tunnel device, or with External a flow-based
// device whose endpoints and GRE key come from each route's [Encap].
//
// Every tunnel of ours gets IPv4 reverse-path filtering off (rp_filter 0)
// when it is created or changed: the paths through it are asymmetric by
// design, and anti-spoofing is the filter's job. The kernel applies the
// larger of conf/all and the device's value, so the engines also set
// net.ipv4.conf.all.rp_filter=0 ([Sysctl]); see Netlink.tunnelSettings.
type Tunnel struct {
	// Name of the device; it must start with the reconciler's LinkPrefix.
	Name string
	Kind TunnelKind
	// Local and Remote are the transport endpoints (the MAG's proxy
	// care-of address and the LMA address, RFC 5213 6.10.4); both unset
	// when External.
	Local, Remote netip.Addr
	// External makes a collect_md device: one per kind and namespace
	// carries every keyed GRE session (RFC 5845) of the node.
	External bool
	// Keyed sets Key as both input and output GRE key of a point-to-point
	// GRE device (RFC 5845 3, RFC 2890 2.1).
	Keyed bool
	Key   uint32
	// MTU of the device; 0 leaves the kernel's choice.
	MTU uint32
	// HopLimit of the outer header; 0 means 64.
	HopLimit uint8
}

// Address is an address of ours on some device, e.g. the MAG's fixed
// link-local address on the access link (RFC 5213 6.8, 6.9.3).
type Address struct {
	Dev string
	// Prefix is the address with its prefix length (fe80::1/64).
	Prefix netip.Prefix
	// NoDAD skips duplicate address detection: every MAG presents the same
	// link-local address on purpose (RFC 5213 6.8).
	NoDAD bool
	// NoPrefixRoute stops the kernel from adding a route for the prefix.
	NoPrefixRoute bool
}

// Route is a unicast route of ours.
type Route struct {
	// Table is the routing table id; 0 means main (254).
	Table uint32
	Dst   netip.Prefix
	// Dev is the output device.
	Dev string
	// Gateway is the next hop, unset for on-link and tunnel routes.
	Gateway netip.Addr
	// Metric is the route priority; 0 means the kernel default (0 for
	// IPv4, 1024 for IPv6).
	Metric uint32
	// Encap, when set, encapsulates through a flow-based tunnel device.
	Encap Encap
}

// Encap is a lightweight-tunnel encapsulation (LWTUNNEL_ENCAP_IP/IP6) on a
// route through an External tunnel: the per-client GRE key and the MAG's
// address (RFC 5845 3: the key identifies the mobility session).
type Encap struct {
	// Dst is the remote tunnel endpoint; unset means no encapsulation.
	Dst netip.Addr
	// Src is the local tunnel endpoint; unset lets the kernel choose.
	Src netip.Addr
	// Keyed puts Key in the GRE header.
	Keyed bool
	Key   uint32
	// HopLimit of the outer header; 0 means 64.
	HopLimit uint8
}

// IsSet reports whether the route encapsulates.
func (e Encap) IsSet() bool { return e.Dst.IsValid() }

// Rule is a policy routing rule of ours: `from Src iif IIf fwmark
// Mark/Mask lookup Table` at Priority.
type Rule struct {
	Priority uint32
	// Src selects the packets' source; its family is the rule's family.
	Src netip.Prefix
	// IIf, when set, matches the input interface.
	IIf string
	// Mark and Mask, when Mask is not 0, match the packet mark.
	Mark, Mask uint32
	Table      uint32
}

// Filter is the nftables table of the MAG: on the access interfaces, a
// packet's source must be unspecified, link-local, or an address of the
// client that sent it (by MAC), else it is dropped; and flows are marked by
// traffic selector.
type Filter struct {
	// AccessIfaces are the interfaces whose packets are checked.
	AccessIfaces []string
	// Sources are the allowed (MAC, source prefix) pairs.
	Sources []Source
	// Flows map traffic selectors to packet marks.
	Flows []Flow
	// Tunnels are the LMA's tunnel devices whose decapsulated packets are
	// checked against TunnelSources; see [TunnelSource].
	Tunnels []string
	// TunnelSources are the allowed (tunnel device, source prefix) pairs.
	TunnelSources []TunnelSource
	// GREPeers are the MAG addresses whose keyed GRE packets are checked
	// against GRESources before decapsulation; see [GRESource].
	GREPeers []netip.Addr
	// GRESources are the allowed (peer, key, inner source prefix)
	// triples.
	GRESources []GRESource

	// stale is set by a dump that found a table of ours in another
	// layout: the planner rebuilds it.
	stale bool
}

// Source allows packets from MAC with a source address in Prefix: the
// client's home network prefix (RFC 5213 6.10.5) or its IPv4 home address
// as a /32 (RFC 5844 3.2).
type Source struct {
	MAC    net.HardwareAddr
	Prefix netip.Prefix
}

// Flow marks the packets that match a traffic selector (a subset of the
// RFC 6088 selector: addresses, protocol, destination port) with Mark, so
// that a rule `fwmark Mark lookup T` steers them (RFC 7864, ARCHITECTURE
// "flow mobility").
type Flow struct {
	// Src and Dst prefixes; both of one family.
	Src, Dst netip.Prefix
	// Proto is the transport protocol; 0 matches any.
	Proto uint8
	// DstPortFrom..DstPortTo is the destination port range; both 0 match
	// any.
	DstPortFrom, DstPortTo uint16
	Mark                   uint32
}

// Limits the kernel enforces, checked before anything is applied.
const (
	maxIfName  = 15 // IFNAMSIZ - 1
	mainTable  = 254
	localTable = 255
)

// Validate checks the State against the rules the kernel would otherwise
// enforce halfway through a Set, so a bad State changes nothing. prefix is
// the name prefix of our links.
func (s *State) Validate(prefix string) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	tunnels := map[string]Tunnel{}
	external := map[TunnelKind]string{}
	for _, t := range s.Tunnels {
		if err := checkIfName(t.Name); err != nil {
			bad("tunnel %q: %v", t.Name, err)
			continue
		}
		if !strings.HasPrefix(t.Name, prefix) {
			bad("tunnel %q: name must start with %q, the prefix of the links we own", t.Name, prefix)
		}
		if _, dup := tunnels[t.Name]; dup {
			bad("tunnel %q: listed twice", t.Name)
		}
		tunnels[t.Name] = t
		if _, ok := kindNames[t.Kind]; !ok {
			bad("tunnel %q: unknown kind %d", t.Name, t.Kind)
			continue
		}
		if t.External {
			if t.Local.IsValid() || t.Remote.IsValid() || t.Keyed {
				bad("tunnel %q: an external tunnel takes endpoints and key from its routes, not the device", t.Name)
			}
			if !t.Kind.gre() {
				bad("tunnel %q: external mode is only used for GRE keys", t.Name)
			}
			// The kernel keeps one collect_md device per GRE family and
			// namespace.
			if other, dup := external[t.Kind]; dup {
				bad("tunnel %q: %s external device %q already exists; the kernel allows one", t.Name, t.Kind, other)
			}
			external[t.Kind] = t.Name
			continue
		}
		if !t.Local.IsValid() || !t.Remote.IsValid() {
			bad("tunnel %q: local and remote endpoints are required", t.Name)
			continue
		}
		want6 := t.Kind.transport6()
		for _, a := range []netip.Addr{t.Local, t.Remote} {
			if a.Is6() != want6 || a.Is4In6() || a.Zone() != "" {
				bad("tunnel %q: endpoint %s does not suit a %s tunnel", t.Name, a, t.Kind)
			}
			if a.IsUnspecified() || a.IsMulticast() {
				bad("tunnel %q: endpoint %s must be a unicast address", t.Name, a)
			}
		}
		if t.Keyed && !t.Kind.gre() {
			bad("tunnel %q: only GRE tunnels carry a key", t.Name)
		}
		if t.MTU != 0 && (t.MTU < 68 || t.MTU > 65535) {
			bad("tunnel %q: MTU %d out of range 68-65535", t.Name, t.MTU)
		}
	}

	addrs := map[Address]bool{}
	for _, a := range s.Addresses {
		if err := checkIfName(a.Dev); err != nil {
			bad("address %s: device %v", a.Prefix, err)
		}
		if !a.Prefix.IsValid() || a.Prefix.Addr().Zone() != "" || a.Prefix.Addr().Is4In6() {
			bad("address %s on %s: not a valid address/length", a.Prefix, a.Dev)
			continue
		}
		if a.Prefix.Addr().IsUnspecified() || a.Prefix.Addr().IsMulticast() {
			bad("address %s on %s: must be unicast", a.Prefix, a.Dev)
		}
		k := a
		k.NoDAD, k.NoPrefixRoute = false, false
		if addrs[k] {
			bad("address %s on %s: listed twice", a.Prefix, a.Dev)
		}
		addrs[k] = true
	}

	routes := map[routeKey]bool{}
	for _, r := range s.Routes {
		if !r.Dst.IsValid() || r.Dst.Addr().Zone() != "" || r.Dst.Addr().Is4In6() {
			bad("route %s: not a valid destination prefix", r.Dst)
			continue
		}
		if r.Dst != r.Dst.Masked() {
			bad("route %s: host bits set (want %s)", r.Dst, r.Dst.Masked())
		}
		if err := checkIfName(r.Dev); err != nil {
			bad("route %s: device %v", r.Dst, err)
		}
		if r.Table == localTable {
			bad("route %s: the local table belongs to the kernel", r.Dst)
		}
		if r.Gateway.IsValid() && r.Gateway.Is4() != r.Dst.Addr().Is4() {
			bad("route %s: gateway %s of another family", r.Dst, r.Gateway)
		}
		if r.Encap.IsSet() {
			t, ok := tunnels[r.Dev]
			if !ok || !t.External {
				bad("route %s: encapsulation needs an external tunnel of ours, %q is not one", r.Dst, r.Dev)
			} else if r.Encap.Dst.Is6() != t.Kind.transport6() || (r.Encap.Src.IsValid() && r.Encap.Src.Is6() != t.Kind.transport6()) {
				bad("route %s: encapsulation endpoints do not suit %s tunnel %q", r.Dst, t.Kind, r.Dev)
			}
			if r.Gateway.IsValid() {
				bad("route %s: a gateway and an encapsulation exclude each other", r.Dst)
			}
		} else if r.Encap.Keyed || r.Encap.Src.IsValid() {
			bad("route %s: encapsulation key or source without destination", r.Dst)
		}
		k := normRoute(r).key()
		if routes[k] {
			bad("route %s table %d metric %d: listed twice", r.Dst, k.table, k.metric)
		}
		routes[k] = true
	}

	rules := map[Rule]bool{}
	for _, r := range s.Rules {
		if !r.Src.IsValid() || r.Src != r.Src.Masked() || r.Src.Addr().Zone() != "" || r.Src.Addr().Is4In6() {
			bad("rule %d from %s: not a valid source prefix", r.Priority, r.Src)
		}
		if r.IIf != "" {
			if err := checkIfName(r.IIf); err != nil {
				bad("rule %d: iif %v", r.Priority, err)
			}
		}
		if r.Table == 0 || r.Table == localTable {
			bad("rule %d from %s: table %d is not a table a rule of ours may name", r.Priority, r.Src, r.Table)
		}
		if r.Mask == 0 && r.Mark != 0 {
			bad("rule %d: mark without mask", r.Priority)
		}
		if r.Priority == 0 {
			bad("rule from %s: priority 0 belongs to the kernel's local rule", r.Src)
		}
		if rules[r] {
			bad("rule %d from %s: listed twice", r.Priority, r.Src)
		}
		rules[r] = true
	}

	macs := map[string]bool{}
	for _, l := range s.LinkMACs {
		if err := checkIfName(l.Dev); err != nil {
			bad("link address of %v", err)
		}
		if prefix != "" && strings.HasPrefix(l.Dev, prefix) {
			bad("link address of %q: a device of ours takes no foreign MAC", l.Dev)
		}
		if len(l.MAC) != 6 || l.MAC[0]&1 != 0 || string(l.MAC) == string(make([]byte, 6)) {
			bad("link address of %q: %q is not a unicast 48-bit MAC", l.Dev, l.MAC)
		}
		if macs[l.Dev] {
			bad("link address of %q listed twice", l.Dev)
		}
		macs[l.Dev] = true
	}

	errs = append(errs, s.validateLinkSettings()...)

	if s.Filter != nil {
		errs = append(errs, s.Filter.validate()...)
	}
	return errors.Join(errs...)
}

func (f *Filter) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: filter: "+format, append([]any{ErrInvalid}, args...)...))
	}
	seen := map[string]bool{}
	for _, name := range f.AccessIfaces {
		if err := checkIfName(name); err != nil {
			bad("access interface %v", err)
		}
		if seen[name] {
			bad("access interface %q listed twice", name)
		}
		seen[name] = true
	}
	srcs := map[sourceKey]bool{}
	for _, s := range f.Sources {
		if len(s.MAC) != 6 {
			bad("source %s: MAC %q is not a 48-bit address", s.Prefix, s.MAC)
			continue
		}
		if !s.Prefix.IsValid() || s.Prefix != s.Prefix.Masked() || s.Prefix.Addr().Zone() != "" || s.Prefix.Addr().Is4In6() {
			bad("source %s of %s: not a valid prefix", s.Prefix, s.MAC)
			continue
		}
		// RFC 5844 3.2: an IPv4 client owns one home address, not a range.
		if s.Prefix.Addr().Is4() && s.Prefix.Bits() != 32 {
			bad("source %s of %s: an IPv4 home address is a /32", s.Prefix, s.MAC)
		}
		k := s.key()
		if srcs[k] {
			bad("source %s of %s listed twice", s.Prefix, s.MAC)
		}
		srcs[k] = true
	}
	flows := map[flowKey]bool{}
	for _, fl := range f.Flows {
		if !fl.Src.IsValid() || !fl.Dst.IsValid() || fl.Src.Addr().Is4() != fl.Dst.Addr().Is4() ||
			fl.Src != fl.Src.Masked() || fl.Dst != fl.Dst.Masked() {
			bad("flow %s -> %s: prefixes must be valid, masked and of one family", fl.Src, fl.Dst)
			continue
		}
		if fl.DstPortFrom > fl.DstPortTo {
			bad("flow %s -> %s: port range %d-%d is empty", fl.Src, fl.Dst, fl.DstPortFrom, fl.DstPortTo)
		}
		if (fl.DstPortFrom != 0 || fl.DstPortTo != 0) && fl.Proto != 6 && fl.Proto != 17 && fl.Proto != 132 && fl.Proto != 33 {
			bad("flow %s -> %s: ports need a protocol with ports (tcp, udp, sctp, dccp)", fl.Src, fl.Dst)
		}
		if fl.Mark == 0 {
			bad("flow %s -> %s: mark 0 would not steer anything", fl.Src, fl.Dst)
		}
		k := fl.key()
		if flows[k] {
			bad("flow %s -> %s listed twice", fl.Src, fl.Dst)
		}
		flows[k] = true
	}
	errs = append(errs, f.validateTunnels()...)
	return append(errs, f.validateGRE()...)
}

func checkIfName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case len(name) > maxIfName:
		return fmt.Errorf("name %q longer than %d bytes", name, maxIfName)
	case strings.ContainsAny(name, "/ \t\n:") || name == "." || name == "..":
		return fmt.Errorf("name %q has a character the kernel refuses", name)
	}
	return nil
}

// Clone returns a deep copy of the State.
func (s *State) Clone() *State {
	if s == nil {
		return &State{}
	}
	c := &State{
		Tunnels:   slices.Clone(s.Tunnels),
		Addresses: slices.Clone(s.Addresses),
		Routes:    slices.Clone(s.Routes),
		Rules:     slices.Clone(s.Rules),

		AddrGenModes: slices.Clone(s.AddrGenModes),
		Sysctls:      slices.Clone(s.Sysctls),

		ForeignLinkLocals: slices.Clone(s.ForeignLinkLocals),
	}
	for _, l := range s.LinkMACs {
		c.LinkMACs = append(c.LinkMACs, LinkMAC{Dev: l.Dev, MAC: slices.Clone(l.MAC)})
	}
	if s.Filter != nil {
		f := &Filter{
			AccessIfaces: slices.Clone(s.Filter.AccessIfaces),
			Sources:      make([]Source, len(s.Filter.Sources)),
			Flows:        slices.Clone(s.Filter.Flows),
			stale:        s.Filter.stale,
		}
		for i, src := range s.Filter.Sources {
			f.Sources[i] = Source{MAC: slices.Clone(src.MAC), Prefix: src.Prefix}
		}
		f.Tunnels = slices.Clone(s.Filter.Tunnels)
		f.TunnelSources = slices.Clone(s.Filter.TunnelSources)
		f.GREPeers = slices.Clone(s.Filter.GREPeers)
		f.GRESources = slices.Clone(s.Filter.GRESources)
		c.Filter = f
	}
	return c
}
