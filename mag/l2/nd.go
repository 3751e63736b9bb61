package l2

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv6"
)

// The Neighbor Discovery codec of the MAG: the four messages it reads or
// writes (RFC 4861 4.1-4.4) and the options it reads or writes (RFC 4861
// 4.6, RFC 8106 5.1); any other option is kept as a RawOption. It replaces
// github.com/mdlayher/ndp in the daemon, whose imports (crypto/rand,
// net/url, golang.org/x/net/idna) cost the AP's image about 0.1 MB after
// xz and as much resident memory; tests keep ndp as an independent
// reference for the bytes (nd_test.go).

// Message is one Neighbor Discovery message: *RouterSolicitation,
// *RouterAdvertisement, *NeighborSolicitation or *NeighborAdvertisement.
type Message interface {
	// Type is the message's ICMPv6 type.
	Type() ipv6.ICMPType
	// appendBody appends the message after the 4-octet ICMPv6 header
	// (type, code, checksum).
	appendBody(b []byte) ([]byte, error)
}

// Option is one Neighbor Discovery option (RFC 4861 4.6): *LinkLayerAddress,
// *MTU, *PrefixInformation, *RecursiveDNSServer or *RawOption.
type Option interface {
	// Code is the option's type octet.
	Code() uint8
	// appendTo appends the whole option, type and length included.
	appendTo(b []byte) ([]byte, error)
}

var (
	_ Message = (*RouterSolicitation)(nil)
	_ Message = (*RouterAdvertisement)(nil)
	_ Message = (*NeighborSolicitation)(nil)
	_ Message = (*NeighborAdvertisement)(nil)
	_ Option  = (*LinkLayerAddress)(nil)
	_ Option  = (*MTU)(nil)
	_ Option  = (*PrefixInformation)(nil)
	_ Option  = (*RecursiveDNSServer)(nil)
	_ Option  = (*RawOption)(nil)
)

// Fixed lengths of the message bodies after the ICMPv6 header.
const (
	rsBodyLen = 4  // reserved (RFC 4861 4.1)
	raBodyLen = 12 // hop limit, flags, lifetime, reachable, retrans (4.2)
	nsBodyLen = 20 // reserved, target (4.3)
	naBodyLen = 20 // flags, target (4.4)
)

// Option types (RFC 4861 4.6, RFC 8106 5.1).
const (
	OptSourceLLA         = 1
	OptTargetLLA         = 2
	OptPrefixInformation = 3
	OptMTU               = 5
	OptRDNSS             = 25
)

// RouterSolicitation is an ICMPv6 Router Solicitation (RFC 4861 4.1).
type RouterSolicitation struct {
	Options []Option
}

// Type implements Message.
func (*RouterSolicitation) Type() ipv6.ICMPType { return ipv6.ICMPTypeRouterSolicitation }

func (m *RouterSolicitation) appendBody(b []byte) ([]byte, error) {
	b = append(b, 0, 0, 0, 0) // reserved
	return appendOptions(b, m.Options)
}

// Preference is the Default Router Preference of RFC 4191 2.2 (two bits).
type Preference uint8

// Default Router Preference values (RFC 4191 2.2).
const (
	Medium      Preference = 0
	High        Preference = 1
	prfReserved Preference = 2
	Low         Preference = 3
)

// RouterAdvertisement is an ICMPv6 Router Advertisement (RFC 4861 4.2).
// Lifetimes are carried in whole seconds (Router Lifetime) and
// milliseconds (Reachable Time, Retrans Timer); finer parts are dropped.
type RouterAdvertisement struct {
	CurrentHopLimit      uint8
	ManagedConfiguration bool // M
	OtherConfiguration   bool // O
	// RouterSelectionPreference (RFC 4191 2.2). Received as the reserved
	// value 10 it reads as Medium (RFC 4191 2.2: "MUST treat the value as
	// if it were (00)").
	RouterSelectionPreference Preference
	RouterLifetime            time.Duration
	ReachableTime             time.Duration
	RetransmitTimer           time.Duration
	Options                   []Option
}

// Type implements Message.
func (*RouterAdvertisement) Type() ipv6.ICMPType { return ipv6.ICMPTypeRouterAdvertisement }

