package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/openpmip/pmip/internal/nft"
	"golang.org/x/sys/unix"
)

// The nftables table of ours, as `nft list table inet pmip` shows it:
//
//	table inet pmip {
//	  set access { type ifname }
//	  set src6h { type ether_addr . ipv6_addr }                  /64 client prefixes
//	  set src6 { type ether_addr . ipv6_addr; flags interval }   any other length
//	  set src4 { type ether_addr . ipv4_addr }
//	  map flows6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service : mark; flags interval }
//	  map flows4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service : mark; flags interval }
//	  chain antispoof1 {
//	    type filter hook prerouting priority raw; policy accept;
//	    iifname != @access return
//	    ip6 saddr fe80::/10 return
//	    ip6 saddr :: return
//	    meta iiftype ether ether saddr . ip6 saddr & ffff:ffff:ffff:ffff:: @src6h return
//	    meta iiftype ether ether saddr . ip6 saddr @src6 return
//	    ip saddr 0.0.0.0 return
//	    meta iiftype ether ether saddr . ip saddr @src4 return
//	    counter drop
//	  }
//	  chain flows1 {
//	    type filter hook prerouting priority mangle; policy accept;
//	    meta mark set ip6 saddr . ip6 daddr . meta l4proto . th dport map @flows6
//	    meta mark set ip saddr . ip daddr . meta l4proto . th dport map @flows4
//	  }
//	  chain dhcp1 {
//	    type filter hook forward priority filter; policy accept;
//	    iifname @access meta l4proto udp udp dport 67 counter drop
//	  }
//	}
//
// plus the LMA's check of what arrives from its tunnels (sets tunnels,
// tsrc6, tsrc4 and chain tunspoof1, nft_tunnel_linux.go).
//
// Adding or removing a client or a flow is one element: the ruleset never
// changes after the table is made. The digit in the chain names is the
// layout's version: a table with other chains, or without one of our sets
// (src6h came later), is rebuilt.
//
// A client's /64 prefix, the common case, goes to the hash set src6h, for
// the reason the LMA's /64 home prefixes go to tsrc6h: the kernel's
// interval sets of concatenations (pipapo) copy and rebuild their lookup
// table at every transaction that touches them. On a handover the new MAG
// adds the client's source elements after the PBA, on the critical path
// of its uplink (docs/handover.md 8.4): until they are in, the client's
// packets are dropped. src6 keeps the other lengths and single addresses.
const (
	setAccess   = "access"
	setSrc6H    = "src6h"
	setSrc6     = "src6"
	setSrc4     = "src4"
	mapFlows6   = "flows6"
	mapFlows4   = "flows4"
	chainSpoof  = "antispoof1"
	chainFlows  = "flows1"
	chainDHCP   = "dhcp1"
	ifNameSize  = 16
	arphrdEther = 1
)

// The key types of the MAG's sets: each field of a concatenation takes
// whole 4-byte registers (nft.Set.KeyLen).
var (
	typeSrc6   = []nft.Datatype{nft.TypeEtherAddr, nft.TypeIP6Addr}
	typeSrc4   = []nft.Datatype{nft.TypeEtherAddr, nft.TypeIPAddr}
	typeFlows6 = []nft.Datatype{nft.TypeIP6Addr, nft.TypeIP6Addr, nft.TypeInetProto, nft.TypeInetService}
	typeFlows4 = []nft.Datatype{nft.TypeIPAddr, nft.TypeIPAddr, nft.TypeInetProto, nft.TypeInetService}
)

// setOrder is the order table0 creates the sets in; a set's ID (which
// the rules of the same transaction name it by) is its place here.
var setOrder = append([]string{setAccess, setSrc6H, setSrc6, setSrc4, mapFlows6, mapFlows4, setTunnels, setTSrc6H, setTSrc6, setTSrc4}, greSetNames...)

type nftKernel struct {
	conn  *nft.Conn
	table string
}

