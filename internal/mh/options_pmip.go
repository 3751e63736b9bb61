package mh

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unicode/utf8"
)

// MNIDSubtype is the Subtype of the Mobile Node Identifier option (RFC
// 4283 3; RFC 8371 3; IANA "Mobile Node Identifier Option Subtypes").
type MNIDSubtype uint8

// Mobile Node Identifier subtypes.
const (
	MNIDNAI   MNIDSubtype = 1 // RFC 4283 3: Network Access Identifier
	MNIDIPv6  MNIDSubtype = 2 // RFC 8371 4.1
	MNIDIMSI  MNIDSubtype = 3 // RFC 8371 4.2
	MNIDPTMSI MNIDSubtype = 4 // RFC 8371 4.3
	MNIDEUI48 MNIDSubtype = 5 // RFC 8371 4.4
	MNIDEUI64 MNIDSubtype = 6 // RFC 8371 4.5
	MNIDGUTI  MNIDSubtype = 7 // RFC 8371 4.6
	MNIDDUID  MNIDSubtype = 8 // RFC 8371 4.7
)

func (s MNIDSubtype) String() string {
	switch s {
	case MNIDNAI:
		return "NAI"
	case MNIDIPv6:
		return "IPv6 Address"
	case MNIDIMSI:
		return "IMSI"
	case MNIDPTMSI:
		return "P-TMSI"
	case MNIDEUI48:
		return "EUI-48"
	case MNIDEUI64:
		return "EUI-64"
	case MNIDGUTI:
		return "GUTI"
	case MNIDDUID:
		return "DUID"
	}
	return fmt.Sprintf("MN-ID subtype %d", uint8(s))
}

// MobileNodeIdentifier is the Mobile Node Identifier option (RFC 4283 3,
// subtypes of RFC 8371 3). Identifier is kept as sent; the constructors
// and accessors below give it meaning per subtype. RFC 4283 3: no
// alignment requirement.
type MobileNodeIdentifier struct {
	Subtype    MNIDSubtype
	Identifier []byte
}

var _ Option = (*MobileNodeIdentifier)(nil)

// NewNAI returns a Mobile Node Identifier carrying a Network Access
// Identifier (RFC 4283 3, subtype 1), e.g. the 802.1X identity.
func NewNAI(nai string) *MobileNodeIdentifier {
	return &MobileNodeIdentifier{Subtype: MNIDNAI, Identifier: []byte(nai)}
}

// NewEUI48 returns a Mobile Node Identifier carrying a MAC address (RFC
// 8371 4.4, subtype 5).
func NewEUI48(mac net.HardwareAddr) *MobileNodeIdentifier {
	return &MobileNodeIdentifier{Subtype: MNIDEUI48, Identifier: append([]byte(nil), mac...)}
}

// NewIPv6Identifier returns a Mobile Node Identifier carrying an IPv6
// address (RFC 8371 4.1, subtype 2).
func NewIPv6Identifier(a netip.Addr) *MobileNodeIdentifier {
	s := a.As16()
	return &MobileNodeIdentifier{Subtype: MNIDIPv6, Identifier: s[:]}
}

// Code implements Option.
func (o *MobileNodeIdentifier) Code() OptionType      { return OptMobileNodeIdentifier }
func (o *MobileNodeIdentifier) alignment() (int, int) { return 1, 0 }

func (o *MobileNodeIdentifier) marshalData() ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return append([]byte{byte(o.Subtype)}, o.Identifier...), nil
}

func (o *MobileNodeIdentifier) parseData(b []byte) error {
	// RFC 4283 3: Option Length covers Subtype and Identifier.
	if len(b) < 1 {
		return errShort("mobile node identifier", 1, 0)
	}
	o.Subtype = MNIDSubtype(b[0])
	o.Identifier = append([]byte{}, b[1:]...)
	return o.validate()
}

// validate checks the fixed identifier sizes of RFC 8371 4.
func (o *MobileNodeIdentifier) validate() error {
	want := map[MNIDSubtype]int{MNIDIPv6: 16, MNIDEUI48: 6, MNIDEUI64: 8}[o.Subtype]
	if want != 0 && len(o.Identifier) != want {
		return errLength("%s identifier is %d octets, RFC 8371 4 says %d", o.Subtype, len(o.Identifier), want)
	}
	return nil
}

// NAI returns the identifier as a string when Subtype is NAI.
func (o *MobileNodeIdentifier) NAI() (string, bool) {
	if o.Subtype != MNIDNAI {
		return "", false
	}
	return string(o.Identifier), true
}