func (m *RouterAdvertisement) appendBody(b []byte) ([]byte, error) {
	if m.RouterSelectionPreference > Low || m.RouterSelectionPreference == prfReserved {
		// RFC 4191 2.2: the reserved value 10 must not be sent.
		return nil, fmt.Errorf("l2: router advertisement: preference %d: %w", m.RouterSelectionPreference, ErrMalformed)
	}
	// RFC 4861 4.2: Router Lifetime is 16 bits of seconds (at most 9000 s
	// by 6.2.1, checked by the sender's configuration), Reachable Time and
	// Retrans Timer 32 bits of milliseconds.
	lifetime, err := fitUnits(m.RouterLifetime, time.Second, 0xffff, "router lifetime")
	if err != nil {
		return nil, err
	}
	reach, err := fitUnits(m.ReachableTime, time.Millisecond, 0xffffffff, "reachable time")
	if err != nil {
		return nil, err
	}
	retrans, err := fitUnits(m.RetransmitTimer, time.Millisecond, 0xffffffff, "retrans timer")
	if err != nil {
		return nil, err
	}
	var flags byte
	if m.ManagedConfiguration {
		flags |= 0x80
	}
	if m.OtherConfiguration {
		flags |= 0x40
	}
	flags |= byte(m.RouterSelectionPreference) << 3
	b = append(b, m.CurrentHopLimit, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(lifetime))
	b = binary.BigEndian.AppendUint32(b, uint32(reach))
	b = binary.BigEndian.AppendUint32(b, uint32(retrans))
	return appendOptions(b, m.Options)
}

// NeighborSolicitation is an ICMPv6 Neighbor Solicitation (RFC 4861 4.3).
type NeighborSolicitation struct {
	TargetAddress netip.Addr
	Options       []Option
}

// Type implements Message.
func (*NeighborSolicitation) Type() ipv6.ICMPType { return ipv6.ICMPTypeNeighborSolicitation }

func (m *NeighborSolicitation) appendBody(b []byte) ([]byte, error) {
	if !isIPv6(m.TargetAddress) {
		return nil, fmt.Errorf("l2: neighbor solicitation: target %s: %w", m.TargetAddress, ErrMalformed)
	}
	b = append(b, 0, 0, 0, 0) // reserved
	t := m.TargetAddress.As16()
	b = append(b, t[:]...)
	return appendOptions(b, m.Options)
}

// NeighborAdvertisement is an ICMPv6 Neighbor Advertisement (RFC 4861 4.4).
type NeighborAdvertisement struct {
	Router        bool // R
	Solicited     bool // S
	Override      bool // O
	TargetAddress netip.Addr
	Options       []Option
}

// Type implements Message.
func (*NeighborAdvertisement) Type() ipv6.ICMPType { return ipv6.ICMPTypeNeighborAdvertisement }

func (m *NeighborAdvertisement) appendBody(b []byte) ([]byte, error) {
	if !isIPv6(m.TargetAddress) {
		return nil, fmt.Errorf("l2: neighbor advertisement: target %s: %w", m.TargetAddress, ErrMalformed)
	}
	var flags byte
	if m.Router {
		flags |= 0x80
	}
	if m.Solicited {
		flags |= 0x40
	}
	if m.Override {
		flags |= 0x20
	}
	b = append(b, flags, 0, 0, 0)
	t := m.TargetAddress.As16()
	b = append(b, t[:]...)
	return appendOptions(b, m.Options)
}

// Direction tells a Source from a Target Link-Layer Address option; its
// value is the option type (RFC 4861 4.6.1).
type Direction uint8

// Link-layer address option directions.
const (
	Source Direction = OptSourceLLA
	Target Direction = OptTargetLLA
)

// LinkLayerAddress is a Source or Target Link-Layer Address option (RFC
// 4861 4.6.1) for Ethernet (RFC 2464 8: length 1, a 6-octet address).
// A parsed Addr aliases the frame.
type LinkLayerAddress struct {
	Direction Direction
	Addr      net.HardwareAddr
}

// Code implements Option.
func (o *LinkLayerAddress) Code() uint8 { return uint8(o.Direction) }

