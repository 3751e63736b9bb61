package dataplane

import (
	"fmt"
	"net/netip"
)

// TunnelSource allows the packets that arrive decapsulated on the LMA's
// tunnel device Dev with a source address in Prefix: a home network prefix
// (RFC 5213 5.6.1: what the LMA routes from a reverse tunnel carries the
// mobile node's home address as its source) or an IPv4 home address as a
// /32 (RFC 5844 3.1.3) of a mobility session whose MAG that tunnel
// reaches. A packet arriving on a device of [Filter.Tunnels] with any
// other source is dropped: a MAG (compromised, misconfigured, or letting
// a client through unfiltered) cannot inject traffic as another MAG's
// clients, nor as addresses the LMA never assigned (the ingress filtering
// of BCP 38 / RFC 3704 at the anchor).
//
// The check is one lookup of (input device . source) in an nftables set,
// and a binding is one element per prefix: O(1) per registration,
// whatever the number of bindings, never a rule per binding.
//
// Routes alone would not prove it: `fib saddr . iif oif` proves only
// that the route back to the source leaves by the device the packet came
// in by. For the point-to-point tunnel shared by all of a MAG's clients
// (RFC 5213 5.6.1) that is the same statement as a (tunnel . prefix)
// element, but only while every route of a home prefix lives in the
// table fib consults and the prefix is nobody else's; with flow mobility
// (several tables) or routes in other tables it breaks, and on the single
// flow-based GRE device every keyed session shares one input device, so
// fib accepts any GRE client's address from any MAG. Here, on that device
// the set proves the source is a home address of some session the LMA
// routes over GRE; which MAG sent it with which key is [GRESource]'s
// check, on the packet before it is decapsulated.
type TunnelSource struct {
	Dev    string
	Prefix netip.Prefix
}

// TunnelIface is one element of the filter's set of checked tunnels.
type TunnelIface string

func (TunnelIface) object()  {}
func (TunnelSource) object() {}

// String renders the checked tunnel.
func (t TunnelIface) String() string { return "filter tunnel " + string(t) }

// String renders the allowed source.
func (s TunnelSource) String() string {
	return fmt.Sprintf("filter tunnel-source %s %s", s.Dev, s.Prefix)
}

func (f *Filter) validateTunnels() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: filter: "+format, append([]any{ErrInvalid}, args...)...))
	}
	seen := map[string]bool{}
	for _, name := range f.Tunnels {
		if err := checkIfName(name); err != nil {
			bad("tunnel %v", err)
		}
		if seen[name] {
			bad("tunnel %q listed twice", name)
		}
		seen[name] = true
	}
	srcs := map[TunnelSource]bool{}
	for _, s := range f.TunnelSources {
		if err := checkIfName(s.Dev); err != nil {
			bad("tunnel source %s: device %v", s.Prefix, err)
			continue
		}
		if !s.Prefix.IsValid() || s.Prefix != s.Prefix.Masked() || s.Prefix.Addr().Zone() != "" || s.Prefix.Addr().Is4In6() {
			bad("tunnel source %s on %s: not a valid prefix", s.Prefix, s.Dev)
			continue
		}
		// RFC 5844 3.1.3: an IPv4 client owns one home address.
		if s.Prefix.Addr().Is4() && s.Prefix.Bits() != 32 {
			bad("tunnel source %s on %s: an IPv4 home address is a /32", s.Prefix, s.Dev)
		}
		if srcs[s] {
			bad("tunnel source %s on %s listed twice", s.Prefix, s.Dev)
		}
		srcs[s] = true
	}
	return errs
}
