package pool

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv4Pool hands out IPv4 home addresses (RFC 5844 2, "IPv4 home address")
// singly from a subnet. The subnet's network and broadcast addresses and the
// default-router address that the LMA announces in the IPv4 Default-Router
// Address option (RFC 5844 3.3.3) are never handed out.
//
// Entries are given as prefixes carrying the subnet's length, e.g.
// 10.1.0.7/16, as the IPv4 Home Address Reply option carries them (RFC 5844
// 3.3.2: the address and its prefix length), so the MAG's DHCP server can
// configure the client's mask. Reserve and Free accept that form or /32.
type IPv4Pool struct {
	core
	subnet netip.Prefix
	router netip.Addr
	base   uint32
}

var _ Allocator = (*IPv4Pool)(nil)

// NewIPv4Pool returns a pool of the addresses of subnet, keeping back its
// network and broadcast addresses and router. An invalid router (the zero
// Addr) means the first host address, e.g. 10.1.0.1 in 10.1.0.0/16.
func NewIPv4Pool(subnet netip.Prefix, router netip.Addr) (*IPv4Pool, error) {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return nil, fmt.Errorf("pool: subnet %v is not an IPv4 prefix", subnet)
	}
	if subnet != subnet.Masked() {
		return nil, fmt.Errorf("pool: subnet %v has bits set beyond its length (did you mean %v?)", subnet, subnet.Masked())
	}
	// A /31 or /32 has no room for network, broadcast, a router and a host.
	if subnet.Bits() > 30 {
		return nil, fmt.Errorf("pool: subnet %v is too small: a /30 at most is needed for network, broadcast, default router and one host", subnet)
	}
	base := binary.BigEndian.Uint32(subnet.Addr().AsSlice())
	size := uint64(1) << (32 - subnet.Bits())
	if !router.IsValid() {
		router = u32Addr(base + 1)
	}
	p := &IPv4Pool{core: newCore(size), subnet: subnet, router: router, base: base}
	ri, ok := p.offset(router)
	if !ok || ri == 0 || ri == size-1 {
		return nil, fmt.Errorf("pool: default router %v is not a host address of %v", router, subnet)
	}
	p.keep(0)        // network address
	p.keep(size - 1) // broadcast address
	p.keep(ri)
	return p, nil
}

// Subnet returns the pool's subnet.
func (p *IPv4Pool) Subnet() netip.Prefix { return p.subnet }

// DefaultRouter returns the address for the IPv4 Default-Router Address
// option (RFC 5844 3.3.3).
func (p *IPv4Pool) DefaultRouter() netip.Addr { return p.router }

func (p *IPv4Pool) String() string { return p.subnet.String() }

func (p *IPv4Pool) offset(a netip.Addr) (uint64, bool) {
	if !a.Is4() || !p.subnet.Contains(a) {
		return 0, false
	}
	return uint64(binary.BigEndian.Uint32(a.AsSlice()) - p.base), true
}

// index maps a home address to its index, or fails with ErrNotInPool.
func (p *IPv4Pool) index(pfx netip.Prefix) (uint64, error) {
	if !pfx.IsValid() || !pfx.Addr().Is4() {
		return 0, fmt.Errorf("%w: %v is not an IPv4 address", ErrNotInPool, pfx)
	}
	if pfx.Bits() != 32 && pfx.Bits() != p.subnet.Bits() {
		return 0, fmt.Errorf("%w: %v must be given as /32 or /%d", ErrNotInPool, pfx, p.subnet.Bits())
	}
	i, ok := p.offset(pfx.Addr())
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: %v is outside %v", ErrNotInPool, pfx.Addr(), p.subnet)
	case i == 0:
		return 0, fmt.Errorf("%w: %v is the network address of %v", ErrNotInPool, pfx.Addr(), p.subnet)
	case i == p.size-1:
		return 0, fmt.Errorf("%w: %v is the broadcast address of %v", ErrNotInPool, pfx.Addr(), p.subnet)
	case pfx.Addr() == p.router:
		return 0, fmt.Errorf("%w: %v is the default router of %v", ErrNotInPool, pfx.Addr(), p.subnet)
	}
	return i, nil
}

func (p *IPv4Pool) entry(i uint64) netip.Prefix {
	return netip.PrefixFrom(u32Addr(p.base+uint32(i)), p.subnet.Bits())
}

// Contains reports whether pfx is an address the pool can hand out.
func (p *IPv4Pool) Contains(pfx netip.Prefix) bool { return contains(p, pfx) }

// Allocate returns a free home address. A hint that is one of the pool's
// addresses and free is returned as is: RFC 5844 3.3.1, an IPv4 Home
// Address Request option with a non-zero address asks for that address,
// 0.0.0.0 for any. A hint outside the pool or in use is ignored; the engine
// decides with Contains and Reserve whether to refuse instead (RFC 5844
// statuses 171-173).
func (p *IPv4Pool) Allocate(hint netip.Prefix) (netip.Prefix, error) { return p.allocate(p, hint) }

// Reserve marks the address of pfx allocated: a static IPv4 home address
// of a policy, or one a recovered binding holds.
func (p *IPv4Pool) Reserve(pfx netip.Prefix) error { return p.reserve(p, pfx) }

// Free returns the address of pfx to the pool.
func (p *IPv4Pool) Free(pfx netip.Prefix) error { return p.free(p, pfx) }

// Usage reports the pool's size and use; the kept-back addresses count in
// neither.
func (p *IPv4Pool) Usage() Usage { return p.usage() }

func u32Addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