func (o *LinkLayerAddress) appendTo(b []byte) ([]byte, error) {
	if o.Direction != Source && o.Direction != Target {
		return nil, fmt.Errorf("l2: link-layer address option: direction %d: %w", o.Direction, ErrMalformed)
	}
	if len(o.Addr) != 6 {
		return nil, fmt.Errorf("l2: link-layer address option: %d-octet address, want 6 (RFC 2464 8): %w", len(o.Addr), ErrMalformed)
	}
	b = append(b, byte(o.Direction), 1)
	return append(b, o.Addr...), nil
}

// MTU is an MTU option (RFC 4861 4.6.4).
type MTU struct {
	MTU uint32
}

// Code implements Option.
func (*MTU) Code() uint8 { return OptMTU }

func (o *MTU) appendTo(b []byte) ([]byte, error) {
	b = append(b, OptMTU, 1, 0, 0) // type, length, reserved
	return binary.BigEndian.AppendUint32(b, o.MTU), nil
}

// PrefixInformation is a Prefix Information option (RFC 4861 4.6.2).
// Lifetimes are whole seconds; 0xffffffff seconds is infinity.
type PrefixInformation struct {
	PrefixLength                   uint8
	OnLink                         bool // L
	AutonomousAddressConfiguration bool // A
	ValidLifetime                  time.Duration
	PreferredLifetime              time.Duration
	// Prefix: an IPv6 address whose bits past PrefixLength are zero
	// (RFC 4861 4.6.2: sent as zero, ignored by the receiver, so a parsed
	// one is masked).
	Prefix netip.Addr
}

// Code implements Option.
func (*PrefixInformation) Code() uint8 { return OptPrefixInformation }

func (o *PrefixInformation) appendTo(b []byte) ([]byte, error) {
	if !isIPv6(o.Prefix) || o.PrefixLength > 128 {
		return nil, fmt.Errorf("l2: prefix information option: %s/%d: %w", o.Prefix, o.PrefixLength, ErrMalformed)
	}
	// RFC 4861 4.6.2: the bits past the prefix length are reserved and
	// must be initialized to zero by the sender.
	if p := netip.PrefixFrom(o.Prefix, int(o.PrefixLength)); p.Masked().Addr() != o.Prefix {
		return nil, fmt.Errorf("l2: prefix information option: %s has bits set past /%d: %w", o.Prefix, o.PrefixLength, ErrMalformed)
	}
	valid, err := fitUnits(o.ValidLifetime, time.Second, 0xffffffff, "valid lifetime")
	if err != nil {
		return nil, err
	}
	preferred, err := fitUnits(o.PreferredLifetime, time.Second, 0xffffffff, "preferred lifetime")
	if err != nil {
		return nil, err
	}
	var flags byte
	if o.OnLink {
		flags |= 0x80
	}
	if o.AutonomousAddressConfiguration {
		flags |= 0x40
	}
	b = append(b, OptPrefixInformation, 4, o.PrefixLength, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(valid))
	b = binary.BigEndian.AppendUint32(b, uint32(preferred))
	b = append(b, 0, 0, 0, 0) // reserved2
	p := o.Prefix.As16()
	return append(b, p[:]...), nil
}

// RecursiveDNSServer is a Recursive DNS Server option (RFC 8106 5.1).
type RecursiveDNSServer struct {
	Lifetime time.Duration // whole seconds; 0xffffffff s is infinity
	Servers  []netip.Addr
}

// Code implements Option.
func (*RecursiveDNSServer) Code() uint8 { return OptRDNSS }

func (o *RecursiveDNSServer) appendTo(b []byte) ([]byte, error) {
	// RFC 8106 5.1: at least one address; Length is 1 + 2 per address.
	if len(o.Servers) == 0 || len(o.Servers) > 127 {
		return nil, fmt.Errorf("l2: rdnss option: %d servers, want 1 to 127: %w", len(o.Servers), ErrMalformed)
	}
	lifetime, err := fitUnits(o.Lifetime, time.Second, 0xffffffff, "rdnss lifetime")
	if err != nil {
		return nil, err
	}
	b = append(b, OptRDNSS, byte(1+2*len(o.Servers)), 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(lifetime))
	for _, s := range o.Servers {
		if !isIPv6(s) {
			return nil, fmt.Errorf("l2: rdnss option: server %s: %w", s, ErrMalformed)
		}
		a := s.As16()
		b = append(b, a[:]...)
	}
	return b, nil
}

