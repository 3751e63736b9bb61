package lma

import (
	"container/heap"
	"fmt"
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
type binding struct {
	id uint64
	mn mnKey
	// llid is the Mobile Node Link-layer Identifier (RFC 5213 8.6) as
	// octets, "" when the MAG sent none.
	llid string
	att  mh.AccessTechnology
	// mag names the serving MAG; coa is its Proxy-CoA (RFC 5213 2.2), an
	// IPv4 address when it signals over IPv4 transport (RFC 5844 4).
	mag    string
	coa    netip.Addr
	tunnel lmaconfig.Tunnel
	// hnps are the home network prefixes of the session (RFC 5213 5.2).
	hnps []netip.Prefix
	// hoa is the IPv4 home address with the prefix length sent to the
	// client (RFC 5844 3.3.2); invalid when none. v4router is its default
	// router (RFC 5844 3.3.3).
	hoa      netip.Prefix
	v4router netip.Addr
	// GRE keys (RFC 5845 3): up is the key the LMA gave the MAG in the PBA
	// for uplink packets, down the key the MAG asked for downlink packets.
	greUp, greDown       uint32
	greUpSet, greDownSet bool
	// linkLocal is the mobile's MAG-side link-local address (RFC 5213
	// 5.3.6, 8.7), kept so a later PBU asking with ALL_ZERO learns it.
	linkLocal netip.Addr
	policy    string

	lifetime time.Duration
	// Times as Unix nanoseconds (a time.Time is 24 octets and a pointer,
	// three of them a million times over): first registration, last
	// change, and the deadline: the lifetime's end when active, the
	// deletion time when deregistered.
	registered, updated, deadline int64
	// timestamp is the last accepted Timestamp option (RFC 5213 5.5);
	// seq the last accepted Sequence Number (RFC 6275 9.5.1).
	timestamp uint64
	seq       uint16
	state     bindingState

	heapIdx int
	// nextOfMN links the bindings of one mobile node (multihoming, RFC
	// 5213 5.4).
	nextOfMN *binding
}

// String prefixes the binding's log lines (house style, habit 7).
func (b *binding) String() string {
	return fmt.Sprintf("binding %d %s via %s", b.id, b.mn, b.mag)
}

// deadlineTime is the deadline as a time.
func (b *binding) deadlineTime() time.Time { return time.Unix(0, b.deadline) }

// expiryHeap orders bindings by deadline; index kept in heapIdx so that a
// refresh moves its entry in O(log n) and a million bindings need one
// clock timer, not a million.
type expiryHeap []*binding

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *expiryHeap) Push(x any) {
	b := x.(*binding)
	b.heapIdx = len(*h)
	*h = append(*h, b)
}
func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	b := old[n-1]
	old[n-1] = nil
	b.heapIdx = -1
	*h = old[:n-1]
	return b
}

// cache is the Binding Cache with the indexes the lookups of RFC 5213
// 5.4.1 need. Only the engine's loop touches it.
type cache struct {
	byID   map[uint64]*binding
	byMN   map[mnKey]*binding // head of the nextOfMN list
	byHNP  map[netip.Prefix]*binding
	byHoA  map[netip.Addr]*binding
	byUp   map[uint32]*binding // uplink GRE keys in use
	perMAG map[string]int
	heap   expiryHeap
	// size mirrors len(byID) for readers off the loop (metrics).
	size atomic.Int64
}

func newCache() *cache {
	return &cache{
		byID:   map[uint64]*binding{},
		byMN:   map[mnKey]*binding{},
		byHNP:  map[netip.Prefix]*binding{},
		byHoA:  map[netip.Addr]*binding{},
		byUp:   map[uint32]*binding{},
		perMAG: map[string]int{},
	}
}

func (c *cache) len() int { return len(c.byID) }

// add indexes a new binding.
func (c *cache) add(b *binding) {
	c.byID[b.id] = b
	b.nextOfMN = c.byMN[b.mn]
	c.byMN[b.mn] = b
	c.indexResources(b)
	c.perMAG[b.mag]++
	heap.Push(&c.heap, b)
	c.size.Store(int64(len(c.byID)))
}

func (c *cache) indexResources(b *binding) {
	for _, p := range b.hnps {
		c.byHNP[p] = b
	}
	if b.hoa.IsValid() {
		c.byHoA[b.hoa.Addr()] = b
	}
	if b.greUpSet {
		c.byUp[b.greUp] = b
	}
}

func (c *cache) unindexResources(b *binding) {
	for _, p := range b.hnps {
		if c.byHNP[p] == b {
			delete(c.byHNP, p)
		}
	}
	if b.hoa.IsValid() && c.byHoA[b.hoa.Addr()] == b {
		delete(c.byHoA, b.hoa.Addr())
	}
	if b.greUpSet && c.byUp[b.greUp] == b {
		delete(c.byUp, b.greUp)
	}
}

// remove drops a binding from every index.
func (c *cache) remove(b *binding) {
	if c.byID[b.id] != b {
		return
	}
	delete(c.byID, b.id)
	c.size.Store(int64(len(c.byID)))
	c.unindexResources(b)
	if head := c.byMN[b.mn]; head == b {
		if b.nextOfMN == nil {
			delete(c.byMN, b.mn)
		} else {
			c.byMN[b.mn] = b.nextOfMN
		}
	} else {
		for p := head; p != nil; p = p.nextOfMN {
			if p.nextOfMN == b {
				p.nextOfMN = b.nextOfMN
				break
			}
		}
	}
	b.nextOfMN = nil
	if c.perMAG[b.mag]--; c.perMAG[b.mag] <= 0 {
		delete(c.perMAG, b.mag)
	}
	if b.heapIdx >= 0 && b.heapIdx < len(c.heap) && c.heap[b.heapIdx] == b {
		heap.Remove(&c.heap, b.heapIdx)
	}
}

// moveMAG re-counts a binding under another MAG (handoff).
func (c *cache) moveMAG(b *binding, mag string) {
	if b.mag == mag {
		return
	}
	if c.perMAG[b.mag]--; c.perMAG[b.mag] <= 0 {
		delete(c.perMAG, b.mag)
	}
	b.mag = mag
	c.perMAG[mag]++
}

// setDeadline moves a binding in the expiry order.
func (c *cache) setDeadline(b *binding, t time.Time) {
	b.deadline = t.UnixNano()
	if b.heapIdx >= 0 && b.heapIdx < len(c.heap) && c.heap[b.heapIdx] == b {
		heap.Fix(&c.heap, b.heapIdx)
	}
}

// ofMN returns the bindings of one mobile node.
func (c *cache) ofMN(k mnKey) []*binding {
	var out []*binding
	for b := c.byMN[k]; b != nil; b = b.nextOfMN {
		out = append(out, b)
	}
	return out
}

// next returns the binding whose deadline comes first.
func (c *cache) next() *binding {
	if len(c.heap) == 0 {
		return nil
	}
	return c.heap[0]
}
