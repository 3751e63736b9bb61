package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Our own codecs for route, rule and address messages: jsimonetti/rtnetlink
// has no RTA_ENCAP on plain routes, no IFA_PROTO, and fails a whole rule
// dump on an attribute newer than itself. Header fields are host order
// (binary.NativeEndian), addresses and tunnel ids network order.

const (
	ifaProto        = 11     // IFA_PROTO, Linux 6.1+
	lwtIPID         = 1      // LWTUNNEL_IP_ID and LWTUNNEL_IP6_ID: be64
	lwtIPDst        = 2      // in_addr / in6_addr
	lwtIPSrc        = 3      // in_addr / in6_addr
	lwtIPTTL        = 4      // u8 (LWTUNNEL_IP6_HOPLIMIT)
	lwtIPFlags      = 6      // be16 TUNNEL_* flags
	tunnelKeyFlag   = 0x0004 // TUNNEL_KEY, network order
	sizeofRtMsg     = 12
	sizeofIfAddrMsg = 8
	sizeofIfInfoMsg = 16
	sizeofRuleHdr   = 12
)

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// encodeRoute is an rtmsg for RTM_NEWROUTE/RTM_DELROUTE; oif 0 omits the
// device (a delete by key).
func encodeRoute(r Route, oif uint32, proto uint8) ([]byte, error) {
	b := make([]byte, sizeofRtMsg)
	b[0] = family(r.Dst.Addr())
	b[1] = uint8(r.Dst.Bits())
	if r.Table < 256 {
		b[4] = uint8(r.Table)
	} else {
		b[4] = unix.RT_TABLE_UNSPEC
	}
	b[5] = proto
	b[6] = unix.RT_SCOPE_UNIVERSE
	if r.Dst.Addr().Is4() && !r.Gateway.IsValid() {
		b[6] = unix.RT_SCOPE_LINK // on-link or into a tunnel, as `ip route` does
	}
	b[7] = unix.RTN_UNICAST
	ae := netlink.NewAttributeEncoder()
	if r.Dst.Bits() > 0 {
		ae.Bytes(unix.RTA_DST, r.Dst.Addr().AsSlice())
	}
	ae.Uint32(unix.RTA_TABLE, r.Table)
	ae.Uint32(unix.RTA_PRIORITY, r.Metric)
	if oif != 0 {
		ae.Uint32(unix.RTA_OIF, oif)
	}
	if r.Gateway.IsValid() {
		ae.Bytes(unix.RTA_GATEWAY, r.Gateway.AsSlice())
	}
	if e := r.Encap; e.IsSet() && oif != 0 {
		typ := uint16(unix.LWTUNNEL_ENCAP_IP)
		if e.Dst.Is6() {
			typ = unix.LWTUNNEL_ENCAP_IP6
		}
		ae.Uint16(unix.RTA_ENCAP_TYPE, typ)
		ae.Nested(unix.RTA_ENCAP, func(nae *netlink.AttributeEncoder) error {
			// RFC 5845 3: the GRE key of the mobility session; for GRE
			// the kernel's tunnel id is the key as a big-endian number.
			nae.Bytes(lwtIPID, binary.BigEndian.AppendUint64(nil, uint64(e.Key)))
			nae.Bytes(lwtIPDst, e.Dst.AsSlice())
			if e.Src.IsValid() {
				nae.Bytes(lwtIPSrc, e.Src.AsSlice())
			}
			nae.Uint8(lwtIPTTL, e.HopLimit)
			var flags uint16
			if e.Keyed {
				flags |= tunnelKeyFlag // without it no key field is sent
			}
			nae.Bytes(lwtIPFlags, binary.BigEndian.AppendUint16(nil, flags))
			return nil
		})
	}
	a, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append(b, a...), nil
}

// decodedRoute is a route from a dump, with what tells ours from others'.
type decodedRoute struct {
	Route
	oif      uint32
	protocol uint8
	typ      uint8
	cloned   bool
}

