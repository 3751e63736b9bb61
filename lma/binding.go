package lma

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// mnKey identifies a mobile node by its Mobile Node Identifier option:
// subtype and identifier octets (RFC 4283 3, RFC 5213 5.3.1).
type mnKey struct {
	subtype mh.MNIDSubtype
	id      string
}

func (k mnKey) String() string {
	return (&mh.MobileNodeIdentifier{Subtype: k.subtype, Identifier: []byte(k.id)}).String()
}

func (k mnKey) option() *mh.MobileNodeIdentifier {
	return &mh.MobileNodeIdentifier{Subtype: k.subtype, Identifier: []byte(k.id)}
}

// bindingState is where a Binding Cache entry is in its life.
type bindingState uint8

const (
	// stateActive: registered, forwarding.
	stateActive bindingState = iota
	// stateDeregistered: the serving MAG deregistered it; it lingers for
	// MinDelayBeforeBCEDelete so that a handoff can still claim it (RFC
	// 5213 5.3.5).
	stateDeregistered
)

func (s bindingState) String() string {
	if s == stateDeregistered {
		return "deregistered"
	}
	return "active"
}

// binding is one Binding Cache entry (RFC 6275 9.1 extended by RFC 5213
// 5.1 and RFC 5844 3.2.1): one mobility session, i.e. one interface of one
// mobile node attached through one MAG. It is owned by the engine's loop.
//
// A binding holds no pointers, so that the garbage collector never scans
// the cache's million entries (with pointers, marking them was 40% of the
// LMA's CPU at 1M bindings): addresses are packed (ip, pfx), names shared
// by many sessions (MAG, policy, tunnel) are indexes into the cache's name
// table, and what is each session's own beyond that (mobile node and
// link-layer identifiers, in pointer-free slotIDs; any home prefix after
// the first) lives in the cache beside it, by slot. Read them through the
// cache's accessors.
type binding struct {
	id uint64
	// slot is where the binding sits in the cache; nextOfMN is the slot
	// of the next binding of the same mobile node plus one, 0 for none
	// (multihoming, RFC 5213 5.4).
	slot, nextOfMN uint32
	heapIdx        int32
	mnSubtype      mh.MNIDSubtype
	att            mh.AccessTechnology
	state          bindingState
	// GRE keys (RFC 5845 3): up is the key the LMA gave the MAG in the PBA
	// for uplink packets, down the key the MAG asked for downlink packets.
	greUpSet, greDownSet bool
	greUp, greDown       uint32
	// mag names the serving MAG, policy the policy profile, tunnel the
	// encapsulation (name table indexes).
	mag, policy, tunnel name
	// seq is the last accepted Sequence Number (RFC 6275 9.5.1).
	seq uint16
	// nhnp counts the home network prefixes of the session (RFC 5213
	// 5.2): the first is hnp, the others in the cache's more map.
	nhnp uint8
	hnp  pfx
	// coa is the serving MAG's Proxy-CoA (RFC 5213 2.2), an IPv4 address
	// when it signals over IPv4 transport (RFC 5844 4).
	coa ip
	// hoa is the IPv4 home address with the prefix length sent to the
	// client (RFC 5844 3.3.2); invalid when none. v4router is its default
	// router (RFC 5844 3.3.3).
	hoa      pfx
	v4router ip
	// linkLocal is the mobile's MAG-side link-local address (RFC 5213
	// 5.3.6, 8.7), kept so a later PBU asking with ALL_ZERO learns it.
	linkLocal ip

	lifetime time.Duration
	// Times as Unix nanoseconds: first registration, last change, and the
	// deadline: the lifetime's end when active, the deletion time when
	// deregistered.
	registered, updated, deadline int64
	// timestamp is the last accepted Timestamp option (RFC 5213 5.5).
	timestamp uint64
	// gen counts the binding records written for the session (record.go):
	// a refresh record applies only to the binding record of its
	// generation, so one left from before a handoff is never applied to
	// the record the handoff wrote.
	gen uint32
}

