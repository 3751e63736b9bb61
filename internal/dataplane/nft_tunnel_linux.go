package dataplane

import (
	"net/netip"

	"github.com/openpmip/pmip/internal/nft"
)

// The LMA's part of the table (see [TunnelSource]):
//
//	set tunnels { type ifname }
//	set tsrc6h { type ifname . ipv6_addr }                  /64 home prefixes
//	set tsrc6 { type ifname . ipv6_addr; flags interval }   any other length
//	set tsrc4 { type ifname . ipv4_addr }
//	chain tunspoof1 {
//	  type filter hook prerouting priority raw; policy accept;
//	  iifname != @tunnels return
//	  ip6 saddr fe80::/10 return
//	  iifname . ip6 saddr & ffff:ffff:ffff:ffff:: @tsrc6h return
//	  iifname . ip6 saddr @tsrc6 return
//	  iifname . ip saddr @tsrc4 return
//	  counter drop
//	}
//
// Home network prefixes of length 64, the common case by far, go to a
// hash set: the kernel's interval sets of concatenations (pipapo) copy
// their whole lookup table at every transaction and rework it at every
// insertion, which measured superlinear (6,000 elements 0.7 s, 24,000
// 6.5 s; a million would take hours), while a hash set takes an element
// in O(1) whatever its size.
const (
	setTunnels  = "tunnels"
	setTSrc6H   = "tsrc6h"
	setTSrc6    = "tsrc6"
	setTSrc4    = "tsrc4"
	chainTSpoof = "tunspoof1"
)

func tunnelSets(t string) map[string]*nft.Set {
	set := func(name string, flags uint32, key ...nft.Datatype) *nft.Set {
		return &nft.Set{Family: nft.FamilyINet, Table: t, Name: name, Flags: flags, Key: key}
	}
	return map[string]*nft.Set{
		setTunnels: set(setTunnels, 0, nft.TypeIfName),
		setTSrc6H:  set(setTSrc6H, 0, nft.TypeIfName, nft.TypeIP6Addr),
		setTSrc6:   set(setTSrc6, nft.SetInterval, nft.TypeIfName, nft.TypeIP6Addr),
		setTSrc4:   set(setTSrc4, 0, nft.TypeIfName, nft.TypeIPAddr),
	}
}

// tunnelSpoofRules: RFC 5213 5.6.1 and RFC 5844 3.1.3, what the LMA
// routes from a MAG's tunnel has the home address of a session of that
// MAG as its source. Link-local sources (the tunnel's own neighbour and
// router traffic) are never forwarded and stay allowed.
func tunnelSpoofRules(sets map[string]*nft.Set) [][]nft.Expr {
	iif := &nft.Meta{Key: nft.MetaIIFName, Reg: reg1}
	lookup := func(set string) nft.Expr {
		return &nft.Lookup{Src: reg1, Set: set, SetID: sets[set].ID}
	}
	// The source address goes right after the 16-byte interface name.
	const afterName = reg32n + ifNameSize/4
	return [][]nft.Expr{
		{
			iif,
			&nft.Lookup{Src: reg1, Set: setTunnels, SetID: sets[setTunnels].ID, Invert: true},
			verdict(ret),
		},
		append(isFamily(nfIPv6),
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 2, Reg: reg1},
			&nft.Bitwise{Src: reg1, Dst: reg1, Len: 2, Mask: []byte{0xff, 0xc0}, Xor: []byte{0, 0}},
			&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: []byte{0xfe, 0x80}},
			verdict(ret)),
		append(isFamily(nfIPv6),
			iif,
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 16, Reg: afterName},
			mask64(afterName),
			lookup(setTSrc6H),
			verdict(ret)),
		append(isFamily(nfIPv6),
			iif,
			&nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 16, Reg: afterName},
			lookup(setTSrc6),
			verdict(ret)),
		append(isFamily(nfIPv4),
			iif,
			&nft.Payload{Base: nft.BaseNetwork, Offset: 12, Len: 4, Reg: afterName},
			lookup(setTSrc4),
			verdict(ret)),
		{&nft.Counter{}, verdict(nft.VerdictDrop)},
	}
}

// mask64 keeps the first 64 bits of the IPv6 address in register reg (a
// /64 home network prefix's network part).
func mask64(reg uint32) *nft.Bitwise {
	m := make([]byte, 16)
	for i := range 8 {
		m[i] = 0xff
	}
	return &nft.Bitwise{Src: reg, Dst: reg, Len: 16, Mask: m, Xor: make([]byte, 16)}
}

// hashable reports whether a prefix goes to a /64 hash set.
func hashable(p netip.Prefix) bool { return p.Addr().Is6() && p.Bits() == 64 }

// prefix64 decodes the network of a /64 hash set element.
func prefix64(b []byte) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(b)
	if !ok || !a.Is6() {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(a, 64)
	return p, p.Masked() == p
}

func ifNameKey(name string) []byte {
	key := make([]byte, ifNameSize, ifNameSize+16)
	copy(key, name)
	return key
}

func encodeTunnelSource(s TunnelSource) (string, nft.Element) {
	key := ifNameKey(s.Dev)
	a := s.Prefix.Addr()
	if a.Is4() {
		return setTSrc4, nft.Element{Key: append(key, a.AsSlice()...)}
	}
	if hashable(s.Prefix) {
		return setTSrc6H, nft.Element{Key: append(key, a.AsSlice()...)}
	}
	end := append(ifNameKey(s.Dev), lastAddr(s.Prefix).AsSlice()...)
	return setTSrc6, nft.Element{Key: append(key, a.AsSlice()...), KeyEnd: end}
}

// decodeTunnelSourceIn decodes an element of set.
func decodeTunnelSourceIn(set string, e nft.Element) (TunnelSource, bool) {
	if set != setTSrc6H {
		return decodeTunnelSource(e)
	}
	if len(e.Key) != ifNameSize+16 || len(e.KeyEnd) != 0 {
		return TunnelSource{}, false
	}
	p, ok := prefix64(e.Key[ifNameSize:])
	return TunnelSource{Dev: string(trimNUL(e.Key[:ifNameSize])), Prefix: p}, ok
}

func decodeTunnelSource(e nft.Element) (TunnelSource, bool) {
	if len(e.Key) < ifNameSize {
		return TunnelSource{}, false
	}
	dev := string(trimNUL(e.Key[:ifNameSize]))
	switch len(e.Key) {
	case ifNameSize + 4:
		a, _ := netip.AddrFromSlice(e.Key[ifNameSize:])
		return TunnelSource{Dev: dev, Prefix: netip.PrefixFrom(a, 32)}, true
	case ifNameSize + 16:
		if len(e.KeyEnd) != ifNameSize+16 || string(trimNUL(e.KeyEnd[:ifNameSize])) != dev {
			return TunnelSource{}, false
		}
		lo, _ := netip.AddrFromSlice(e.Key[ifNameSize:])
		hi, _ := netip.AddrFromSlice(e.KeyEnd[ifNameSize:])
		p, ok := rangePrefix(lo, hi)
		return TunnelSource{Dev: dev, Prefix: p}, ok
	}
	return TunnelSource{}, false
}