func openNFT(name string) (*nftKernel, error) {
	// Bound to the namespace of the thread that makes it, like our
	// rtnetlink socket.
	c, err := nft.Dial()
	if err != nil {
		return nil, fmt.Errorf("dataplane: nftables: %w", err)
	}
	return &nftKernel{conn: c, table: name}, nil
}

func (n *nftKernel) close() error { return n.conn.Close() }

// sets describes every set of the table, by name.
func (n *nftKernel) sets() map[string]*nft.Set {
	t := n.table
	set := func(name string, flags uint32, key ...nft.Datatype) *nft.Set {
		return &nft.Set{Family: nft.FamilyINet, Table: t, Name: name, Flags: flags, Key: key}
	}
	flows := func(name string, key []nft.Datatype) *nft.Set {
		s := set(name, nft.SetMap|nft.SetInterval, key...)
		s.Data = nft.TypeMark
		return s
	}
	m := map[string]*nft.Set{
		setAccess: set(setAccess, 0, nft.TypeIfName),
		setSrc6H:  set(setSrc6H, 0, typeSrc6...),
		setSrc6:   set(setSrc6, nft.SetInterval, typeSrc6...),
		setSrc4:   set(setSrc4, 0, typeSrc4...),
		mapFlows6: flows(mapFlows6, typeFlows6),
		mapFlows4: flows(mapFlows4, typeFlows4),
	}
	for name, s := range tunnelSets(t) {
		m[name] = s
	}
	for name, s := range greSets(t) {
		m[name] = s
	}
	for i, name := range setOrder {
		m[name].ID = uint32(i + 1)
	}
	return m
}

// dump returns the filter the table holds, nil without a table, and a
// stale filter for a table of another layout.
func (n *nftKernel) dump() (*Filter, error) {
	tables, err := n.conn.Tables(nft.FamilyINet)
	if err != nil {
		return nil, err
	}
	found := false
	for _, t := range tables {
		found = found || t.Name == n.table
	}
	if !found {
		return nil, nil
	}
	chains, err := n.conn.Chains(nft.FamilyINet)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{chainSpoof: false, chainFlows: false, chainDHCP: false, chainTSpoof: false, chainGRE: false}
	for _, c := range chains {
		if c.Table != n.table {
			continue
		}
		if _, ok := want[c.Name]; !ok {
			return &Filter{stale: true}, nil
		}
		want[c.Name] = true
	}
	sets, err := n.conn.Sets(nft.FamilyINet, n.table)
	if err != nil {
		return nil, err
	}
	have := map[string]nft.SetInfo{}
	for _, s := range sets {
		have[s.Name] = s
	}
	const layout = nft.SetInterval | nft.SetMap
	for name, s := range n.sets() {
		h, ok := have[name]
		if !ok || h.KeyLen != s.KeyLen() || h.Flags&layout != s.Flags&layout {
			return &Filter{stale: true}, nil
		}
	}
	for _, ok := range want {
		if !ok {
			return &Filter{stale: true}, nil
		}
	}

	f := &Filter{}
	elems := func(name string) ([]nft.Element, error) {
		return n.conn.Elements(nft.FamilyINet, n.table, name)
	}
	es, err := elems(setAccess)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		f.AccessIfaces = append(f.AccessIfaces, string(trimNUL(e.Key)))
	}
	for _, name := range []string{setSrc6H, setSrc6, setSrc4} {
		es, err := elems(name)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			s, ok := decodeSourceIn(name, e)
			if !ok {
				return &Filter{stale: true}, nil
			}
			f.Sources = append(f.Sources, s)
		}
	}
	if es, err = elems(setTunnels); err != nil {
		return nil, err
	}
	for _, e := range es {
		f.Tunnels = append(f.Tunnels, string(trimNUL(e.Key)))
	}
	for _, name := range []string{setTSrc6H, setTSrc6, setTSrc4} {
		es, err := elems(name)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			s, ok := decodeTunnelSourceIn(name, e)
			if !ok {
				return &Filter{stale: true}, nil
			}
			f.TunnelSources = append(f.TunnelSources, s)
		}
	}
	if ok, err := n.dumpGRE(f); err != nil {
		return nil, err
	} else if !ok {
		return &Filter{stale: true}, nil
	}
	for _, name := range []string{mapFlows6, mapFlows4} {
		es, err := elems(name)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			fl, ok := decodeFlow(e, name == mapFlows6)
			if !ok {
				return &Filter{stale: true}, nil
			}
			f.Flows = append(f.Flows, fl)
		}
	}
	return f, nil
}

