package mh

import (
	"encoding/binary"
	"net/netip"
)

// RestartCounter is the Restart Counter option (RFC 5847 5.2), carried in a
// Heartbeat to tell a peer that we restarted. Alignment 4n+2, which puts
// the 32-bit counter on a 4-octet boundary.
type RestartCounter struct {
	Counter uint32
}

var _ Option = (*RestartCounter)(nil)

// Code implements Option.
func (o *RestartCounter) Code() OptionType      { return OptRestartCounter }
func (o *RestartCounter) alignment() (int, int) { return 4, 2 } // RFC 5847 5.2
func (o *RestartCounter) marshalData() ([]byte, error) {
	return binary.BigEndian.AppendUint32(nil, o.Counter), nil
}
func (o *RestartCounter) parseData(b []byte) error {
	// RFC 5847 5.2: Length is 4.
	if len(b) != 4 {
		return errLength("restart counter length %d, RFC 5847 5.2 says 4", len(b))
	}
	o.Counter = binary.BigEndian.Uint32(b)
	return nil
}

// addr4 is the common body of the options that carry two reserved octets
// and an IPv4 address.
func addr4Data(what string, a netip.Addr, hi byte, lo byte) ([]byte, error) {
	if !a.Is4() {
		return nil, errInvalid("%s %v is not an IPv4 address", what, a)
	}
	v := a.As4()
	return []byte{hi, lo, v[0], v[1], v[2], v[3]}, nil
}

func parseAddr4(what, rfc string, b []byte) (netip.Addr, error) {
	if len(b) != 6 {
		return netip.Addr{}, errLength("%s length %d, %s says 6", what, len(b), rfc)
	}
	return netip.AddrFrom4([4]byte(b[2:6])), nil
}

// IPv4CareOfAddress is the IPv4 Care-of Address option (RFC 5555 3.1.5),
// sent by a MAG whose transport to the LMA is IPv4 (RFC 5844 3.1.1).
// Alignment 4n.
type IPv4CareOfAddress struct {
	Addr netip.Addr
}

var _ Option = (*IPv4CareOfAddress)(nil)

// Code implements Option.
func (o *IPv4CareOfAddress) Code() OptionType      { return OptIPv4CareOfAddress }
func (o *IPv4CareOfAddress) alignment() (int, int) { return 4, 0 } // RFC 5555 3.1.5
func (o *IPv4CareOfAddress) marshalData() ([]byte, error) {
	return addr4Data("IPv4 care-of address", o.Addr, 0, 0)
}
func (o *IPv4CareOfAddress) parseData(b []byte) (err error) {
	o.Addr, err = parseAddr4("IPv4 care-of address", "RFC 5555 3.1.5", b)
	return err
}

// GREKey is the GRE Key option (RFC 5845 6.1). In a PBU it carries the
// downlink key the LMA must use, in a PBA the uplink key for the MAG (RFC
// 5845 3). HasKey false encodes the keyless form (Length 2) that asks for
// GRE without giving a key. RFC 5845 6.1: alignment 4n, which puts the
// 32-bit key after the 16-bit Reserved field on a 4-octet boundary (the
// brief this was first written from said 4n+2, which misaligns the key;
// OAI's PMIPv6 daemon, quoting the RFC, uses 4n too).
type GREKey struct {
	HasKey bool
	Key    uint32
}

var _ Option = (*GREKey)(nil)

// Code implements Option.
func (o *GREKey) Code() OptionType      { return OptGREKey }
func (o *GREKey) alignment() (int, int) { return 4, 0 } // RFC 5845 6.1
func (o *GREKey) marshalData() ([]byte, error) {
	if !o.HasKey {
		if o.Key != 0 {
			return nil, errInvalid("GRE key %d given with HasKey false", o.Key)
		}
		return []byte{0, 0}, nil
	}
	return binary.BigEndian.AppendUint32([]byte{0, 0}, o.Key), nil
}
func (o *GREKey) parseData(b []byte) error {
	// RFC 5845 6.1: Reserved (2 octets), then the 4-octet GRE Key
	// Identifier when present: Length is 2 or 6.
	switch len(b) {
	case 2:
		*o = GREKey{}
	case 6:
		*o = GREKey{HasKey: true, Key: binary.BigEndian.Uint32(b[2:6])}
	default:
		return errLength("GRE key length %d, RFC 5845 6.1 allows 2 or 6", len(b))
	}
	return nil
}