// deadlineTime is the deadline as a time.
func (b *binding) deadlineTime() time.Time { return time.Unix(0, b.deadline) }

// ip is a netip.Addr without zone and without the pointer netip keeps for
// it: 16 octets and the family (0 when invalid).
type ip struct {
	a   [16]byte
	fam uint8
}

func packIP(a netip.Addr) ip {
	switch {
	case !a.IsValid():
		return ip{}
	case a.Is4():
		return ip{a: a.As16(), fam: 4}
	}
	return ip{a: a.As16(), fam: 6}
}

func (x ip) addr() netip.Addr {
	switch x.fam {
	case 4:
		return netip.AddrFrom16(x.a).Unmap()
	case 6:
		return netip.AddrFrom16(x.a)
	}
	return netip.Addr{}
}

func (x ip) valid() bool { return x.fam != 0 }

// pfx is a netip.Prefix packed like ip.
type pfx struct {
	a    ip
	bits uint8
}

func packPfx(p netip.Prefix) pfx {
	if !p.IsValid() {
		return pfx{}
	}
	return pfx{a: packIP(p.Addr()), bits: uint8(p.Bits())}
}

func (x pfx) prefix() netip.Prefix {
	if !x.a.valid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(x.a.addr(), int(x.bits))
}

func (x pfx) valid() bool { return x.a.valid() }

// name is an index into the cache's name table.
type name uint16

// Each slot's own identifiers (the mobile node's and the link-layer
// identifier) are held inline in a pointer-free array beside the
// bindings, up to these lengths; a longer one (rare: an NAI of over 62
// octets) lives in the cache's long map. With the identifiers as strings,
// their two million pointers and the string-keyed byMN map were most of
// what the collector marked on every cycle with a million bindings (about
// 0.1 s of a CPU, while one of the two Ps ran the mark worker and PBUs
// queued behind it).
const (
	mnInline = 62 // an NAI such as an IMSI-based one of 3GPP TS 23.003 fits
	llInline = 16 // EUI-48 and EUI-64 fit (RFC 5213 8.6)
	// longID in a length field: the identifier is in the cache's long map.
	longID = 0xff
)

// slotIDs are a slot's identifiers; no pointers.
type slotIDs struct {
	mnLen, llLen uint8
	mn           [mnInline]byte
	ll           [llInline]byte
}

// longIDs are a slot's identifiers too long to be inline ("" when inline).
type longIDs struct {
	mn, ll string
}

// slotStrings are a slot's identifiers as strings, copies (for operations
// and records, off the hot path).
type slotStrings struct {
	mnID, llid string
}

// Bindings live in chunks that never move, so that a *binding stays valid
// while its slot is in use; a removed binding's slot is reused.
const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

// cache is the Binding Cache with the indexes the lookups of RFC 5213
// 5.4.1 need. Only the engine's loop touches it.
//
// Nothing it holds per binding has pointers, so a collection marks none
// of it: bindings and their identifiers are in chunks of pointer-free
// arrays, and every index map has pointer-free keys and values (the Go
// collector does not scan such a map's buckets). The mobile nodes' index
// is keyed by a seeded hash of the identifier (byMN); bindings whose
// identifiers share a hash share its chain, and every walk compares the
// identifiers themselves.
type cache struct {
	chunks [][]binding // pointer-free: never scanned by the collector
	ids    [][]slotIDs // beside chunks, same indexes; pointer-free too
	long   map[uint32]longIDs
	more   map[uint32][]netip.Prefix
	free   []uint32
	used   uint32 // slots handed out, free ones included

	names   []string
	nameIDs map[string]name

	seed   maphash.Seed
	mnMask uint64 // ^0; tests clear bits to make identifiers collide
	byID   map[uint64]uint32
	byMN   map[uint64]uint32 // by mnHash: head of the nextOfMN chain
	byHNP  map[pfx]uint32
	byHoA  map[ip]uint32
	byUp   map[uint32]uint32 // uplink GRE keys in use
	perMAG map[string]int
	// heap orders slots by deadline (expiry.go).
	heap []uint32
	// size mirrors len(byID) for readers off the loop (metrics).
	size atomic.Int64
}

