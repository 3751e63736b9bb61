package lma

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/pool"
)

// grant is what assign hands out for one PBU; undo gives it back.
type grant struct {
	hnps     []netip.Prefix
	hoa      netip.Prefix
	v4router netip.Addr
	// v4status is the IPv4 Home Address Reply status when the PBU asked
	// for an IPv4 home address (RFC 5844 3.3.2).
	v4status mh.IPv4HoAStatus
	up       uint32
	upSet    bool
	// fromPool lists what came out of a pool (static entries do not go
	// back to one).
	fromPool []netip.Prefix
}

// undo returns a failed grant's pool entries.
func (e *Engine) undo(g *grant) {
	for _, x := range g.fromPool {
		e.pools.free(x)
	}
}

// assignIPv6 gives the session its home network prefixes: RFC 5213 5.3.2,
// static from the policy or from its pool, honouring the prefixes the PBU
// names when the policy allows them (RFC 5213 6.9.1.1: a MAG that lost
// its state, or a mobile that moved, asks for the prefix it had). A
// non-zero status rejects the PBU.
func (e *Engine) assignIPv6(r *request, g *grant) mh.Status {
	pol := r.pol
	if len(pol.HomePrefixes) > 0 {
		// Static: the whole configured set, unless another session of
		// the mobile holds it (one set per mobility session).
		for _, w := range r.want {
			if !slices.Contains(pol.HomePrefixes, w) {
				// RFC 5213 5.3.2: NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX.
				return mh.StatusNotAuthorizedForHomeNetworkPrefix
			}
		}
		for _, hp := range pol.HomePrefixes {
			if e.bc.withHNP(hp) == nil {
				g.hnps = append(g.hnps, hp)
			}
		}
		if len(g.hnps) == 0 {
			// Every static prefix is in use by another interface.
			return mh.StatusInsufficientResources
		}
		return 0
	}
	pp := e.pools.v6[pol.PrefixPool]
	if pp == nil {
		e.log.Error("lma: policy names a missing pool", "policy", pol.Name, "pool", pol.PrefixPool)
		return mh.StatusInsufficientResources
	}
	count := max(pol.PrefixCount, 1)
	if len(r.want) > count {
		return mh.StatusNotAuthorizedForHomeNetworkPrefix
	}
	for _, w := range r.want {
		// RFC 5213 5.3.2: a requested prefix is honoured when it is the
		// policy's to give and free; otherwise
		// NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX (155).
		if !pp.Contains(w) || pp.Reserve(w) != nil {
			e.undo(g)
			return mh.StatusNotAuthorizedForHomeNetworkPrefix
		}
		g.hnps = append(g.hnps, w)
		g.fromPool = append(g.fromPool, w)
	}
	for len(g.hnps) < count {
		p, err := pp.Allocate(netip.Prefix{})
		if err != nil {
			// RFC 6275 6.1.8: Insufficient resources (130).
			e.log.Warn("lma: prefix pool exhausted", "pool", pol.PrefixPool, "err", err)
			e.undo(g)
			return mh.StatusInsufficientResources
		}
		g.hnps = append(g.hnps, p)
		g.fromPool = append(g.fromPool, p)
	}
	return 0
}

// assignIPv4 gives the session an IPv4 home address (RFC 5844 3.2.1). A
// non-zero status rejects the PBU; an exhausted pool instead sets
// g.v4status to "dynamic address not available" (RFC 5844 3.3.2, 132) so
// that a dual-stack session is still accepted for IPv6.
func (e *Engine) assignIPv4(r *request, g *grant) mh.Status {
	pol := r.pol
	req := r.v4req.Prefix.Addr()
	switch pol.IPv4 {
	case lmaconfig.IPv4Static:
		// RFC 5844 3.2.1: a requested address other than the mobile's
		// own: NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS (171).
		if !req.IsUnspecified() && req != pol.IPv4Address.Addr() {
			return mh.StatusNotAuthorizedForIPv4HomeAddress
		}
		if e.bc.withHoA(pol.IPv4Address.Addr()) != nil {
			// Held by another interface of the mobile: one address,
			// one session.
			return mh.StatusNotAuthorizedForIPv4HomeAddress
		}
		g.hoa, g.v4router = pol.IPv4Address, pol.IPv4DefaultRouter
		return 0
	case lmaconfig.IPv4Pool:
		pp := e.pools.v4[pol.IPv4Pool]
		def := e.pools.defs[pol.IPv4Pool]
		if pp == nil {
			e.log.Error("lma: policy names a missing pool", "policy", pol.Name, "pool", pol.IPv4Pool)
			return mh.StatusInsufficientResources
		}
		var a netip.Prefix
		if !req.IsUnspecified() {
			// RFC 5844 3.2.1: honour a requested address that the pool
			// holds and nobody uses; else 171.
			x := netip.PrefixFrom(req, 32)
			if !pp.Contains(x) || pp.Reserve(x) != nil {
				return mh.StatusNotAuthorizedForIPv4HomeAddress
			}
			a = x
		} else {
			x, err := pp.Allocate(netip.Prefix{})
			if errors.Is(err, pool.ErrNoAddrAvail) {
				e.log.Warn("lma: IPv4 pool exhausted", "pool", pol.IPv4Pool)
				g.v4status = mh.IPv4HoADynamicNotAvailable
				return 0
			}
			if err != nil {
				return mh.StatusInsufficientResources
			}
			a = x
		}
		bits := def.ClientPrefixLength
		if bits == 0 {
			bits = pp.Subnet().Bits()
		}
		g.hoa = netip.PrefixFrom(a.Addr(), bits)
		g.v4router = pp.DefaultRouter()
		if def.DefaultRouter.IsValid() {
			g.v4router = def.DefaultRouter
		}
		g.fromPool = append(g.fromPool, netip.PrefixFrom(a.Addr(), 32))
		return 0
	}
	return mh.StatusNotAuthorizedForIPv4MobilityService
}

// newUplinkKey picks the GRE key the MAG will put on uplink packets of
// this session (RFC 5845 3: one key per mobility session, chosen by the
// receiving end). Keys are random so that they do not reveal how many
// sessions exist, and unique among live sessions.
func (e *Engine) newUplinkKey() uint32 {
	for {
		k := rand.Uint32()
		if k != 0 && !e.bc.upKeyUsed(k) {
			return k
		}
	}
}

// release gives back what a binding holds.
func (e *Engine) release(b *binding) {
	for i := range int(b.nhnp) {
		e.pools.free(e.bc.hnpAt(b, i))
	}
	if b.hoa.valid() {
		e.pools.free(b.hoa.prefix())
	}
}
