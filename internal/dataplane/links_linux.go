package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// IFLA_INFO_DATA attributes of the tunnel drivers, from the kernel's
// include/uapi/linux/if_tunnel.h; jsimonetti/rtnetlink has no driver for
// them. Values are host order unless the comment says network order.
const (
	iflaIPTunLink         = 1
	iflaIPTunLocal        = 2 // in_addr or in6_addr
	iflaIPTunRemote       = 3
	iflaIPTunTTL          = 4 // u8
	iflaIPTunEncapLimit   = 6 // u8 (ip6tnl)
	iflaIPTunFlags        = 8 // u32 for ip6tnl, u16 for sit
	iflaIPTunProto        = 9 // u8
	iflaIPTunPMTUDisc     = 10
	iflaIPTunCollectMD    = 19 // flag
	iflaGRELink           = 1
	iflaGREIFlags         = 2 // be16
	iflaGREOFlags         = 3 // be16
	iflaGREIKey           = 4 // be32
	iflaGREOKey           = 5 // be32
	iflaGRELocal          = 6
	iflaGRERemote         = 7
	iflaGRETTL            = 8      // u8
	iflaGREPMTUDisc       = 10     // u8
	iflaGREEncapLimit     = 11     // u8 (ip6gre)
	iflaGREFlags          = 13     // u32 (ip6gre: ip6_tnl flags)
	iflaGRECollectMD      = 18     // flag
	greKeyFlag            = 0x2000 // GRE_KEY in i/o_flags, network order (RFC 2890 2)
	ip6TnlIgnEncapLimit   = 0x1    // IP6_TNL_F_IGN_ENCAP_LIMIT
	ipTunProtoAny         = 0      // "mode any": IPv6 and IPv4 payloads
	defaultTunnelHopLimit = 64
)

// tunnelDriver is an [rtnetlink.LinkDriver] for our four tunnel kinds. One
// type serves them all because their attributes differ only in numbering
// and address size; Kind says which set is written.
type tunnelDriver struct {
	kind TunnelKind
	t    Tunnel
	// ignEncapLimit and proto are what the kernel reported, so a device
	// configured differently from ours (an encapsulation limit option, a
	// single payload protocol) is not mistaken for ours.
	ignEncapLimit bool
	proto         uint8
	hasProto      bool
}

var _ rtnetlink.LinkDriver = (*tunnelDriver)(nil)

func newTunnelDriver(t Tunnel) *tunnelDriver {
	return &tunnelDriver{kind: t.Kind, t: normTunnel(t), ignEncapLimit: true}
}

// New implements [rtnetlink.LinkDriver].
func (d *tunnelDriver) New() rtnetlink.LinkDriver { return &tunnelDriver{kind: d.kind} }

// Kind implements [rtnetlink.LinkDriver].
func (d *tunnelDriver) Kind() string { return d.kind.String() }

