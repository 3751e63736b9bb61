package dataplane

import (
	"fmt"
	"net/netip"
)

// GRESource allows the keyed GRE packets that MAG Peer sends the LMA with
// GRE key Key whose inner source address is in Prefix: a home network
// prefix, or an IPv4 home address as a /32, of the mobility session whose
// uplink key (RFC 5845 3: the key the LMA gave the MAG in its PBA, which
// identifies the session) Key is. A keyed GRE packet from a peer of
// [Filter.GREPeers] that matches no element is dropped before it is
// decapsulated.
//
// This is the part of the uplink check of RFC 5213 5.6.2 that the
// flow-based GRE devices need: a [TunnelSource] on pmip-gre6 proves only
// that the inner source is some GRE session's home address, since every
// keyed session shares the device; the decapsulated packet no longer
// shows nftables its outer header nor its key (the kernel's tunnel
// metadata is matchable only with nftables' `tunnel` expression, which
// the nftables library we use cannot express). So the check runs on the
// outer packet instead, at prerouting where it arrives, matching raw
// offsets of its GRE header and of the inner IP header:
// outer source . key . inner source, one set lookup.
type GRESource struct {
	Peer   netip.Addr
	Key    uint32
	Prefix netip.Prefix
}

// GREPeer puts the keyed GRE packets of one MAG address under the check
// of [GRESource]; GRE from other addresses is left alone (the operator's
// own GRE tunnels).
type GREPeer netip.Addr

func (GREPeer) object()   {}
func (GRESource) object() {}

// String renders the checked peer.
func (p GREPeer) String() string { return "filter gre-peer " + netip.Addr(p).String() }

// String renders the allowed (peer, key, inner source).
func (s GRESource) String() string {
	return fmt.Sprintf("filter gre-source %s key %d %s", s.Peer, s.Key, s.Prefix)
}

func (f *Filter) validateGRE() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: filter: "+format, append([]any{ErrInvalid}, args...)...))
	}
	okPeer := func(a netip.Addr) bool {
		return a.IsValid() && !a.Is4In6() && a.Zone() == "" && !a.IsUnspecified() && !a.IsMulticast()
	}
	peers := map[netip.Addr]bool{}
	for _, p := range f.GREPeers {
		if !okPeer(p) {
			bad("GRE peer %s: not a unicast address", p)
		}
		if peers[p] {
			bad("GRE peer %s listed twice", p)
		}
		peers[p] = true
	}
	srcs := map[GRESource]bool{}
	for _, s := range f.GRESources {
		if !okPeer(s.Peer) {
			bad("GRE source %s key %d: peer %s is not a unicast address", s.Prefix, s.Key, s.Peer)
			continue
		}
		if !s.Prefix.IsValid() || s.Prefix != s.Prefix.Masked() || s.Prefix.Addr().Zone() != "" || s.Prefix.Addr().Is4In6() {
			bad("GRE source %s from %s: not a valid prefix", s.Prefix, s.Peer)
			continue
		}
		// RFC 5844 3.1.3: an IPv4 client owns one home address.
		if s.Prefix.Addr().Is4() && s.Prefix.Bits() != 32 {
			bad("GRE source %s from %s: an IPv4 home address is a /32", s.Prefix, s.Peer)
		}
		if srcs[s] {
			bad("GRE source %s from %s key %d listed twice", s.Prefix, s.Peer, s.Key)
		}
		srcs[s] = true
	}
	return errs
}
