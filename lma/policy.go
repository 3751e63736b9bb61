package lma

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/uci"
	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/pool"
)

// policyIndex answers lmaconfig.Config.Lookup in O(1): exact identifiers
// first, then the NAI's realm (case-insensitive, RFC 7542 2.4), then "*".
// Config.Lookup scans every policy, too slow for 50,000 PBUs a second with
// thousands of exact policies.
type policyIndex struct {
	// Exact identifiers, by type, so that a lookup builds no key.
	nai   map[string]*lmaconfig.Policy
	mac   map[[6]byte]*lmaconfig.Policy
	realm map[string]*lmaconfig.Policy // lower-case realm
	all   *lmaconfig.Policy
}

func newPolicyIndex(c *lmaconfig.Config) *policyIndex {
	ix := &policyIndex{nai: map[string]*lmaconfig.Policy{}, mac: map[[6]byte]*lmaconfig.Policy{}, realm: map[string]*lmaconfig.Policy{}}
	for i := range c.Policies {
		p := &c.Policies[i]
		switch m := p.Match; {
		case m == "*":
			ix.all = p
		case strings.HasPrefix(m, "*@"):
			ix.realm[strings.ToLower(m[2:])] = p
		default:
			if mac, ok := uci.ParseMAC(m); ok && len(mac) == 6 {
				ix.mac[[6]byte(mac)] = p
			} else {
				ix.nai[m] = p
			}
		}
	}
	return ix
}

// lookup returns the policy for a mobile node, nil when it has none (RFC
// 5213 5.3.1: the LMA refuses it, status 152).
func (ix *policyIndex) lookup(k mnKey) *lmaconfig.Policy {
	switch k.subtype {
	case mh.MNIDNAI:
		if p := ix.nai[k.id]; p != nil {
			return p
		}
		if at := strings.LastIndexByte(k.id, '@'); at >= 0 {
			if p := ix.realm[lower(k.id[at+1:])]; p != nil {
				return p
			}
		}
	case mh.MNIDEUI48:
		if len(k.id) == 6 {
			if p := ix.mac[[6]byte([]byte(k.id))]; p != nil {
				return p
			}
		}
	}
	return ix.all
}

// lower is strings.ToLower without its allocation for the usual realm,
// already in lower case (RFC 7542 2.4: realms compare case-insensitively).
func lower(s string) string {
	for i := range len(s) {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// pools are the configured pools by name. A pool whose definition did not
// change across a reload keeps its allocator (and so its allocations).
type pools struct {
	v6    map[string]*pool.PrefixPool
	v4    map[string]*pool.IPv4Pool
	defs  map[string]lmaconfig.Pool
	order []string
	// fresh names the pools created by this configuration, whose
	// allocations the engine must reserve again from its bindings.
	fresh []string
}

func newPools(cfg lmaconfig.Config, old *pools) (*pools, error) {
	p := &pools{v6: map[string]*pool.PrefixPool{}, v4: map[string]*pool.IPv4Pool{}, defs: map[string]lmaconfig.Pool{}}
	for _, d := range cfg.Pools {
		p.defs[d.Name] = d
		p.order = append(p.order, d.Name)
		if old != nil && old.defs[d.Name].Name == d.Name && samePool(old.defs[d.Name], d) {
			if v := old.v6[d.Name]; v != nil {
				p.v6[d.Name] = v
			}
			if v := old.v4[d.Name]; v != nil {
				p.v4[d.Name] = v
			}
			continue
		}
		switch d.Family {
		case lmaconfig.PoolIPv6:
			pp, err := pool.NewPrefixPool(d.Prefix, d.DelegatedLength)
			if err != nil {
				return nil, fmt.Errorf("lma: pool %s: %w", d.Name, err)
			}
			p.v6[d.Name] = pp
		case lmaconfig.PoolIPv4:
			pp, err := pool.NewIPv4Pool(d.Prefix, d.DefaultRouter)
			if err != nil {
				return nil, fmt.Errorf("lma: pool %s: %w", d.Name, err)
			}
			p.v4[d.Name] = pp
		default:
			return nil, fmt.Errorf("lma: pool %s: unknown family %q", d.Name, d.Family)
		}
		p.fresh = append(p.fresh, d.Name)
	}
	return p, nil
}

func samePool(a, b lmaconfig.Pool) bool {
	return a.Family == b.Family && a.Prefix == b.Prefix && a.DelegatedLength == b.DelegatedLength &&
		a.ClientPrefixLength == b.ClientPrefixLength && a.DefaultRouter == b.DefaultRouter
}

// allocatorFor returns the pool that can hand out p (a home network prefix
// or an IPv4 home address), if any.
func (p *pools) allocatorFor(x netip.Prefix, only []string) (string, pool.Allocator) {
	names := p.order
	if only != nil {
		names = only
	}
	for _, n := range names {
		if v := p.v6[n]; v != nil && x.Addr().Is6() && v.Contains(x) {
			return n, v
		}
		if v := p.v4[n]; v != nil && x.Addr().Is4() {
			if a := netip.PrefixFrom(x.Addr(), 32); v.Contains(a) {
				return n, v
			}
		}
	}
	return "", nil
}

// poolEntry is how a pool names an entry: an IPv4 home address as a /32.
func poolEntry(x netip.Prefix) netip.Prefix {
	if x.Addr().Is4() {
		return netip.PrefixFrom(x.Addr(), 32)
	}
	return x
}

// free returns x to its pool; static prefixes and addresses of pools that
// no longer exist belong to none, which is fine.
func (p *pools) free(x netip.Prefix) {
	if _, a := p.allocatorFor(x, nil); a != nil {
		_ = a.Free(poolEntry(x))
	}
}

// reserve claims x in its pool among only (nil: every pool).
func (p *pools) reserve(x netip.Prefix, only []string) error {
	if _, a := p.allocatorFor(x, only); a != nil {
		return a.Reserve(poolEntry(x))
	}
	return nil
}