func (n *nftKernel) apply(op Op) error {
	var err error
	switch o := op.Obj.(type) {
	case FilterTable:
		err = n.table0(op.Action)
	case AccessIface:
		key := make([]byte, ifNameSize)
		copy(key, o)
		err = n.element(op.Action, setAccess, nft.Element{Key: key})
	case Source:
		name, e := encodeSource(o)
		err = n.element(op.Action, name, e)
	case Flow:
		name, e := encodeFlow(o)
		err = n.element(op.Action, name, e)
	case TunnelIface:
		err = n.element(op.Action, setTunnels, nft.Element{Key: ifNameKey(string(o))})
	case TunnelSource:
		name, e := encodeTunnelSource(o)
		err = n.element(op.Action, name, e)
	case GREPeer:
		name, e := encodeGREPeer(o)
		err = n.element(op.Action, name, e)
	case GRESource:
		name, e := encodeGRESource(o)
		err = n.element(op.Action, name, e)
	default:
		err = fmt.Errorf("not an nftables object: %T", op.Obj)
	}
	return err
}

// elements sends the element operations of ops (Source, TunnelSource
// and GRESource only) as one transaction: all are applied or none.
func (n *nftKernel) elements(ops []Op) error {
	msgs := make([]nft.Msg, 0, len(ops))
	for _, op := range ops {
		var name string
		var e nft.Element
		switch o := op.Obj.(type) {
		case Source:
			name, e = encodeSource(o)
		case TunnelSource:
			name, e = encodeTunnelSource(o)
		case GRESource:
			name, e = encodeGRESource(o)
		default:
			return fmt.Errorf("not a batched set element: %T", op.Obj)
		}
		msgs = append(msgs, n.elementMsg(op.Action, name, e))
	}
	return n.conn.Do(msgs...)
}

func (n *nftKernel) elementMsg(a Action, set string, e nft.Element) nft.Msg {
	if a == Del {
		return &nft.DelSetElem{Family: nft.FamilyINet, Table: n.table, Set: set, Elems: []nft.Element{e}}
	}
	return &nft.NewSetElem{Family: nft.FamilyINet, Table: n.table, Set: set, Elems: []nft.Element{e}}
}

func (n *nftKernel) element(a Action, set string, e nft.Element) error {
	err := n.conn.Do(n.elementMsg(a, set, e))
	if a == Del && errors.Is(err, unix.ENOENT) {
		return nil // gone already
	}
	return err
}