// prefix4Data is the Prefix-len (6 bits, high), address body of the IPv4
// Home Address Request and Reply options (RFC 5844 3.3.1, 3.3.2).
func prefix4Bits(p netip.Prefix) (byte, [4]byte, error) {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0, [4]byte{}, errInvalid("IPv4 home address %v is not an IPv4 prefix", p)
	}
	return byte(p.Bits()) << 2, p.Addr().As4(), nil
}

func prefix4(bits byte, a []byte) (netip.Prefix, error) {
	n := int(bits >> 2)
	if n > 32 {
		return netip.Prefix{}, errInvalid("IPv4 prefix length %d", n)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(a)), n), nil
}

// IPv4HomeAddressRequest is the IPv4 Home Address Request option (RFC 5844
// 3.3.1): the MAG asks for an IPv4 home address for the mobile; 0.0.0.0/0
// asks the LMA to allocate one (RFC 5844 3.1.1). Alignment 4n.
type IPv4HomeAddressRequest struct {
	// Prefix is the requested home address and its prefix length.
	Prefix netip.Prefix
}

var _ Option = (*IPv4HomeAddressRequest)(nil)

// Code implements Option.
func (o *IPv4HomeAddressRequest) Code() OptionType      { return OptIPv4HomeAddressRequest }
func (o *IPv4HomeAddressRequest) alignment() (int, int) { return 4, 0 } // RFC 5844 3.3.1
func (o *IPv4HomeAddressRequest) marshalData() ([]byte, error) {
	pl, a, err := prefix4Bits(o.Prefix)
	if err != nil {
		return nil, err
	}
	// RFC 5844 3.3.1: Prefix-len (6 bits), Reserved (10 bits), address.
	return []byte{pl, 0, a[0], a[1], a[2], a[3]}, nil
}
func (o *IPv4HomeAddressRequest) parseData(b []byte) (err error) {
	// RFC 5844 3.3.1: Length MUST be 6.
	if len(b) != 6 {
		return errLength("IPv4 home address request length %d, RFC 5844 3.3.1 says 6", len(b))
	}
	o.Prefix, err = prefix4(b[0], b[2:6])
	return err
}

// IPv4HomeAddressReply is the IPv4 Home Address Reply option (RFC 5844
// 3.3.2): the LMA's answer with the assigned home address. Alignment 4n.
type IPv4HomeAddressReply struct {
	Status IPv4HoAStatus
	// Prefix is the assigned home address and the prefix length of the
	// mobile's IPv4 home network.
	Prefix netip.Prefix
}

var _ Option = (*IPv4HomeAddressReply)(nil)

// Code implements Option.
func (o *IPv4HomeAddressReply) Code() OptionType      { return OptIPv4HomeAddressReply }
func (o *IPv4HomeAddressReply) alignment() (int, int) { return 4, 0 } // RFC 5844 3.3.2
func (o *IPv4HomeAddressReply) marshalData() ([]byte, error) {
	pl, a, err := prefix4Bits(o.Prefix)
	if err != nil {
		return nil, err
	}
	// RFC 5844 3.3.2: Status, Prefix-len (6 bits), Res (2 bits), address.
	return []byte{byte(o.Status), pl, a[0], a[1], a[2], a[3]}, nil
}
func (o *IPv4HomeAddressReply) parseData(b []byte) (err error) {
	// RFC 5844 3.3.2: Length MUST be 6.
	if len(b) != 6 {
		return errLength("IPv4 home address reply length %d, RFC 5844 3.3.2 says 6", len(b))
	}
	o.Status = IPv4HoAStatus(b[0])
	o.Prefix, err = prefix4(b[1], b[2:6])
	return err
}

// IPv4DefaultRouterAddress is the IPv4 Default-Router Address option (RFC
// 5844 3.3.3): the mobile's IPv4 default router. Alignment 4n.
type IPv4DefaultRouterAddress struct {
	Addr netip.Addr
}

var _ Option = (*IPv4DefaultRouterAddress)(nil)

// Code implements Option.
func (o *IPv4DefaultRouterAddress) Code() OptionType      { return OptIPv4DefaultRouterAddress }
func (o *IPv4DefaultRouterAddress) alignment() (int, int) { return 4, 0 } // RFC 5844 3.3.3
func (o *IPv4DefaultRouterAddress) marshalData() ([]byte, error) {
	return addr4Data("IPv4 default router", o.Addr, 0, 0)
}
func (o *IPv4DefaultRouterAddress) parseData(b []byte) (err error) {
	o.Addr, err = parseAddr4("IPv4 default-router address", "RFC 5844 3.3.3", b)
	return err
}

