package dataplane

import (
	"encoding/binary"
	"net/netip"

	"github.com/openpmip/pmip/internal/nft"
)

// The LMA's check of keyed GRE before decapsulation (see [GRESource]):
//
//	set grepeer6 { type ipv6_addr }
//	set grepeer4 { type ipv4_addr }
//	set gsrc66h { type ipv6_addr . integer . ipv6_addr }                 outer v6, inner v6 /64
//	set gsrc66 { type ipv6_addr . integer . ipv6_addr; flags interval }  outer v6, inner v6 other
//	set gsrc64 { type ipv6_addr . integer . ipv4_addr }                  outer v6, inner v4
//	set gsrc46h { type ipv4_addr . integer . ipv6_addr }                 outer v4, inner v6 /64
//	set gsrc46 { type ipv4_addr . integer . ipv6_addr; flags interval }  outer v4, inner v6 other
//	set gsrc44 { type ipv4_addr . integer . ipv4_addr }                  outer v4, inner v4
//	chain grespoof1 {
//	  type filter hook prerouting priority raw; policy accept;
//	  meta l4proto != gre return
//	  meta nfproto ipv6 ip6 saddr != @grepeer6 return
//	  meta nfproto ipv4 ip saddr != @grepeer4 return
//	  @th,0,16 != 0x2000 counter drop            only K: no checksum, no sequence (RFC 2890)
//	  @th,16,16 0x86dd @th,128,10 fe80::/10 return      inner link-local
//	  meta nfproto ipv6 @th,16,16 0x86dd ip6 saddr . @th,32,32 . (@th,128,128 & /64) @gsrc66h return
//	  meta nfproto ipv6 @th,16,16 0x86dd ip6 saddr . @th,32,32 . @th,128,128 @gsrc66 return
//	  meta nfproto ipv6 @th,16,16 0x0800 ip6 saddr . @th,32,32 . @th,160,32 @gsrc64 return
//	  meta nfproto ipv4 @th,16,16 0x86dd ip saddr . @th,32,32 . (@th,128,128 & /64) @gsrc46h return
//	  meta nfproto ipv4 @th,16,16 0x86dd ip saddr . @th,32,32 . @th,128,128 @gsrc46 return
//	  meta nfproto ipv4 @th,16,16 0x0800 ip saddr . @th,32,32 . @th,160,32 @gsrc44 return
//	  @th,0,8 counter drop
//	}
//
// The GRE header with only the key present is 8 octets (RFC 2890 2: flags
// and version, protocol type, key), so the inner IPv6 source is at
// transport offset 8+8 and the inner IPv4 source at 8+12. Every drop rule
// loads from the transport header: for a non-first fragment the kernel
// has none (the load breaks the rule), so such fragments pass here and
// the first fragment, which holds the headers, decides; without it the
// packet never reassembles. Inner /64 prefixes go to hash sets, as for
// tsrc6h (nft_tunnel_linux.go).
const (
	setGREPeer6 = "grepeer6"
	setGREPeer4 = "grepeer4"
	setGSrc66H  = "gsrc66h"
	setGSrc46H  = "gsrc46h"
	setGSrc66   = "gsrc66"
	setGSrc64   = "gsrc64"
	setGSrc46   = "gsrc46"
	setGSrc44   = "gsrc44"
	chainGRE    = "grespoof1"

	ipprotoGRE = 47
	greFlagK   = 0x2000 // RFC 2890 2: Key Present, version 0
	ethIPv6    = 0x86dd
	ethIPv4    = 0x0800
)

var greSetNames = []string{setGREPeer6, setGREPeer4, setGSrc66H, setGSrc66, setGSrc64, setGSrc46H, setGSrc46, setGSrc44}