// table0 creates the table with its sets, chains and rules in one
// transaction (replacing a table of ours of another layout), or deletes
// it with everything in it.
func (n *nftKernel) table0(a Action) error {
	tables, err := n.conn.Tables(nft.FamilyINet)
	if err != nil {
		return err
	}
	var msgs []nft.Msg
	for _, t := range tables {
		if t.Name == n.table {
			msgs = append(msgs, &nft.DelTable{Family: nft.FamilyINet, Name: n.table})
		}
	}
	if a == Del {
		return n.conn.Do(msgs...)
	}
	msgs = append(msgs, &nft.NewTable{Family: nft.FamilyINet, Name: n.table})
	sets := n.sets()
	for _, name := range setOrder {
		msgs = append(msgs, &nft.NewSet{Set: *sets[name]})
	}
	chain := func(name string, hook uint32, prio int32, rules ...[]nft.Expr) {
		msgs = append(msgs, &nft.NewChain{
			Family: nft.FamilyINet, Table: n.table, Name: name, Type: "filter",
			Hook: hook, Priority: prio, Policy: nft.VerdictAccept,
		})
		for _, r := range rules {
			msgs = append(msgs, &nft.NewRule{Family: nft.FamilyINet, Table: n.table, Chain: name, Exprs: r})
		}
	}
	chain(chainSpoof, nft.HookPrerouting, nft.PriorityRaw, antispoofRules(sets)...)
	chain(chainTSpoof, nft.HookPrerouting, nft.PriorityRaw, tunnelSpoofRules(sets)...)
	chain(chainGRE, nft.HookPrerouting, nft.PriorityRaw, greSpoofRules(sets)...)
	chain(chainFlows, nft.HookPrerouting, nft.PriorityMangle, flowRules(sets)...)
	chain(chainDHCP, nft.HookForward, nft.PriorityFilter, dhcpRule(sets))
	return n.conn.Do(msgs...)
}

const (
	reg1   = 1 // NFT_REG_1: 16 bytes, the same memory as NFT_REG32_00..03
	reg32n = 8 // NFT_REG32_00; concatenation field k starts at reg32n+offset/4
	ret    = nft.VerdictReturn
	nfIPv4 = unix.NFPROTO_IPV4
	nfIPv6 = unix.NFPROTO_IPV6
)

func isFamily(f byte) []nft.Expr {
	return []nft.Expr{
		&nft.Meta{Key: nft.MetaNFProto, Reg: reg1},
		&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: []byte{f}},
	}
}

func verdict(code int32) *nft.Verdict { return &nft.Verdict{Code: code} }

// antispoofRules: RFC 5213 6.10.5 and RFC 5844 3.2, a packet from an
// access link is tunnelled only when its source is the sending client's
// own prefix or IPv4 home address. Link-local and unspecified sources
// (RS, DAD NS, DHCPDISCOVER) stay on the link: the kernel never forwards
// them, and the MAG must hear them to detect attachments.
func antispoofRules(sets map[string]*nft.Set) [][]nft.Expr {
	ether := []nft.Expr{
		&nft.Meta{Key: nft.MetaIIFType, Reg: reg1},
		&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: binary.NativeEndian.AppendUint16(nil, arphrdEther)},
		&nft.Payload{Base: nft.BaseLL, Offset: 6, Len: 6, Reg: reg1},
	}
	lookup := func(set string) nft.Expr {
		return &nft.Lookup{Src: reg1, Set: set, SetID: sets[set].ID}
	}
	return [][]nft.Expr{
		{
			&nft.Meta{Key: nft.MetaIIFName, Reg: reg1},
			&nft.Lookup{Src: reg1, Set: setAccess, SetID: sets[setAccess].ID, Invert: true},
			verdict(ret),
		},
		append(isFamily(nfIPv6),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 2, Reg: reg1},
			&nft.Bitwise{Src: reg1, Dst: reg1, Len: 2, Mask: []byte{0xff, 0xc0}, Xor: []byte{0, 0}},
			&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: []byte{0xfe, 0x80}},
			verdict(ret)),
		append(isFamily(nfIPv6),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 16, Reg: reg1},
			&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: make([]byte, 16)},
			verdict(ret)),
		// RFC 5213 6.10.5: the source within the client's own prefix.
		// A /64 prefix: the source's first 64 bits in the hash set,
		// checked first as it holds nearly every client.
		append(append(isFamily(nfIPv6), ether...),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 16, Reg: reg32n + 2},
			mask64(reg32n+2),
			lookup(setSrc6H),
			verdict(ret)),
		append(append(isFamily(nfIPv6), ether...),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 16, Reg: reg32n + 2},
			lookup(setSrc6),
			verdict(ret)),
		append(isFamily(nfIPv4),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 12, Len: 4, Reg: reg1},
			&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: make([]byte, 4)},
			verdict(ret)),
		append(append(isFamily(nfIPv4), ether...),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 12, Len: 4, Reg: reg32n + 2},
			lookup(setSrc4),
			verdict(ret)),
		{&nft.Counter{}, verdict(nft.VerdictDrop)},
	}
}