func newCache() *cache {
	return &cache{
		long:    map[uint32]longIDs{},
		more:    map[uint32][]netip.Prefix{},
		nameIDs: map[string]name{},
		seed:    maphash.MakeSeed(),
		mnMask:  ^uint64(0),
		byID:    map[uint64]uint32{},
		byMN:    map[uint64]uint32{},
		byHNP:   map[pfx]uint32{},
		byHoA:   map[ip]uint32{},
		byUp:    map[uint32]uint32{},
		perMAG:  map[string]int{},
	}
}

func (c *cache) len() int { return len(c.byID) }

// at is the binding in slot s.
func (c *cache) at(s uint32) *binding { return &c.chunks[s>>chunkBits][s&(chunkSize-1)] }

func (c *cache) idsOf(b *binding) *slotIDs {
	return &c.ids[b.slot>>chunkBits][b.slot&(chunkSize-1)]
}

// alloc returns a zeroed binding in a free slot, not yet indexed: fill it
// and add it, or give it back with discard.
func (c *cache) alloc() *binding {
	var s uint32
	if n := len(c.free); n > 0 {
		s = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		if c.used&(chunkSize-1) == 0 {
			c.chunks = append(c.chunks, make([]binding, chunkSize))
			c.ids = append(c.ids, make([]slotIDs, chunkSize))
		}
		s = c.used
		c.used++
	}
	b := c.at(s)
	*b = binding{slot: s, heapIdx: -1}
	*c.idsOf(b) = slotIDs{}
	return b
}

// discard gives back a slot that alloc returned and add never indexed, or
// that remove unindexed.
func (c *cache) discard(b *binding) {
	s := b.slot
	*c.idsOf(b) = slotIDs{}
	delete(c.long, s)
	delete(c.more, s)
	*b = binding{heapIdx: -1}
	c.free = append(c.free, s)
}

// intern returns the name table index of s.
func (c *cache) intern(s string) name {
	if n, ok := c.nameIDs[s]; ok {
		return n
	}
	n := name(len(c.names))
	c.names = append(c.names, s)
	c.nameIDs[s] = n
	return n
}

func (c *cache) name(n name) string {
	if int(n) < len(c.names) {
		return c.names[n]
	}
	return ""
}

// Accessors of what a binding keeps outside itself.

// mnBytes is b's mobile node identifier in place: read it before the
// binding changes, keep no reference.
func (c *cache) mnBytes(b *binding) []byte {
	x := c.idsOf(b)
	if x.mnLen == longID {
		return []byte(c.long[b.slot].mn)
	}
	return x.mn[:x.mnLen]
}

// llidBytes is b's link-layer identifier in place, as mnBytes.
func (c *cache) llidBytes(b *binding) []byte {
	x := c.idsOf(b)
	if x.llLen == longID {
		return []byte(c.long[b.slot].ll)
	}
	return x.ll[:x.llLen]
}

// strsOf returns copies of b's identifiers.
func (c *cache) strsOf(b *binding) slotStrings {
	return slotStrings{mnID: string(c.mnBytes(b)), llid: string(c.llidBytes(b))}
}

// mnHash is the byMN key of a mobile node identifier.
func (c *cache) mnHash(subtype mh.MNIDSubtype, id string) uint64 {
	return (maphash.String(c.seed, id) ^ uint64(subtype)) & c.mnMask
}

// mnHashOf is the byMN key of b's mobile node.
func (c *cache) mnHashOf(b *binding) uint64 {
	return (maphash.Bytes(c.seed, c.mnBytes(b)) ^ uint64(b.mnSubtype)) & c.mnMask
}