// IPv4DHCPSupportMode is the IPv4 DHCP Support Mode option (RFC 5844
// 3.3.4): whether the MAG acts as DHCP server (S set) or relay (S clear).
// RFC 5844 3.3.4: no alignment requirement.
type IPv4DHCPSupportMode struct {
	Server bool
}

var _ Option = (*IPv4DHCPSupportMode)(nil)

// Code implements Option.
func (o *IPv4DHCPSupportMode) Code() OptionType      { return OptIPv4DHCPSupportMode }
func (o *IPv4DHCPSupportMode) alignment() (int, int) { return 1, 0 }
func (o *IPv4DHCPSupportMode) marshalData() ([]byte, error) {
	// RFC 5844 3.3.4: 15 reserved bits, then the S flag as the last bit.
	if o.Server {
		return []byte{0, 1}, nil
	}
	return []byte{0, 0}, nil
}
func (o *IPv4DHCPSupportMode) parseData(b []byte) error {
	// RFC 5844 3.3.4: Length MUST be 2.
	if len(b) != 2 {
		return errLength("IPv4 DHCP support mode length %d, RFC 5844 3.3.4 says 2", len(b))
	}
	o.Server = b[1]&1 != 0
	return nil
}

// MAGIPv6Address is the MAG IPv6 Address option (RFC 6705 9.1.1): the
// address of the MAG that serves the other end of a localized route, here
// also the answer of a Proxy Query Ack (draft-jikim-dmm-pmip-00). Its body
// (Reserved, Address Length 128, address) has the shape of the Home
// Network Prefix option, and like it is aligned 8n+4 so that the address
// starts on an 8-octet boundary.
type MAGIPv6Address struct {
	Addr netip.Addr
}

var _ Option = (*MAGIPv6Address)(nil)

// Code implements Option.
func (o *MAGIPv6Address) Code() OptionType      { return OptMAGIPv6Address }
func (o *MAGIPv6Address) alignment() (int, int) { return 8, 4 }
func (o *MAGIPv6Address) marshalData() ([]byte, error) {
	if !o.Addr.Is6() || o.Addr.Zone() != "" {
		return nil, errInvalid("MAG address %v is not a zone-less IPv6 address", o.Addr)
	}
	a := o.Addr.As16()
	// RFC 6705 9.1.1: Reserved, Address Length (128), MAG IPv6 Address.
	return append([]byte{0, 128}, a[:]...), nil
}
func (o *MAGIPv6Address) parseData(b []byte) error {
	// RFC 6705 9.1.1: Length is 18, Address Length is 128.
	if len(b) != 18 {
		return errLength("MAG IPv6 address length %d, RFC 6705 9.1.1 says 18", len(b))
	}
	if b[1] != 128 {
		return errInvalid("MAG IPv6 address length field %d, RFC 6705 9.1.1 says 128", b[1])
	}
	o.Addr = netip.AddrFrom16([16]byte(b[2:18]))
	return nil
}

// IPv4HomeAddress is the IPv4 Home Address option of DSMIPv6 (RFC 5555
// 3.1.1). PMIPv6 meets it in a Binding Revocation Indication with the V
// flag, which names the IPv4 home address whose binding is revoked (RFC
// 5846 6.1). Alignment 4n, which puts the address on a 4-octet boundary.
type IPv4HomeAddress struct {
	// Prefix is the IPv4 home address and its prefix length.
	Prefix netip.Prefix
	// P asks for a mobile network prefix (RFC 5555 3.1.1).
	P bool
}

var _ Option = (*IPv4HomeAddress)(nil)

// Code implements Option.
func (o *IPv4HomeAddress) Code() OptionType      { return OptIPv4HomeAddress }
func (o *IPv4HomeAddress) alignment() (int, int) { return 4, 0 }
func (o *IPv4HomeAddress) marshalData() ([]byte, error) {
	pl, a, err := prefix4Bits(o.Prefix)
	if err != nil {
		return nil, err
	}
	// RFC 5555 3.1.1: Prefix-len (6 bits), P (1 bit), Reserved (9 bits),
	// IPv4 home address.
	if o.P {
		pl |= 0x02
	}
	return []byte{pl, 0, a[0], a[1], a[2], a[3]}, nil
}
func (o *IPv4HomeAddress) parseData(b []byte) (err error) {
	// RFC 5555 3.1.1: Length is 6.
	if len(b) != 6 {
		return errLength("IPv4 home address length %d, RFC 5555 3.1.1 says 6", len(b))
	}
	o.P = b[0]&0x02 != 0
	o.Prefix, err = prefix4(b[0], b[2:6])
	return err
}
