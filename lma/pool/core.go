package pool

import (
	"fmt"
	"net/netip"
	"sync"
)

// core is what both pools share: the set of used indices under a lock,
// the next-fit cursor, the entries kept back, the accounting, and the
// allocator contract over the pool's mapping of entries to indices
// (entries).
type core struct {
	size uint64 // entries, including the kept-back ones
	// kept entries are never handed out; they sit in the set from the
	// start and count in neither Size nor Used.
	kept uint64

	mu     sync.Mutex
	set    *indexSet // guarded by mu
	cursor uint64    // guarded by mu: next-fit start
}

func newCore(size uint64) core { return core{size: size, set: newIndexSet(size)} }

// keep marks index i as never handed out (before the pool is shared).
func (p *core) keep(i uint64) {
	if p.set.add(i) {
		p.kept++
	}
}

// entries is how a pool maps its entries to core's indices and back.
type entries interface {
	// index maps an entry to its index, or fails wrapping ErrNotInPool.
	index(netip.Prefix) (uint64, error)
	// entry is the entry of index i.
	entry(i uint64) netip.Prefix
	fmt.Stringer
}

// allocate returns hint when it asks for one of the pool's entries and
// that is free, else the next free entry (next-fit).
func (p *core) allocate(es entries, hint netip.Prefix) (netip.Prefix, error) {
	h, ok := uint64(0), false
	if hint.IsValid() && !hint.Addr().IsUnspecified() {
		i, err := es.index(hint)
		h, ok = i, err == nil
	}
	p.mu.Lock()
	if ok && p.set.add(h) {
		p.mu.Unlock()
		return es.entry(h), nil
	}
	i, err := nextFit(p.set, &p.cursor)
	p.mu.Unlock()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w in %v", err, es)
	}
	return es.entry(i), nil
}

// reserve marks x used; ErrInUse if it already was.
func (p *core) reserve(es entries, x netip.Prefix) error {
	i, err := es.index(x)
	if err != nil {
		return err
	}
	p.mu.Lock()
	ok := p.set.add(i)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %v", ErrInUse, describe(x))
	}
	return nil
}

// free marks x free; ErrDoubleFree if it was not used.
func (p *core) free(es entries, x netip.Prefix) error {
	i, err := es.index(x)
	if err != nil {
		return err
	}
	p.mu.Lock()
	ok := p.set.remove(i)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %v", ErrDoubleFree, describe(x))
	}
	return nil
}

// contains reports whether x is an entry of the pool.
func contains(es entries, x netip.Prefix) bool {
	_, err := es.index(x)
	return err == nil
}

// describe is what an error calls an entry: an IPv4 home address by its
// address (the pool takes it as /32 or with the subnet's length), a home
// network prefix whole.
func describe(x netip.Prefix) any {
	if x.Addr().Is4() {
		return x.Addr()
	}
	return x
}

func (p *core) usage() Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Usage{Size: p.size - p.kept, Used: p.set.used - p.kept, Bytes: p.set.bytes()}
}

// nextFit takes the first free index at or after *cursor, wrapping once,
// and moves the cursor past it.
func nextFit(s *indexSet, cursor *uint64) (uint64, error) {
	i, ok := s.nextFree(*cursor)
	if !ok {
		i, ok = s.nextFree(0)
	}
	if !ok {
		return 0, ErrNoAddrAvail
	}
	s.add(i)
	*cursor = i + 1
	if *cursor >= s.n {
		*cursor = 0
	}
	return i, nil
}

var (
	_ entries = (*PrefixPool)(nil)
	_ entries = (*IPv4Pool)(nil)
)