func (c *cache) mn(b *binding) mnKey {
	return mnKey{subtype: b.mnSubtype, id: string(c.mnBytes(b))}
}

// isMN reports whether b is a session of mobile node k (no allocation:
// the compiler compares string(bytes) in place).
func (c *cache) isMN(b *binding, k mnKey) bool {
	return b.mnSubtype == k.subtype && string(c.mnBytes(b)) == k.id
}

// sameMN reports whether a and b are sessions of one mobile node.
func (c *cache) sameMN(a, b *binding) bool {
	return a.mnSubtype == b.mnSubtype && string(c.mnBytes(a)) == string(c.mnBytes(b))
}

func (c *cache) llid(b *binding) string { return string(c.llidBytes(b)) }

// llidIs reports whether b's link-layer identifier is s, without
// allocating.
func (c *cache) llidIs(b *binding, s string) bool { return string(c.llidBytes(b)) == s }

// hasLLID reports whether b has a link-layer identifier.
func (c *cache) hasLLID(b *binding) bool { return c.idsOf(b).llLen != 0 }

func (c *cache) mag(b *binding) string                    { return c.name(b.mag) }
func (c *cache) policy(b *binding) string                 { return c.name(b.policy) }
func (c *cache) tunnel(b *binding) lmaconfig.Tunnel       { return lmaconfig.Tunnel(c.name(b.tunnel)) }
func (c *cache) setTunnel(b *binding, t lmaconfig.Tunnel) { b.tunnel = c.intern(string(t)) }

// setMN sets b's mobile node; b must not be indexed meanwhile (its byMN
// key changes).
func (c *cache) setMN(b *binding, k mnKey) {
	b.mnSubtype = k.subtype
	x := c.idsOf(b)
	l := c.long[b.slot]
	if len(k.id) <= mnInline {
		x.mnLen = uint8(copy(x.mn[:], k.id))
		l.mn = ""
	} else {
		x.mnLen = longID
		l.mn = k.id
	}
	c.setLong(b.slot, l)
}

// setLLID sets b's link-layer identifier.
func (c *cache) setLLID(b *binding, s string) {
	x := c.idsOf(b)
	l := c.long[b.slot]
	if len(s) <= llInline {
		x.llLen = uint8(copy(x.ll[:], s))
		l.ll = ""
	} else {
		x.llLen = longID
		l.ll = s
	}
	c.setLong(b.slot, l)
}

func (c *cache) setLong(s uint32, l longIDs) {
	if l == (longIDs{}) {
		delete(c.long, s)
		return
	}
	c.long[s] = l
}

// hnpAt is the session's i-th home network prefix, i < b.nhnp.
func (c *cache) hnpAt(b *binding, i int) netip.Prefix {
	if i == 0 {
		return b.hnp.prefix()
	}
	return c.more[b.slot][i-1]
}

// hnps returns a copy of the session's home network prefixes.
func (c *cache) hnps(b *binding) []netip.Prefix {
	if b.nhnp == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, b.nhnp)
	for i := range int(b.nhnp) {
		out = append(out, c.hnpAt(b, i))
	}
	return out
}

// hasHNP reports whether p is one of the session's prefixes.
func (c *cache) hasHNP(b *binding, p netip.Prefix) bool {
	for i := range int(b.nhnp) {
		if c.hnpAt(b, i) == p {
			return true
		}
	}
	return false
}

// setHNPs replaces the session's prefixes (at most 255, maxHNPOptions
// bounds them far lower); the binding must not be indexed meanwhile.
func (c *cache) setHNPs(b *binding, ps []netip.Prefix) {
	delete(c.more, b.slot)
	b.nhnp = uint8(min(len(ps), 255))
	b.hnp = pfx{}
	if len(ps) > 0 {
		b.hnp = packPfx(ps[0])
	}
	if len(ps) > 1 {
		c.more[b.slot] = append([]netip.Prefix(nil), ps[1:b.nhnp]...)
	}
}