// dhcpRule drops DHCP messages to a server that would be forwarded from an
// access link. The MAG's collocated DHCP server (RFC 5844 3.4.1) reads
// them from a packet socket, before any hook; but a client's unicast
// DHCPREQUEST (RENEWING, RFC 2131 4.4.5) to its default router comes from
// its home address, so the reverse-tunnel rule (RFC 5213 6.10.3) would
// also send a copy to the LMA.
func dhcpRule(sets map[string]*nft.Set) []nft.Expr {
	return []nft.Expr{
		&nft.Meta{Key: nft.MetaIIFName, Reg: reg1},
		&nft.Lookup{Src: reg1, Set: setAccess, SetID: sets[setAccess].ID},
		&nft.Meta{Key: nft.MetaL4Proto, Reg: reg1},
		&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: []byte{unix.IPPROTO_UDP}},
		&nft.Payload{Base: nft.BaseTransport, Offset: 2, Len: 2, Reg: reg1},
		&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: binary.BigEndian.AppendUint16(nil, 67)},
		&nft.Counter{},
		verdict(nft.VerdictDrop),
	}
}

// flowRules set the packet mark from the flow maps (RFC 7864 flow
// mobility: the mark selects the routing table of the flow's tunnel). A
// packet no selector matches keeps its mark.
func flowRules(sets map[string]*nft.Set) [][]nft.Expr {
	rule := func(fam byte, addrOff, addrLen uint32, m string) []nft.Expr {
		words := addrLen / 4
		return append(isFamily(fam),
			&nft.Payload{Base: nft.BaseNetwork, Offset: addrOff, Len: addrLen, Reg: reg1},
			&nft.Payload{Base: nft.BaseNetwork, Offset: addrOff + addrLen, Len: addrLen, Reg: reg32n + words},
			&nft.Meta{Key: nft.MetaL4Proto, Reg: reg32n + 2*words},
			&nft.Payload{Base: nft.BaseTransport, Offset: 2, Len: 2, Reg: reg32n + 2*words + 1},
			&nft.Lookup{Src: reg1, Dst: reg1, HasDst: true, Set: m, SetID: sets[m].ID},
			&nft.Meta{Key: nft.MetaMark, Reg: reg1, Set: true},
		)
	}
	return [][]nft.Expr{
		rule(nfIPv6, 8, 16, mapFlows6),
		rule(nfIPv4, 12, 4, mapFlows4),
	}
}

// Set element layouts: each field of a concatenation padded to 4 bytes.

func encodeSource(s Source) (string, nft.Element) {
	key := make([]byte, 8, 24)
	copy(key, s.MAC)
	a := s.Prefix.Addr()
	if a.Is4() {
		return setSrc4, nft.Element{Key: append(key, a.AsSlice()...)}
	}
	if hashable(s.Prefix) {
		return setSrc6H, nft.Element{Key: append(key, s.Prefix.Masked().Addr().AsSlice()...)}
	}
	end := append(key[:8:8], lastAddr(s.Prefix).AsSlice()...)
	return setSrc6, nft.Element{Key: append(key, a.AsSlice()...), KeyEnd: end}
}

// decodeSourceIn decodes an element of set. An element in the set that
// encodeSource would not choose for it (a /64 in src6, put there by hand)
// does not decode: Plan could not delete it where it is, so the table is
// taken as stale and rebuilt.
func decodeSourceIn(set string, e nft.Element) (Source, bool) {
	if set != setSrc6H {
		s, ok := decodeSource(e)
		if name, _ := encodeSource(s); ok && name != set {
			return Source{}, false
		}
		return s, ok
	}
	if len(e.Key) != 24 || len(e.KeyEnd) != 0 {
		return Source{}, false
	}
	p, ok := prefix64(e.Key[8:])
	return Source{MAC: net.HardwareAddr(append([]byte(nil), e.Key[:6]...)), Prefix: p}, ok
}