// RawOption is an option this codec does not interpret: RFC 4861 4.6
// has receivers ignore options they do not recognize, so it is kept as
// it came. Length counts units of 8 octets, type and length included;
// Value is the rest (Length*8-2 octets). A parsed Value aliases the frame.
type RawOption struct {
	Type   uint8
	Length uint8
	Value  []byte
}

// Code implements Option.
func (o *RawOption) Code() uint8 { return o.Type }

func (o *RawOption) appendTo(b []byte) ([]byte, error) {
	if o.Length == 0 || int(o.Length)*8-2 != len(o.Value) {
		return nil, fmt.Errorf("l2: option %d: length %d with %d value octets: %w", o.Type, o.Length, len(o.Value), ErrMalformed)
	}
	b = append(b, o.Type, o.Length)
	return append(b, o.Value...), nil
}

// ParseMessage parses an ICMPv6 Neighbor Discovery message, from its ICMPv6
// header on: type, code and checksum are not checked here (ParseND does).
// An option of a type it reads with the wrong length makes the message
// invalid (ErrInvalidND); other options become RawOptions.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("l2: icmpv6 header: %w", io.ErrUnexpectedEOF)
	}
	typ, body := ipv6.ICMPType(b[0]), b[4:]
	var need int
	switch typ {
	case ipv6.ICMPTypeRouterSolicitation:
		need = rsBodyLen
	case ipv6.ICMPTypeRouterAdvertisement:
		need = raBodyLen
	case ipv6.ICMPTypeNeighborSolicitation:
		need = nsBodyLen
	case ipv6.ICMPTypeNeighborAdvertisement:
		need = naBodyLen
	default:
		return nil, fmt.Errorf("l2: icmpv6 type %d: %w", b[0], ErrNotND)
	}
	if len(body) < need {
		return nil, fmt.Errorf("l2: %s body of %d octets: %w", typ, len(body), io.ErrUnexpectedEOF)
	}
	opts, err := parseOptions(body[need:])
	if err != nil {
		return nil, fmt.Errorf("l2: %s: %w", typ, err)
	}
	var target netip.Addr
	if need == nsBodyLen { // NS and NA
		// RFC 4291 2.5.5.2: an IPv4-mapped address is never an interface's
		// address on the link, so never a target.
		if target = netip.AddrFrom16([16]byte(body[4:20])); !isIPv6(target) {
			return nil, fmt.Errorf("l2: %s: target %s: %w", typ, target, ErrInvalidND)
		}
	}
	switch typ {
	case ipv6.ICMPTypeRouterSolicitation:
		return &RouterSolicitation{Options: opts}, nil
	case ipv6.ICMPTypeRouterAdvertisement:
		prf := Preference(body[1]>>3) & 3
		if prf == prfReserved {
			prf = Medium // RFC 4191 2.2
		}
		return &RouterAdvertisement{
			CurrentHopLimit:           body[0],
			ManagedConfiguration:      body[1]&0x80 != 0,
			OtherConfiguration:        body[1]&0x40 != 0,
			RouterSelectionPreference: prf,
			RouterLifetime:            time.Duration(binary.BigEndian.Uint16(body[2:4])) * time.Second,
			ReachableTime:             time.Duration(binary.BigEndian.Uint32(body[4:8])) * time.Millisecond,
			RetransmitTimer:           time.Duration(binary.BigEndian.Uint32(body[8:12])) * time.Millisecond,
			Options:                   opts,
		}, nil
	case ipv6.ICMPTypeNeighborSolicitation:
		return &NeighborSolicitation{TargetAddress: target, Options: opts}, nil
	default:
		return &NeighborAdvertisement{
			Router:        body[0]&0x80 != 0,
			Solicited:     body[0]&0x40 != 0,
			Override:      body[0]&0x20 != 0,
			TargetAddress: target,
			Options:       opts,
		}, nil
	}
}

