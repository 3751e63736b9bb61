package mh

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// AppendMarshal appends m, encoded exactly as Marshal encodes it, to b and
// returns the extended slice. The options a PBA or PBU carries most (RFC
// 5213's Mobile Node Identifier, Home Network Prefix, Handoff Indicator,
// Access Technology Type, Link-layer Identifier, Link-local Address and
// Timestamp, RFC 5845's GRE Key) are encoded in place, without the
// allocation per option Marshal makes, so that with enough room in b the
// encoding allocates nothing: what an LMA answering tens of thousands of
// PBUs a second wants. Other options are encoded by Marshal's code.
//
// Alignment (RFC 6275 6.2) counts from the start of the message, wherever
// it starts in b.
func AppendMarshal(b []byte, m Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("mh: %w", errInvalid("nil message"))
	}
	// Encode into the free room of b, so that offsets count from the
	// message's first octet.
	mb := b[len(b):]
	mb = append(mb, IPProtoNone, 0, byte(m.Type()), 0, 0, 0)
	mb, err := m.appendFixed(mb)
	if err != nil {
		return nil, fmt.Errorf("mh: %s: %w", m.Type(), err)
	}
	if _, ok := m.(*UnknownMessage); ok {
		if len(mb)%8 != 0 {
			return nil, fmt.Errorf("mh: %w", errLength("unknown message data makes %d octets, not a multiple of 8", len(mb)))
		}
	} else {
		mb, err = appendOptionsInPlace(mb, m.mobilityOptions())
		if err != nil {
			return nil, fmt.Errorf("mh: %s: %w", m.Type(), err)
		}
		// RFC 6275 6.1.1: the header length is a multiple of 8 octets.
		mb = appendPad(mb, (8-len(mb)%8)%8)
	}
	if len(mb) > maxLen {
		return nil, fmt.Errorf("mh: %s is %d octets, more than %d: %w", m.Type(), len(mb), maxLen, ErrTooLong)
	}
	// RFC 6275 6.1.1: Header Len in 8-octet units, excluding the first 8.
	mb[1] = byte(len(mb)/8 - 1)
	if len(b) == 0 {
		return mb, nil
	}
	// In b's array when it had room (the copy is then onto itself).
	return append(b, mb...), nil
}

// appendOptionsInPlace is appendOptions with the common options' data
// built in a buffer on the stack instead of a slice per option.
func appendOptionsInPlace(b []byte, opts []Option) ([]byte, error) {
	for _, o := range opts {
		if o == nil {
			return nil, errInvalid("nil option")
		}
		var scratch [64]byte
		data, err := appendOptionData(scratch[:0], o)
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", o.Code(), err)
		}
		if len(data) > 255 {
			return nil, errLength("option %s data is %d octets, at most 255 fit", o.Code(), len(data))
		}
		// RFC 6275 6.2: the option's "xn+y" alignment.
		x, y := o.alignment()
		b = appendPad(b, (y-len(b)%x+x)%x)
		b = append(b, byte(o.Code()), byte(len(data)))
		b = append(b, data...)
	}
	return b, nil
}

// appendOptionData appends o's data (after Type and Length) to d: the
// same octets and the same checks as its marshalData, which stays the
// reference (TestAppendMarshalMatchesMarshal, FuzzAppendMarshal).
func appendOptionData(d []byte, o Option) ([]byte, error) {
	switch o := o.(type) {
	case *MobileNodeIdentifier:
		// RFC 4283 3: Subtype, Identifier.
		if err := o.validate(); err != nil {
			return nil, err
		}
		return append(append(d, byte(o.Subtype)), o.Identifier...), nil
	case *HomeNetworkPrefix:
		if !o.Prefix.IsValid() || !o.Prefix.Addr().Is6() {
			return nil, errInvalid("home network prefix %v is not an IPv6 prefix", o.Prefix)
		}
		a := o.Prefix.Addr().As16()
		// RFC 5213 8.3: Reserved, Prefix Length, Home Network Prefix.
		return append(append(d, 0, byte(o.Prefix.Bits())), a[:]...), nil
	case *HandoffIndicatorOption:
		// RFC 5213 8.4: Reserved, Handoff Indicator.
		return append(d, 0, byte(o.HI)), nil
	case *AccessTechnologyTypeOption:
		// RFC 5213 8.5: Reserved, Access Technology Type.
		return append(d, 0, byte(o.ATT)), nil
	case *MobileNodeLinkLayerID:
		// RFC 5213 8.6: two reserved octets, the identifier; a link
		// without a link-layer address cannot use the option.
		if len(o.ID) == 0 {
			return nil, errInvalid("empty link-layer identifier")
		}
		return append(append(d, 0, 0), o.ID...), nil
	case *LinkLocalAddress:
		// RFC 5213 8.7.
		if !o.Addr.Is6() || o.Addr.Zone() != "" {
			return nil, errInvalid("link-local address %v is not a zone-less IPv6 address", o.Addr)
		}
		a := o.Addr.As16()
		return append(d, a[:]...), nil
	case *Timestamp:
		// RFC 5213 8.8: 64 bits.
		return binary.BigEndian.AppendUint64(d, o.Value), nil
	case *GREKey:
		// RFC 5845 6.1: Reserved, then the key when there is one.
		if !o.HasKey {
			if o.Key != 0 {
				return nil, errInvalid("GRE key %d given with HasKey false", o.Key)
			}
			return append(d, 0, 0), nil
		}
		return binary.BigEndian.AppendUint32(append(d, 0, 0), o.Key), nil
	case *IPv4HomeAddressRequest:
		pl, a, err := prefix4Bits(o.Prefix)
		if err != nil {
			return nil, err
		}
		// RFC 5844 3.3.1: Prefix-len (6 bits), Reserved (10 bits), address.
		return append(d, pl, 0, a[0], a[1], a[2], a[3]), nil
	case *IPv4HomeAddressReply:
		pl, a, err := prefix4Bits(o.Prefix)
		if err != nil {
			return nil, err
		}
		// RFC 5844 3.3.2: Status, Prefix-len (6 bits), Res (2 bits), address.
		return append(d, byte(o.Status), pl, a[0], a[1], a[2], a[3]), nil
	case *IPv4DefaultRouterAddress:
		// RFC 5844 3.3.3: Reserved, address.
		return appendAddr4(d, "IPv4 default router", o.Addr)
	case *IPv4CareOfAddress:
		// RFC 5555 3.1.5: Reserved, address.
		return appendAddr4(d, "IPv4 care-of address", o.Addr)
	case *IPv4DHCPSupportMode:
		// RFC 5844 3.3.4: 15 reserved bits, then the S flag.
		if o.Server {
			return append(d, 0, 1), nil
		}
		return append(d, 0, 0), nil
	}
	data, err := o.marshalData()
	if err != nil {
		return nil, err
	}
	return append(d, data...), nil
}

// appendAddr4 is addr4Data(what, a, 0, 0) appended to d.
func appendAddr4(d []byte, what string, a netip.Addr) ([]byte, error) {
	if !a.Is4() {
		return nil, errInvalid("%s %v is not an IPv4 address", what, a)
	}
	v := a.As4()
	return append(d, 0, 0, v[0], v[1], v[2], v[3]), nil
}