// get returns the binding with id, nil if none.
func (c *cache) get(id uint64) *binding {
	if s, ok := c.byID[id]; ok {
		return c.at(s)
	}
	return nil
}

// withHNP returns the binding holding home network prefix p, nil if none.
func (c *cache) withHNP(p netip.Prefix) *binding {
	if s, ok := c.byHNP[packPfx(p)]; ok {
		return c.at(s)
	}
	return nil
}

// withHoA returns the binding holding IPv4 home address a, nil if none.
func (c *cache) withHoA(a netip.Addr) *binding {
	if s, ok := c.byHoA[packIP(a)]; ok {
		return c.at(s)
	}
	return nil
}

// upKeyUsed reports whether a session has uplink GRE key k.
func (c *cache) upKeyUsed(k uint32) bool {
	_, ok := c.byUp[k]
	return ok
}

// all yields every binding in the cache, in no particular order. The
// loop body must not add or remove bindings.
func (c *cache) all(yield func(*binding) bool) {
	for _, s := range c.byID {
		if !yield(c.at(s)) {
			return
		}
	}
}

// add indexes a binding from alloc.
func (c *cache) add(b *binding) {
	c.byID[b.id] = b.slot
	k := c.mnHashOf(b)
	if head, ok := c.byMN[k]; ok {
		b.nextOfMN = head + 1
	} else {
		b.nextOfMN = 0
	}
	c.byMN[k] = b.slot
	c.indexResources(b)
	c.perMAG[c.mag(b)]++
	c.heapPush(b)
	c.size.Store(int64(len(c.byID)))
}

func (c *cache) indexResources(b *binding) {
	for i := range int(b.nhnp) {
		c.byHNP[packPfx(c.hnpAt(b, i))] = b.slot
	}
	if b.hoa.valid() {
		c.byHoA[b.hoa.a] = b.slot
	}
	if b.greUpSet {
		c.byUp[b.greUp] = b.slot
	}
}

func (c *cache) unindexResources(b *binding) {
	for i := range int(b.nhnp) {
		k := packPfx(c.hnpAt(b, i))
		if s, ok := c.byHNP[k]; ok && s == b.slot {
			delete(c.byHNP, k)
		}
	}
	if b.hoa.valid() {
		if s, ok := c.byHoA[b.hoa.a]; ok && s == b.slot {
			delete(c.byHoA, b.hoa.a)
		}
	}
	if b.greUpSet {
		if s, ok := c.byUp[b.greUp]; ok && s == b.slot {
			delete(c.byUp, b.greUp)
		}
	}
}

// remove drops a binding from every index and frees its slot: b must not
// be used afterwards.
func (c *cache) remove(b *binding) {
	if s, ok := c.byID[b.id]; !ok || s != b.slot {
		return
	}
	delete(c.byID, b.id)
	c.size.Store(int64(len(c.byID)))
	c.unindexResources(b)
	k := c.mnHashOf(b)
	if head := c.byMN[k]; head == b.slot {
		if b.nextOfMN == 0 {
			delete(c.byMN, k)
		} else {
			c.byMN[k] = b.nextOfMN - 1
		}
	} else {
		for p := c.at(head); ; {
			if p.nextOfMN == 0 {
				break
			}
			if p.nextOfMN-1 == b.slot {
				p.nextOfMN = b.nextOfMN
				break
			}
			p = c.at(p.nextOfMN - 1)
		}
	}
	mag := c.mag(b)
	if c.perMAG[mag]--; c.perMAG[mag] <= 0 {
		delete(c.perMAG, mag)
	}
	c.heapRemove(b)
	c.discard(b)
}

// moveMAG re-counts a binding under another MAG (handoff).
func (c *cache) moveMAG(b *binding, mag string) {
	old := c.mag(b)
	if old == mag {
		return
	}
	if c.perMAG[old]--; c.perMAG[old] <= 0 {
		delete(c.perMAG, old)
	}
	b.mag = c.intern(mag)
	c.perMAG[mag]++
}