// parseOptions parses an option area (RFC 4861 4.6).
func parseOptions(b []byte) ([]Option, error) {
	var opts []Option
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("option header: %w", io.ErrUnexpectedEOF)
		}
		typ, units := b[0], b[1]
		l := int(units) * 8
		if l == 0 {
			// RFC 4861 4.6: "Nodes MUST silently discard an ND packet that
			// contains an option with length zero."
			return nil, fmt.Errorf("option %d of length 0: %w", typ, ErrInvalidND)
		}
		if l > len(b) {
			return nil, fmt.Errorf("option %d of %d octets, %d left: %w", typ, l, len(b), io.ErrUnexpectedEOF)
		}
		o, v := b[:l], b[2:l]
		b = b[l:]
		var opt Option
		switch typ {
		case OptSourceLLA, OptTargetLLA:
			// RFC 2464 8: on Ethernet the option is 8 octets.
			if units != 1 {
				return nil, fmt.Errorf("link-layer address option of length %d: %w", units, ErrInvalidND)
			}
			opt = &LinkLayerAddress{Direction: Direction(typ), Addr: net.HardwareAddr(v[:6:6])}
		case OptMTU:
			if units != 1 { // RFC 4861 4.6.4: Length 1
				return nil, fmt.Errorf("mtu option of length %d: %w", units, ErrInvalidND)
			}
			opt = &MTU{MTU: binary.BigEndian.Uint32(v[2:6])}
		case OptPrefixInformation:
			if units != 4 { // RFC 4861 4.6.2: Length 4
				return nil, fmt.Errorf("prefix information option of length %d: %w", units, ErrInvalidND)
			}
			pl := v[0]
			if pl > 128 {
				return nil, fmt.Errorf("prefix information option: prefix length %d: %w", pl, ErrInvalidND)
			}
			p := netip.PrefixFrom(netip.AddrFrom16([16]byte(v[14:30])), int(pl)).Masked()
			if !isIPv6(p.Addr()) {
				return nil, fmt.Errorf("prefix information option: IPv4-mapped prefix %s: %w", p, ErrInvalidND)
			}
			opt = &PrefixInformation{
				PrefixLength:                   pl,
				OnLink:                         v[1]&0x80 != 0,
				AutonomousAddressConfiguration: v[1]&0x40 != 0,
				ValidLifetime:                  time.Duration(binary.BigEndian.Uint32(v[2:6])) * time.Second,
				PreferredLifetime:              time.Duration(binary.BigEndian.Uint32(v[6:10])) * time.Second,
				Prefix:                         p.Addr(),
			}
		case OptRDNSS:
			// RFC 8106 5.1: Length is 3 or more and odd (1 + 2 per address).
			if units < 3 || units%2 == 0 {
				return nil, fmt.Errorf("rdnss option of length %d: %w", units, ErrInvalidND)
			}
			r := &RecursiveDNSServer{
				Lifetime: time.Duration(binary.BigEndian.Uint32(v[2:6])) * time.Second,
				Servers:  make([]netip.Addr, 0, (units-1)/2),
			}
			for a := v[6:]; len(a) >= 16; a = a[16:] {
				s := netip.AddrFrom16([16]byte(a[:16]))
				if !isIPv6(s) {
					return nil, fmt.Errorf("rdnss option: IPv4-mapped server %s: %w", s, ErrInvalidND)
				}
				r.Servers = append(r.Servers, s)
			}
			opt = r
		default:
			opt = &RawOption{Type: typ, Length: units, Value: o[2:l:l]}
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// appendOptions appends each option in order.
func appendOptions(b []byte, opts []Option) ([]byte, error) {
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("l2: nil option: %w", ErrMalformed)
		}
		var err error
		if b, err = o.appendTo(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// fitUnits converts d to whole units, refusing negative values and values
// beyond max.
func fitUnits(d, unit time.Duration, max uint64, what string) (uint64, error) {
	if d < 0 || uint64(d/unit) > max {
		return 0, fmt.Errorf("l2: %s %v out of range: %w", what, d, ErrMalformed)
	}
	return uint64(d / unit), nil
}

// isIPv6 reports whether a is an IPv6 address, not an IPv4-mapped one.
func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