func decodeRoute(b []byte) (decodedRoute, error) {
	var d decodedRoute
	if len(b) < sizeofRtMsg {
		return d, errShortMessage
	}
	fam, dstLen := b[0], int(b[1])
	d.Table = uint32(b[4])
	d.protocol, d.typ = b[5], b[7]
	d.cloned = binary.NativeEndian.Uint32(b[8:12])&unix.RTM_F_CLONED != 0
	dst := zeroAddr(fam)
	ad, err := netlink.NewAttributeDecoder(b[sizeofRtMsg:])
	if err != nil {
		return d, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.RTA_DST:
			dst = addrOf(ad.Bytes())
		case unix.RTA_TABLE:
			d.Table = ad.Uint32()
		case unix.RTA_PRIORITY:
			d.Metric = ad.Uint32()
		case unix.RTA_OIF:
			d.oif = ad.Uint32()
		case unix.RTA_GATEWAY:
			d.Gateway = addrOf(ad.Bytes())
		case unix.RTA_ENCAP:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case lwtIPID:
						if v := nad.Bytes(); len(v) == 8 {
							d.Encap.Key = uint32(binary.BigEndian.Uint64(v))
						}
					case lwtIPDst:
						d.Encap.Dst = addrOf(nad.Bytes())
					case lwtIPSrc:
						d.Encap.Src = addrOf(nad.Bytes())
					case lwtIPTTL:
						d.Encap.HopLimit = nad.Uint8()
					case lwtIPFlags:
						d.Encap.Keyed = be16(nad.Bytes())&tunnelKeyFlag != 0
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return d, err
	}
	if !dst.IsValid() {
		return d, fmt.Errorf("dataplane: route of family %d without a valid destination", fam)
	}
	d.Dst = netip.PrefixFrom(dst, dstLen)
	if !d.Encap.Keyed {
		d.Encap.Key = 0
	}
	if d.Encap.Src.IsValid() && d.Encap.Src.IsUnspecified() {
		d.Encap.Src = netip.Addr{}
	}
	return d, nil
}

// encodeRule is a fib_rule_hdr for RTM_NEWRULE/RTM_DELRULE.
func encodeRule(r Rule, proto uint8) ([]byte, error) {
	b := make([]byte, sizeofRuleHdr)
	b[0] = family(r.Src.Addr())
	b[2] = uint8(r.Src.Bits())
	if r.Table < 256 {
		b[4] = uint8(r.Table)
	}
	b[7] = unix.FR_ACT_TO_TBL
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.FRA_PRIORITY, r.Priority)
	if r.Src.Bits() > 0 {
		ae.Bytes(unix.FRA_SRC, r.Src.Addr().AsSlice())
	}
	if r.IIf != "" {
		ae.String(unix.FRA_IIFNAME, r.IIf)
	}
	if r.Mask != 0 {
		ae.Uint32(unix.FRA_FWMARK, r.Mark)
		ae.Uint32(unix.FRA_FWMASK, r.Mask)
	}
	ae.Uint32(unix.FRA_TABLE, r.Table)
	ae.Uint8(unix.FRA_PROTOCOL, proto)
	a, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append(b, a...), nil
}

type decodedRule struct {
	Rule
	protocol uint8
	action   uint8
	other    bool // matches on something we never set (dst, oif, ...)
}

func decodeRule(b []byte) (decodedRule, error) {
	var d decodedRule
	if len(b) < sizeofRuleHdr {
		return d, errShortMessage
	}
	fam, srcLen := b[0], int(b[2])
	d.other = b[1] != 0 || b[3] != 0 // dst_len, tos
	d.Table = uint32(b[4])
	d.action = b[7]
	src := zeroAddr(fam)
	ad, err := netlink.NewAttributeDecoder(b[sizeofRuleHdr:])
	if err != nil {
		return d, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.FRA_PRIORITY:
			d.Priority = ad.Uint32()
		case unix.FRA_SRC:
			src = addrOf(ad.Bytes())
		case unix.FRA_IIFNAME:
			d.IIf = ad.String()
		case unix.FRA_FWMARK:
			d.Mark = ad.Uint32()
		case unix.FRA_FWMASK:
			d.Mask = ad.Uint32()
		case unix.FRA_TABLE:
			d.Table = ad.Uint32()
		case unix.FRA_PROTOCOL:
			d.protocol = ad.Uint8()
		case unix.FRA_DST, unix.FRA_OIFNAME, unix.FRA_GOTO, unix.FRA_UID_RANGE,
			unix.FRA_IP_PROTO, unix.FRA_SPORT_RANGE, unix.FRA_DPORT_RANGE, unix.FRA_TUN_ID:
			d.other = true
		}
	}
	if err := ad.Err(); err != nil {
		return d, err
	}
	if !src.IsValid() {
		return d, fmt.Errorf("dataplane: rule of family %d without a valid source", fam)
	}
	d.Src = netip.PrefixFrom(src, srcLen)
	if d.Mask == 0 {
		d.Mark = 0
	}
	return d, nil
}