// setDeadline moves a binding in the expiry order.
func (c *cache) setDeadline(b *binding, t time.Time) {
	b.deadline = t.UnixNano()
	c.heapFix(b)
}

// ofMN returns the bindings of one mobile node.
func (c *cache) ofMN(k mnKey) []*binding {
	var out []*binding
	for b := c.firstOfMN(k); b != nil; b = c.nextOf(b) {
		out = append(out, b)
	}
	return out
}

// firstOfMN returns the first binding of a mobile node, nil if none;
// nextOf walks to the others.
func (c *cache) firstOfMN(k mnKey) *binding {
	s, ok := c.byMN[c.mnHash(k.subtype, k.id)]
	if !ok {
		return nil
	}
	for b := c.at(s); ; b = c.at(b.nextOfMN - 1) {
		if c.isMN(b, k) {
			return b
		}
		if b.nextOfMN == 0 {
			return nil
		}
	}
}

// nextOf returns the next binding of b's mobile node, nil after the last
// (the chain may hold other mobile nodes of the same hash: skipped).
func (c *cache) nextOf(b *binding) *binding {
	for p := b; p.nextOfMN != 0; {
		p = c.at(p.nextOfMN - 1)
		if c.sameMN(p, b) {
			return p
		}
	}
	return nil
}

// next returns the binding whose deadline comes first.
func (c *cache) next() *binding {
	if len(c.heap) == 0 {
		return nil
	}
	return c.at(c.heap[0])
}

// The expiry heap: slots ordered by deadline, each binding's index kept
// in heapIdx, so that a refresh moves its entry in O(log n) and a million
// bindings need one clock timer, not a million.

func (c *cache) heapLess(i, j int) bool { return c.at(c.heap[i]).deadline < c.at(c.heap[j]).deadline }

func (c *cache) heapSwap(i, j int) {
	c.heap[i], c.heap[j] = c.heap[j], c.heap[i]
	c.at(c.heap[i]).heapIdx = int32(i)
	c.at(c.heap[j]).heapIdx = int32(j)
}

func (c *cache) heapUp(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !c.heapLess(i, p) {
			return
		}
		c.heapSwap(i, p)
		i = p
	}
}

func (c *cache) heapDown(i int) bool {
	start := i
	n := len(c.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && c.heapLess(r, l) {
			m = r
		}
		if !c.heapLess(m, i) {
			break
		}
		c.heapSwap(i, m)
		i = m
	}
	return i > start
}

func (c *cache) heapPush(b *binding) {
	b.heapIdx = int32(len(c.heap))
	c.heap = append(c.heap, b.slot)
	c.heapUp(int(b.heapIdx))
}

func (c *cache) inHeap(b *binding) bool {
	i := int(b.heapIdx)
	return i >= 0 && i < len(c.heap) && c.heap[i] == b.slot
}

func (c *cache) heapFix(b *binding) {
	if !c.inHeap(b) {
		return
	}
	i := int(b.heapIdx)
	if !c.heapDown(i) {
		c.heapUp(i)
	}
}

func (c *cache) heapRemove(b *binding) {
	if !c.inHeap(b) {
		return
	}
	i := int(b.heapIdx)
	last := len(c.heap) - 1
	if i != last {
		c.heapSwap(i, last)
	}
	c.heap = c.heap[:last]
	b.heapIdx = -1
	if i != last {
		if !c.heapDown(i) {
			c.heapUp(i)
		}
	}
}

// bindingLog renders a binding in log lines (house style, habit 7).
type bindingLog struct {
	c *cache
	b *binding
}

func (l bindingLog) String() string {
	return "binding " + uitoa(l.b.id) + " " + l.c.mn(l.b).String() + " via " + l.c.mag(l.b)
}

// describe is b for log lines; call it before b is removed.
func (c *cache) describe(b *binding) bindingLog { return bindingLog{c, b} }

func uitoa(v uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}