func greSets(t string) map[string]*nft.Set {
	set := func(name string, flags uint32, key ...nft.Datatype) *nft.Set {
		return &nft.Set{Family: nft.FamilyINet, Table: t, Name: name, Flags: flags, Key: key}
	}
	v6, v4, key := nft.TypeIP6Addr, nft.TypeIPAddr, nft.TypeInteger
	return map[string]*nft.Set{
		setGREPeer6: set(setGREPeer6, 0, v6),
		setGREPeer4: set(setGREPeer4, 0, v4),
		setGSrc66H:  set(setGSrc66H, 0, v6, key, v6),
		setGSrc66:   set(setGSrc66, nft.SetInterval, v6, key, v6),
		setGSrc46H:  set(setGSrc46H, 0, v4, key, v6),
		setGSrc64:   set(setGSrc64, 0, v6, key, v4),
		setGSrc46:   set(setGSrc46, nft.SetInterval, v4, key, v6),
		setGSrc44:   set(setGSrc44, 0, v4, key, v4),
	}
}

// greSpoofRules: RFC 5213 5.6.2 and RFC 5845 3, a keyed GRE packet from a
// MAG carries the uplink key of a session of that MAG and, inside, a home
// address of that session.
func greSpoofRules(sets map[string]*nft.Set) [][]nft.Expr {
	th := func(off, n, reg uint32) *nft.Payload {
		return &nft.Payload{Base: nft.BaseTransport, Offset: off, Len: n, Reg: reg}
	}
	outer := func(fam byte) *nft.Payload {
		if fam == nfIPv6 {
			return &nft.Payload{Base: nft.BaseNetwork, Offset: 8, Len: 16, Reg: reg1}
		}
		return &nft.Payload{Base: nft.BaseNetwork, Offset: 12, Len: 4, Reg: reg1}
	}
	peer := func(fam byte, set string) []nft.Expr {
		return append(isFamily(fam),
			outer(fam),
			&nft.Lookup{Src: reg1, Set: set, SetID: sets[set].ID, Invert: true},
			verdict(ret))
	}
	proto := func(p uint16) []nft.Expr {
		return []nft.Expr{th(2, 2, reg1), &nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: binary.BigEndian.AppendUint16(nil, p)}}
	}
	// check looks (outer source . key . inner source) up in set.
	check := func(fam byte, inner uint16, set string, hashed bool) []nft.Expr {
		words := uint32(4) // outer address, in 4-byte registers
		if fam == nfIPv4 {
			words = 1
		}
		r := append(isFamily(fam), proto(inner)...)
		r = append(r, outer(fam), th(4, 4, reg32n+words))
		if inner == ethIPv6 {
			r = append(r, th(16, 16, reg32n+words+1))
			if hashed {
				r = append(r, mask64(reg32n+words+1))
			}
		} else {
			r = append(r, th(20, 4, reg32n+words+1))
		}
		return append(r, &nft.Lookup{Src: reg1, Set: set, SetID: sets[set].ID}, verdict(ret))
	}
	return [][]nft.Expr{
		{
			&nft.Meta{Key: nft.MetaL4Proto, Reg: reg1},
			&nft.Cmp{Op: nft.CmpNeq, Reg: reg1, Data: []byte{ipprotoGRE}},
			verdict(ret),
		},
		peer(nfIPv6, setGREPeer6),
		peer(nfIPv4, setGREPeer4),
		{
			th(0, 2, reg1),
			&nft.Cmp{Op: nft.CmpNeq, Reg: reg1, Data: binary.BigEndian.AppendUint16(nil, greFlagK)},
			&nft.Counter{},
			verdict(nft.VerdictDrop),
		},
		append(proto(ethIPv6),
			th(16, 2, reg1),
			&nft.Bitwise{Src: reg1, Dst: reg1, Len: 2, Mask: []byte{0xff, 0xc0}, Xor: []byte{0, 0}},
			&nft.Cmp{Op: nft.CmpEq, Reg: reg1, Data: []byte{0xfe, 0x80}},
			verdict(ret)),
		check(nfIPv6, ethIPv6, setGSrc66H, true),
		check(nfIPv6, ethIPv6, setGSrc66, false),
		check(nfIPv6, ethIPv4, setGSrc64, false),
		check(nfIPv4, ethIPv6, setGSrc46H, true),
		check(nfIPv4, ethIPv6, setGSrc46, false),
		check(nfIPv4, ethIPv4, setGSrc44, false),
		{th(0, 1, reg1), &nft.Counter{}, verdict(nft.VerdictDrop)},
	}
}