// Encode implements [rtnetlink.LinkDriver]: the IFLA_INFO_DATA of the
// tunnel, as `ip link add NAME type KIND ...` would write it.
func (d *tunnelDriver) Encode(ae *netlink.AttributeEncoder) error {
	t := d.t
	if t.External {
		// A flow-based device takes endpoints and key from each packet's
		// metadata (the route's Encap).
		if d.kind.gre() {
			ae.Flag(iflaGRECollectMD, true)
		} else {
			ae.Flag(iflaIPTunCollectMD, true)
		}
		return nil
	}
	local, remote := t.Local.AsSlice(), t.Remote.AsSlice()
	switch d.kind {
	case IP6:
		ae.Bytes(iflaIPTunLocal, local)
		ae.Bytes(iflaIPTunRemote, remote)
		ae.Uint8(iflaIPTunTTL, t.HopLimit)
		// RFC 2473 4.1.1: the Tunnel Encapsulation Limit option is
		// optional; without it the tunnel MTU is 8 bytes larger and no
		// middlebox sees a destination option.
		ae.Uint32(iflaIPTunFlags, ip6TnlIgnEncapLimit)
		// RFC 5844 3: one tunnel carries the client's IPv6 and IPv4
		// traffic: proto 0 accepts IPv6-in-IPv6 and IPv4-in-IPv6.
		ae.Uint8(iflaIPTunProto, ipTunProtoAny)
	case IP4:
		ae.Bytes(iflaIPTunLocal, local)
		ae.Bytes(iflaIPTunRemote, remote)
		ae.Uint8(iflaIPTunTTL, t.HopLimit)
		// RFC 5844 4: over an IPv4 transport the same tunnel carries
		// IPv6-in-IPv4 and IPv4-in-IPv4 (sit "mode any").
		ae.Uint8(iflaIPTunProto, ipTunProtoAny)
		ae.Uint8(iflaIPTunPMTUDisc, 1)
	case IP6GRE, IP4GRE:
		ae.Bytes(iflaGRELocal, local)
		ae.Bytes(iflaGRERemote, remote)
		ae.Uint8(iflaGRETTL, t.HopLimit)
		if d.kind == IP6GRE {
			ae.Uint32(iflaGREFlags, ip6TnlIgnEncapLimit)
		} else {
			ae.Uint8(iflaGREPMTUDisc, 1)
		}
		var flags uint16
		if t.Keyed {
			// RFC 5845 3 / RFC 2890 2.1: the key field is present and
			// identifies the session in both directions.
			flags = greKeyFlag
			ae.Bytes(iflaGREIKey, binary.BigEndian.AppendUint32(nil, t.Key))
			ae.Bytes(iflaGREOKey, binary.BigEndian.AppendUint32(nil, t.Key))
		}
		ae.Bytes(iflaGREIFlags, binary.BigEndian.AppendUint16(nil, flags))
		ae.Bytes(iflaGREOFlags, binary.BigEndian.AppendUint16(nil, flags))
	default:
		return fmt.Errorf("dataplane: no link driver for %s", d.kind)
	}
	return nil
}

