package pool

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PrefixPool hands out home network prefixes (RFC 5213 2.2, "Mobile Node's
// Home Network Prefix") of one length carved from an aggregate IPv6 prefix.
type PrefixPool struct {
	core
	agg   netip.Prefix
	bits  int     // length of each home network prefix
	shift uint    // 128 - bits
	base  uint128 // aggregate address
}

var _ Allocator = (*PrefixPool)(nil)

// NewPrefixPool returns a pool of the /bits prefixes inside aggregate, e.g.
// NewPrefixPool(2001:db8::/40, 64) holds 2^24 /64s. bits may exceed
// aggregate's length by at most 32.
func NewPrefixPool(aggregate netip.Prefix, bits int) (*PrefixPool, error) {
	if !aggregate.IsValid() || !aggregate.Addr().Is6() || aggregate.Addr().Is4In6() {
		return nil, fmt.Errorf("pool: aggregate %v is not an IPv6 prefix", aggregate)
	}
	if aggregate != aggregate.Masked() {
		return nil, fmt.Errorf("pool: aggregate %v has bits set beyond its length (did you mean %v?)", aggregate, aggregate.Masked())
	}
	if bits < aggregate.Bits() || bits > 128 {
		return nil, fmt.Errorf("pool: home prefix length /%d must be between the aggregate's /%d and /128", bits, aggregate.Bits())
	}
	if bits-aggregate.Bits() > maxIndexBits {
		return nil, fmt.Errorf("pool: %v carved into /%d is 2^%d prefixes, more than the 2^%d a pool may hold", aggregate, bits, bits-aggregate.Bits(), maxIndexBits)
	}
	size := uint64(1) << (bits - aggregate.Bits())
	return &PrefixPool{core: newCore(size), agg: aggregate, bits: bits, shift: uint(128 - bits), base: u128From(aggregate.Addr())}, nil
}

// Aggregate returns the prefix the pool carves.
func (p *PrefixPool) Aggregate() netip.Prefix { return p.agg }

// Bits returns the length of the prefixes handed out.
func (p *PrefixPool) Bits() int { return p.bits }

func (p *PrefixPool) String() string { return fmt.Sprintf("%v/%d", p.agg, p.bits) }

// index maps a home prefix to its index, or fails with ErrNotInPool.
func (p *PrefixPool) index(pfx netip.Prefix) (uint64, error) {
	if !pfx.IsValid() || !pfx.Addr().Is6() || pfx.Addr().Is4In6() || pfx.Addr().Zone() != "" {
		return 0, fmt.Errorf("%w: %v is not an IPv6 prefix", ErrNotInPool, pfx)
	}
	if pfx.Bits() != p.bits {
		return 0, fmt.Errorf("%w: %v is not a /%d", ErrNotInPool, pfx, p.bits)
	}
	if pfx != pfx.Masked() {
		return 0, fmt.Errorf("%w: %v has bits set beyond /%d", ErrNotInPool, pfx, p.bits)
	}
	if !p.agg.Contains(pfx.Addr()) {
		return 0, fmt.Errorf("%w: %v is outside %v", ErrNotInPool, pfx, p.agg)
	}
	return u128From(pfx.Addr()).sub(p.base).shr(p.shift).lo, nil
}

func (p *PrefixPool) entry(i uint64) netip.Prefix {
	return netip.PrefixFrom(p.base.add(uint128{lo: i}.shl(p.shift)).addr(), p.bits)
}

// prefix is the home prefix of index i.
func (p *PrefixPool) prefix(i uint64) netip.Prefix { return p.entry(i) }

// Contains reports whether pfx is one of the pool's home prefixes.
func (p *PrefixPool) Contains(pfx netip.Prefix) bool { return contains(p, pfx) }

// Allocate returns a free home network prefix. A hint that is one of the
// pool's prefixes and free is returned as is: RFC 5213 5.3.2 and 8.3, a
// Home Network Prefix option with a non-zero prefix is the MAG's request
// for that prefix (after its own restart, or on handoff when the LMA lost
// the binding); an ALL_ZERO prefix (::) or the zero Prefix asks for any.
// A hint outside the pool or in use is ignored: whether that should instead
// fail the registration is the engine's policy, which it decides with
// Contains and Reserve.
func (p *PrefixPool) Allocate(hint netip.Prefix) (netip.Prefix, error) { return p.allocate(p, hint) }

// Reserve marks pfx allocated: a static home prefix of a policy, or one a
// recovered binding holds.
func (p *PrefixPool) Reserve(pfx netip.Prefix) error { return p.reserve(p, pfx) }

// Free returns pfx to the pool.
func (p *PrefixPool) Free(pfx netip.Prefix) error { return p.free(p, pfx) }

// Usage reports the pool's size and use.
func (p *PrefixPool) Usage() Usage { return p.usage() }

// uint128 is an IPv6 address as a number.
type uint128 struct{ hi, lo uint64 }

func u128From(a netip.Addr) uint128 {
	b := a.As16()
	return uint128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u uint128) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u uint128) add(v uint128) uint128 {
	lo := u.lo + v.lo
	carry := uint64(0)
	if lo < u.lo {
		carry = 1
	}
	return uint128{u.hi + v.hi + carry, lo}
}

func (u uint128) sub(v uint128) uint128 {
	lo := u.lo - v.lo
	borrow := uint64(0)
	if u.lo < v.lo {
		borrow = 1
	}
	return uint128{u.hi - v.hi - borrow, lo}
}

func (u uint128) shl(n uint) uint128 {
	switch {
	case n == 0:
		return u
	case n >= 128:
		return uint128{}
	case n >= 64:
		return uint128{u.lo << (n - 64), 0}
	}
	return uint128{u.hi<<n | u.lo>>(64-n), u.lo << n}
}

func (u uint128) shr(n uint) uint128 {
	switch {
	case n == 0:
		return u
	case n >= 128:
		return uint128{}
	case n >= 64:
		return uint128{0, u.hi >> (n - 64)}
	}
	return uint128{u.hi >> n, u.lo>>n | u.hi<<(64-n)}
}