func decodeSource(e nft.Element) (Source, bool) {
	switch len(e.Key) {
	case 12:
		a, _ := netip.AddrFromSlice(e.Key[8:12])
		return Source{MAC: net.HardwareAddr(append([]byte(nil), e.Key[:6]...)), Prefix: netip.PrefixFrom(a, 32)}, true
	case 24:
		if len(e.KeyEnd) != 24 {
			return Source{}, false
		}
		lo, _ := netip.AddrFromSlice(e.Key[8:])
		hi, _ := netip.AddrFromSlice(e.KeyEnd[8:])
		p, ok := rangePrefix(lo, hi)
		return Source{MAC: net.HardwareAddr(append([]byte(nil), e.Key[:6]...)), Prefix: p}, ok
	}
	return Source{}, false
}

func encodeFlow(f Flow) (string, nft.Element) {
	lo := append(f.Src.Addr().AsSlice(), f.Dst.Addr().AsSlice()...)
	hi := append(lastAddr(f.Src).AsSlice(), lastAddr(f.Dst).AsSlice()...)
	pLo, pHi := f.Proto, f.Proto
	if f.Proto == 0 {
		pHi = 0xff
	}
	portLo, portHi := f.DstPortFrom, f.DstPortTo
	if portLo == 0 && portHi == 0 {
		portHi = 0xffff
	}
	lo = append(lo, pLo, 0, 0, 0)
	hi = append(hi, pHi, 0, 0, 0)
	lo = append(binary.BigEndian.AppendUint16(lo, portLo), 0, 0)
	hi = append(binary.BigEndian.AppendUint16(hi, portHi), 0, 0)
	name := mapFlows6
	if f.Src.Addr().Is4() {
		name = mapFlows4
	}
	// The mark is host order, as `meta mark` reads it.
	return name, nft.Element{Key: lo, KeyEnd: hi, Data: binary.NativeEndian.AppendUint32(nil, f.Mark)}
}

func decodeFlow(e nft.Element, six bool) (Flow, bool) {
	n := 4
	if six {
		n = 16
	}
	if len(e.Key) != 2*n+8 || len(e.KeyEnd) != len(e.Key) || len(e.Data) != 4 {
		return Flow{}, false
	}
	var f Flow
	var ok1, ok2 bool
	addr := func(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a }
	f.Src, ok1 = rangePrefix(addr(e.Key[:n]), addr(e.KeyEnd[:n]))
	f.Dst, ok2 = rangePrefix(addr(e.Key[n:2*n]), addr(e.KeyEnd[n:2*n]))
	pLo, pHi := e.Key[2*n], e.KeyEnd[2*n]
	if !(pLo == pHi || (pLo == 0 && pHi == 0xff)) {
		return Flow{}, false
	}
	if pLo == pHi {
		f.Proto = pLo
	}
	f.DstPortFrom = binary.BigEndian.Uint16(e.Key[2*n+4:])
	f.DstPortTo = binary.BigEndian.Uint16(e.KeyEnd[2*n+4:])
	if f.DstPortFrom == 0 && f.DstPortTo == 0xffff {
		f.DstPortFrom, f.DstPortTo = 0, 0
	}
	f.Mark = binary.NativeEndian.Uint32(e.Data)
	return f, ok1 && ok2
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// rangePrefix is the prefix whose first and last addresses are lo and hi,
// if there is one.
func rangePrefix(lo, hi netip.Addr) (netip.Prefix, bool) {
	if !lo.IsValid() || lo.BitLen() != hi.BitLen() {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= lo.BitLen(); bits++ {
		p := netip.PrefixFrom(lo, bits)
		if p.Masked().Addr() == lo && lastAddr(p) == hi {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