// HardwareAddr returns the identifier when Subtype is EUI-48 or EUI-64.
func (o *MobileNodeIdentifier) HardwareAddr() (net.HardwareAddr, bool) {
	if (o.Subtype != MNIDEUI48 || len(o.Identifier) != 6) && (o.Subtype != MNIDEUI64 || len(o.Identifier) != 8) {
		return nil, false
	}
	return net.HardwareAddr(append([]byte(nil), o.Identifier...)), true
}

// String renders the identifier for logs: the NAI as text, an EUI as a
// MAC, an IPv6 address as an address, anything else as hex.
func (o *MobileNodeIdentifier) String() string {
	switch o.Subtype {
	case MNIDNAI:
		if utf8.Valid(o.Identifier) {
			return string(o.Identifier)
		}
	case MNIDEUI48, MNIDEUI64:
		if hw, ok := o.HardwareAddr(); ok {
			return hw.String()
		}
	case MNIDIPv6:
		if a, ok := netip.AddrFromSlice(o.Identifier); ok {
			return a.String()
		}
	}
	return fmt.Sprintf("%s:%x", o.Subtype, o.Identifier)
}

// HomeNetworkPrefix is the Home Network Prefix option (RFC 5213 8.3):
// alignment 8n+4. A MAG requesting a prefix sends ::/0 (RFC 5213 6.9.1.1:
// "ALL_ZERO"). Prefix keeps the address bits as sent (not masked).
type HomeNetworkPrefix struct {
	Prefix netip.Prefix
}

var _ Option = (*HomeNetworkPrefix)(nil)

// Code implements Option.
func (o *HomeNetworkPrefix) Code() OptionType      { return OptHomeNetworkPrefix }
func (o *HomeNetworkPrefix) alignment() (int, int) { return 8, 4 } // RFC 5213 8.3

func (o *HomeNetworkPrefix) marshalData() ([]byte, error) {
	if !o.Prefix.IsValid() || !o.Prefix.Addr().Is6() {
		return nil, errInvalid("home network prefix %v is not an IPv6 prefix", o.Prefix)
	}
	a := o.Prefix.Addr().As16()
	// RFC 5213 8.3: Reserved, Prefix Length, Home Network Prefix.
	return append([]byte{0, byte(o.Prefix.Bits())}, a[:]...), nil
}

func (o *HomeNetworkPrefix) parseData(b []byte) error {
	// RFC 5213 8.3: Length MUST be 18.
	if len(b) != 18 {
		return errLength("home network prefix length %d, RFC 5213 8.3 says 18", len(b))
	}
	p, err := prefix6(b[2:18], b[1])
	o.Prefix = p
	return err
}

func prefix6(a []byte, bits byte) (netip.Prefix, error) {
	if bits > 128 {
		return netip.Prefix{}, errInvalid("IPv6 prefix length %d", bits)
	}
	return netip.PrefixFrom(netip.AddrFrom16([16]byte(a)), int(bits)), nil
}

// HandoffIndicatorOption is the Handoff Indicator option (RFC 5213 8.4):
// no alignment requirement.
type HandoffIndicatorOption struct {
	HI HandoffIndicator
}

var _ Option = (*HandoffIndicatorOption)(nil)

// Code implements Option.
func (o *HandoffIndicatorOption) Code() OptionType      { return OptHandoffIndicator }
func (o *HandoffIndicatorOption) alignment() (int, int) { return 1, 0 } // RFC 5213 8.4
func (o *HandoffIndicatorOption) marshalData() ([]byte, error) {
	return []byte{0, byte(o.HI)}, nil
}
func (o *HandoffIndicatorOption) parseData(b []byte) error {
	// RFC 5213 8.4: Length MUST be 2.
	if len(b) != 2 {
		return errLength("handoff indicator length %d, RFC 5213 8.4 says 2", len(b))
	}
	o.HI = HandoffIndicator(b[1])
	return nil
}

// AccessTechnologyTypeOption is the Access Technology Type option (RFC 5213
// 8.5): no alignment requirement.
type AccessTechnologyTypeOption struct {
	ATT AccessTechnology
}

var _ Option = (*AccessTechnologyTypeOption)(nil)

// Code implements Option.
func (o *AccessTechnologyTypeOption) Code() OptionType      { return OptAccessTechnologyType }
func (o *AccessTechnologyTypeOption) alignment() (int, int) { return 1, 0 } // RFC 5213 8.5
func (o *AccessTechnologyTypeOption) marshalData() ([]byte, error) {
	return []byte{0, byte(o.ATT)}, nil
}
func (o *AccessTechnologyTypeOption) parseData(b []byte) error {
	// RFC 5213 8.5: Length MUST be 2.
	if len(b) != 2 {
		return errLength("access technology type length %d, RFC 5213 8.5 says 2", len(b))
	}
	o.ATT = AccessTechnology(b[1])
	return nil
}

