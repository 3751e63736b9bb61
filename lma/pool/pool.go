// Package pool hands out the LMA's home network prefixes (RFC 5213) and
// IPv4 home addresses (RFC 5844) from configured ranges.
//
// A PrefixPool carves an aggregate IPv6 prefix into home network prefixes
// of one length (a /40 into /64s); an IPv4Pool hands out single addresses
// of a subnet, keeping back its network, broadcast and default-router
// addresses. Both follow coredhcp's allocator contract: Allocate(hint)
// honours a free hint, Reserve claims a given prefix or address (static
// policy, and rebuilding after a restart from the binding store), Free
// returns one. Both are safe for concurrent use.
//
// Used entries are kept as indices in a compressed bitmap, not as strings:
// a million allocations cost well under a megabyte when dense, about two
// bytes each when scattered, and every operation is O(log n) or better.
// Unhinted allocation is next-fit: it continues after the last entry handed
// out and wraps, so a freed prefix is handed out again only after the rest
// of the pool has been used, not straight away to the next mobile node
// while routers and neighbours may still hold state for the old one.
package pool

import (
	"errors"
	"net/netip"
)

// Errors returned by the pools, matched with errors.Is. The returned errors
// wrap them with the prefix or address concerned.
var (
	// ErrNoAddrAvail means the pool has nothing free.
	ErrNoAddrAvail = errors.New("pool: no prefix or address available")
	// ErrDoubleFree means Free was given something that is not allocated.
	ErrDoubleFree = errors.New("pool: not allocated")
	// ErrNotInPool means the prefix or address is outside the pool, of
	// the wrong family or length, or one the pool never hands out (an
	// IPv4 subnet's network, broadcast or default-router address).
	ErrNotInPool = errors.New("pool: not in pool")
	// ErrInUse means Reserve was given something already allocated.
	ErrInUse = errors.New("pool: already allocated")
)

// Allocator is the contract both pools meet, so the engine can hold home
// network prefix pools and IPv4 home address pools alike.
type Allocator interface {
	// Allocate returns a free entry, hint itself when hint is in the pool
	// and free. A zero hint, or an unspecified address, means no hint.
	Allocate(hint netip.Prefix) (netip.Prefix, error)
	// Reserve marks p allocated; ErrInUse if it already is.
	Reserve(p netip.Prefix) error
	// Free returns p to the pool; ErrDoubleFree if it was not allocated.
	Free(p netip.Prefix) error
	// Contains reports whether p is an entry this pool can hand out.
	Contains(p netip.Prefix) bool
	// Usage reports size and use, for metrics and pmipctl.
	Usage() Usage
}

// Usage is a pool's size and use, as exported to Prometheus.
type Usage struct {
	Size uint64 // entries the pool can hand out
	Used uint64 // entries allocated or reserved
	// Bytes estimates the memory holding the used set.
	Bytes uint64
}

// Free reports the entries still available.
func (u Usage) Free() uint64 { return u.Size - u.Used }

// maxIndexBits bounds a pool at 2^32 entries: a /32 carved into /64s. A
// larger range would not fit in one box's memory if it were ever filled,
// and an operator asking for one has most likely mistyped a length.
const maxIndexBits = 32