// encodeAddress is an ifaddrmsg for RTM_NEWADDR/RTM_DELADDR.
func encodeAddress(a Address, index uint32, proto uint8) ([]byte, error) {
	b := make([]byte, sizeofIfAddrMsg)
	ip := a.Prefix.Addr()
	b[0] = family(ip)
	b[1] = uint8(a.Prefix.Bits())
	var flags uint32
	if a.NoDAD {
		flags |= unix.IFA_F_NODAD
	}
	if a.NoPrefixRoute {
		flags |= unix.IFA_F_NOPREFIXROUTE
	}
	b[2] = uint8(flags)
	b[3] = unix.RT_SCOPE_UNIVERSE
	if ip.IsLinkLocalUnicast() {
		b[3] = unix.RT_SCOPE_LINK
	}
	binary.NativeEndian.PutUint32(b[4:8], index)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, ip.AsSlice())
	ae.Bytes(unix.IFA_ADDRESS, ip.AsSlice())
	ae.Uint32(unix.IFA_FLAGS, flags)
	// Linux 6.1+ keeps it and reports it in dumps: how we recognise our
	// addresses after a restart. Older kernels ignore it.
	ae.Uint8(ifaProto, proto)
	a2, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append(b, a2...), nil
}

type decodedAddress struct {
	Address
	index    uint32
	protocol uint8
	hasProto bool // the kernel reported IFA_PROTO
}

func decodeAddress(b []byte) (decodedAddress, error) {
	var d decodedAddress
	if len(b) < sizeofIfAddrMsg {
		return d, errShortMessage
	}
	bits := int(b[1])
	flags := uint32(b[2])
	d.index = binary.NativeEndian.Uint32(b[4:8])
	var local, address netip.Addr
	ad, err := netlink.NewAttributeDecoder(b[sizeofIfAddrMsg:])
	if err != nil {
		return d, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFA_LOCAL:
			local = addrOf(ad.Bytes())
		case unix.IFA_ADDRESS:
			address = addrOf(ad.Bytes())
		case unix.IFA_FLAGS:
			flags = ad.Uint32()
		case ifaProto:
			d.protocol, d.hasProto = ad.Uint8(), true
		}
	}
	if err := ad.Err(); err != nil {
		return d, err
	}
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() {
		return d, fmt.Errorf("dataplane: address message without an address")
	}
	d.Prefix = netip.PrefixFrom(ip, bits)
	d.NoDAD = flags&unix.IFA_F_NODAD != 0
	d.NoPrefixRoute = flags&unix.IFA_F_NOPREFIXROUTE != 0
	return d, nil
}

// decodedLink is the part of RTM_NEWLINK we read.
type decodedLink struct {
	index uint32
	name  string
	mtu   uint32
	kind  string
	data  []byte // IFLA_INFO_DATA, nested attributes
}

func decodeLink(b []byte) (decodedLink, error) {
	var d decodedLink
	if len(b) < sizeofIfInfoMsg {
		return d, errShortMessage
	}
	d.index = binary.NativeEndian.Uint32(b[4:8])
	ad, err := netlink.NewAttributeDecoder(b[sizeofIfInfoMsg:])
	if err != nil {
		return d, err
	}
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			d.name = ad.String()
		case unix.IFLA_MTU:
			d.mtu = ad.Uint32()
		case unix.IFLA_LINKINFO:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case unix.IFLA_INFO_KIND:
						d.kind = nad.String()
					case unix.IFLA_INFO_DATA:
						d.data = nad.Bytes()
					}
				}
				return nil
			})
		}
	}
	return d, ad.Err()
}

// tunnel decodes the link as one of our tunnels.
func (l decodedLink) tunnel() (Tunnel, error) {
	kind, _ := kindByName(l.kind)
	d := &tunnelDriver{kind: kind}
	if len(l.data) > 0 {
		ad, err := netlink.NewAttributeDecoder(l.data)
		if err != nil {
			return Tunnel{}, err
		}
		if err := d.Decode(ad); err != nil {
			return Tunnel{}, err
		}
	}
	t := d.tunnel()
	t.Name, t.MTU = l.name, l.mtu
	return t, nil
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

func zeroAddr(fam uint8) netip.Addr {
	switch fam {
	case unix.AF_INET:
		return netip.IPv4Unspecified()
	case unix.AF_INET6:
		return netip.IPv6Unspecified()
	}
	return netip.Addr{}
}