// MobileNodeLinkLayerID is the Mobile Node Link-layer Identifier option
// (RFC 5213 8.6), e.g. the client's MAC. RFC 5213 8.6 leaves the alignment
// to the identifier's size; we align the option at 4n so that the
// identifier, after two reserved octets, starts on a 4-octet boundary.
type MobileNodeLinkLayerID struct {
	ID net.HardwareAddr
}

var _ Option = (*MobileNodeLinkLayerID)(nil)

// Code implements Option.
func (o *MobileNodeLinkLayerID) Code() OptionType      { return OptMobileNodeLinkLayerID }
func (o *MobileNodeLinkLayerID) alignment() (int, int) { return 4, 0 }
func (o *MobileNodeLinkLayerID) marshalData() ([]byte, error) {
	// RFC 5213 8.6: on links without a link-layer address this option
	// cannot be used, so an empty identifier is an error.
	if len(o.ID) == 0 {
		return nil, errInvalid("empty link-layer identifier")
	}
	return append([]byte{0, 0}, o.ID...), nil
}
func (o *MobileNodeLinkLayerID) parseData(b []byte) error {
	if len(b) < 3 {
		return errLength("link-layer identifier option length %d, needs reserved octets and an identifier (RFC 5213 8.6)", len(b))
	}
	o.ID = append(net.HardwareAddr{}, b[2:]...)
	return nil
}

// LinkLocalAddress is the Link-local Address option (RFC 5213 8.7):
// alignment 8n+6. A MAG sends ALL_ZERO (::) in a PBU to ask for the
// link-local address the LMA keeps (RFC 5213 6.9.1.1).
type LinkLocalAddress struct {
	Addr netip.Addr
}

var _ Option = (*LinkLocalAddress)(nil)

// Code implements Option.
func (o *LinkLocalAddress) Code() OptionType      { return OptLinkLocalAddress }
func (o *LinkLocalAddress) alignment() (int, int) { return 8, 6 } // RFC 5213 8.7
func (o *LinkLocalAddress) marshalData() ([]byte, error) {
	if !o.Addr.Is6() || o.Addr.Zone() != "" {
		return nil, errInvalid("link-local address %v is not a zone-less IPv6 address", o.Addr)
	}
	a := o.Addr.As16()
	return a[:], nil
}
func (o *LinkLocalAddress) parseData(b []byte) error {
	// RFC 5213 8.7: Length MUST be 16.
	if len(b) != 16 {
		return errLength("link-local address length %d, RFC 5213 8.7 says 16", len(b))
	}
	o.Addr = netip.AddrFrom16([16]byte(b))
	return nil
}

// Timestamp is the Timestamp option (RFC 5213 8.8): alignment 8n+2. Value
// is the field as sent: seconds since 1970-01-01 00:00 UTC in the first 48
// bits and 1/65536 fractions of a second in the last 16 (RFC 5213 8.8; not
// the NTP format, whose epoch is 1900 and whose split is 32/32). Use
// TimestampFromTime and Time to convert.
type Timestamp struct {
	Value uint64
}

var _ Option = (*Timestamp)(nil)

// TimestampFromTime encodes t in the RFC 5213 8.8 format, truncating to
// 1/65536 s. Times before 1970 encode as 0, times past the 48-bit range
// as the largest value.
func TimestampFromTime(t time.Time) *Timestamp {
	if t.Before(time.Unix(0, 0)) {
		return &Timestamp{}
	}
	sec := uint64(t.Unix())
	if sec >= 1<<48 {
		return &Timestamp{Value: ^uint64(0)}
	}
	frac := uint64(t.Nanosecond()) << 16 / uint64(time.Second)
	return &Timestamp{Value: sec<<16 | frac}
}

// Time decodes the timestamp (RFC 5213 8.8), exact to the nanosecond
// rounding of 1/65536 s.
func (o *Timestamp) Time() time.Time {
	sec := int64(o.Value >> 16)
	ns := int64(o.Value&0xffff) * int64(time.Second) >> 16
	return time.Unix(sec, ns).UTC()
}

// Code implements Option.
func (o *Timestamp) Code() OptionType      { return OptTimestamp }
func (o *Timestamp) alignment() (int, int) { return 8, 2 } // RFC 5213 8.8
func (o *Timestamp) marshalData() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, o.Value), nil
}
func (o *Timestamp) parseData(b []byte) error {
	// RFC 5213 8.8: Length MUST be 8.
	if len(b) != 8 {
		return errLength("timestamp length %d, RFC 5213 8.8 says 8", len(b))
	}
	o.Value = binary.BigEndian.Uint64(b)
	return nil
}