func encodeGREPeer(p GREPeer) (string, nft.Element) {
	a := netip.Addr(p)
	if a.Is4() {
		return setGREPeer4, nft.Element{Key: a.AsSlice()}
	}
	return setGREPeer6, nft.Element{Key: a.AsSlice()}
}

func decodeGREPeer(e nft.Element) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(e.Key)
	return a, ok && (len(e.Key) == 4 || len(e.Key) == 16)
}

func encodeGRESource(s GRESource) (string, nft.Element) {
	key := binary.BigEndian.AppendUint32(s.Peer.AsSlice(), s.Key)
	n := len(key)
	inner := s.Prefix.Addr()
	var set string
	switch {
	case s.Peer.Is6() && hashable(s.Prefix):
		set = setGSrc66H
	case s.Peer.Is4() && hashable(s.Prefix):
		set = setGSrc46H
	case s.Peer.Is6() && inner.Is6():
		set = setGSrc66
	case s.Peer.Is6():
		set = setGSrc64
	case inner.Is6():
		set = setGSrc46
	default:
		set = setGSrc44
	}
	e := nft.Element{Key: append(key, inner.AsSlice()...)}
	if inner.Is6() && !hashable(s.Prefix) {
		e.KeyEnd = append(key[:n:n], lastAddr(s.Prefix).AsSlice()...)
	}
	return set, e
}

func decodeGRESource(set string, e nft.Element) (GRESource, bool) {
	outer := 16
	if set == setGSrc46 || set == setGSrc44 || set == setGSrc46H {
		outer = 4
	}
	inner := 16
	if set == setGSrc64 || set == setGSrc44 {
		inner = 4
	}
	if len(e.Key) != outer+4+inner {
		return GRESource{}, false
	}
	peer, _ := netip.AddrFromSlice(e.Key[:outer])
	s := GRESource{Peer: peer, Key: binary.BigEndian.Uint32(e.Key[outer : outer+4])}
	lo, _ := netip.AddrFromSlice(e.Key[outer+4:])
	if set == setGSrc66H || set == setGSrc46H {
		p, ok := prefix64(e.Key[outer+4:])
		s.Prefix = p
		return s, ok && len(e.KeyEnd) == 0
	}
	if inner == 4 {
		s.Prefix = netip.PrefixFrom(lo, 32)
		return s, true
	}
	if len(e.KeyEnd) != len(e.Key) || string(e.KeyEnd[:outer+4]) != string(e.Key[:outer+4]) {
		return GRESource{}, false
	}
	hi, _ := netip.AddrFromSlice(e.KeyEnd[outer+4:])
	p, ok := rangePrefix(lo, hi)
	s.Prefix = p
	return s, ok
}

// dumpGRE reads the GRE sets into f; false means a layout we do not know.
func (n *nftKernel) dumpGRE(f *Filter) (bool, error) {
	for _, name := range []string{setGREPeer6, setGREPeer4} {
		es, err := n.conn.Elements(nft.FamilyINet, n.table, name)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			a, ok := decodeGREPeer(e)
			if !ok {
				return false, nil
			}
			f.GREPeers = append(f.GREPeers, a)
		}
	}
	for _, name := range []string{setGSrc66H, setGSrc66, setGSrc64, setGSrc46H, setGSrc46, setGSrc44} {
		es, err := n.conn.Elements(nft.FamilyINet, n.table, name)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			s, ok := decodeGRESource(name, e)
			if !ok {
				return false, nil
			}
			f.GRESources = append(f.GRESources, s)
		}
	}
	return true, nil
}