// Decode implements [rtnetlink.LinkDriver], reading what Encode writes
// (and what the kernel reports back in a dump).
func (d *tunnelDriver) Decode(ad *netlink.AttributeDecoder) error {
	t := &d.t
	t.Kind = d.kind
	var ikey, okey uint32
	var iflags, oflags uint16
	addr := func(b []byte) netip.Addr {
		a, ok := netip.AddrFromSlice(b)
		if !ok || a.IsUnspecified() {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	gre := d.kind.gre()
	for ad.Next() {
		switch typ := ad.Type(); {
		case !gre && typ == iflaIPTunLocal, gre && typ == iflaGRELocal:
			t.Local = addr(ad.Bytes())
		case !gre && typ == iflaIPTunRemote, gre && typ == iflaGRERemote:
			t.Remote = addr(ad.Bytes())
		case !gre && typ == iflaIPTunTTL, gre && typ == iflaGRETTL:
			t.HopLimit = ad.Uint8()
		case !gre && typ == iflaIPTunCollectMD, gre && typ == iflaGRECollectMD:
			t.External = true
		case !gre && typ == iflaIPTunProto:
			d.proto, d.hasProto = ad.Uint8(), true
		case d.kind == IP6 && typ == iflaIPTunFlags, d.kind == IP6GRE && typ == iflaGREFlags:
			d.ignEncapLimit = ad.Uint32()&ip6TnlIgnEncapLimit != 0
		case gre && typ == iflaGREIFlags:
			iflags = be16(ad.Bytes())
		case gre && typ == iflaGREOFlags:
			oflags = be16(ad.Bytes())
		case gre && typ == iflaGREIKey:
			ikey = be32(ad.Bytes())
		case gre && typ == iflaGREOKey:
			okey = be32(ad.Bytes())
		}
	}
	if err := ad.Err(); err != nil {
		return err
	}
	if iflags&greKeyFlag != 0 && oflags&greKeyFlag != 0 && ikey == okey {
		t.Keyed, t.Key = true, ikey
	} else if iflags&greKeyFlag != 0 || oflags&greKeyFlag != 0 {
		d.proto, d.hasProto = 0xff, true // keys we never set: not our shape
	}
	return nil
}

// tunnel returns the Tunnel the dump described, with Kind 0 when the
// device has a shape we never create, so the planner recreates it.
func (d *tunnelDriver) tunnel() Tunnel {
	t := d.t
	t.Kind = d.kind
	if t.External {
		t.HopLimit, t.Keyed, t.Key = 0, false, 0
	} else {
		if (d.kind == IP6 || d.kind == IP6GRE) && !d.ignEncapLimit {
			t.Kind = 0
		}
		if (d.kind == IP6 || d.kind == IP4) && d.hasProto && d.proto != ipTunProtoAny {
			t.Kind = 0
		}
	}
	if d.hasProto && d.proto == 0xff {
		t.Kind = 0
	}
	return t
}

func be16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func be32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// kindByName maps the kernel's link kind to ours.
func kindByName(s string) (TunnelKind, bool) {
	for k, n := range kindNames {
		if n == s {
			return k, true
		}
	}
	return 0, false
}

var errShortMessage = errors.New("dataplane: netlink message too short")

// createTunnel creates tunnel t and brings it up, in one sendmsg of four
// requests that the kernel processes in order, answering each: the
// device, down; its settings (IPv4 reverse-path filtering off, as
// tunnelSettings does, and no IPv6 link-local address: AddrGenNone);
// up; and a query of its index. The index goes into the cache, so the
// routes into the tunnel that follow at once (an LMA's first session via
// a MAG, RFC 5213 5.3.2 and 5.6.1: the tunnel, then the session's routes
// into it) need no lookup of their own: the first session costs two
// round trips (this and the routes' batch) instead of four (issue 5: the
// PBA of a handoff to a MAG without sessions waits for them,
// docs/lma.md).
//
// The link-local address: our tunnels are point-to-point, without
// neighbour discovery (IFF_NOARP), routers or addresses of their own on
// them (RFC 5213 5.6.1 and 6.10: the tunnel only carries the mobile
// node's packets), so the address the kernel would make when the device
// comes up (and the multicast memberships and MLD reports that come with
// it) serves nothing. The generation mode is a setting of the existing
// device (RTM_NEWLINK's IFLA_AF_SPEC is ignored at creation), hence
// create down, set, then up.
//
// The routes cannot join this sendmsg: they name the device by index, which
// the kernel chooses at registration and Linux 6.1 (Debian 12) does not
// echo back; choosing it ourselves (ifi_index on RTM_NEWLINK) would send
// the routes into whatever device held that index if it were taken.
//
// A create that fails (the name exists: EEXIST) fails the operation as a
// lone RTM_NEWLINK did; the settings then reach the existing device of
// that name, which is ours (Options.LinkPrefix) and wants them too.
func (k *Netlink) createTunnel(t Tunnel) error {
	name := t.Name
	create, err := (&rtnetlink.LinkMessage{
		Family: unix.AF_UNSPEC,
		Attributes: &rtnetlink.LinkAttributes{
			Name: name,
			MTU:  t.MTU,
			Info: &rtnetlink.LinkInfo{Kind: t.Kind.String(), Data: newTunnelDriver(t)},
		},
	}).MarshalBinary()
	if err != nil {
		return err
	}
	addrGen := int(AddrGenNone)
	if k.tunnelLinkLocal {
		addrGen = -1 // the kernel's default
	}
	settings, err := encodeLinkAF(0, name, map[uint16]uint32{ipv4DevconfRPFilter: rpFilterOff}, addrGen)
	if err != nil {
		return err
	}
	up, err := (&rtnetlink.LinkMessage{Family: unix.AF_UNSPEC, Flags: unix.IFF_UP, Change: unix.IFF_UP,
		Attributes: &rtnetlink.LinkAttributes{Name: name}}).MarshalBinary()
	if err != nil {
		return err
	}
	query, err := (&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: name}}).MarshalBinary()
	if err != nil {
		return err
	}
	replies, errs := k.exchange([]netlink.Message{
		{Header: netlink.Header{Type: unix.RTM_NEWLINK, Flags: netlink.Request | netlink.Create | netlink.Excl | netlink.Acknowledge}, Data: create},
		{Header: netlink.Header{Type: unix.RTM_NEWLINK, Flags: netlink.Request | netlink.Acknowledge}, Data: settings},
		{Header: netlink.Header{Type: unix.RTM_NEWLINK, Flags: netlink.Request | netlink.Acknowledge}, Data: up},
		{Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request}, Data: query},
	})
	if errs[0] != nil {
		return errs[0]
	}
	if errs[1] != nil {
		return fmt.Errorf("settings of %s: %w", name, errs[1])
	}
	if errs[2] != nil {
		return fmt.Errorf("setting %s up: %w", name, errs[2])
	}
	if errs[3] == nil {
		for _, m := range replies[3] {
			if l, err := decodeLink(m.Data); err == nil && l.name == name && l.index != 0 {
				k.index[name] = l.index
			}
		}
	}
	// A failed query costs only the cache: the next user of the name
	// asks again (ifindex).
	return nil
}
