package mh

import (
	"fmt"
)

// OptionType is the Type field of a mobility option (RFC 6275 6.2.1; IANA
// "Mobility Options").
type OptionType uint8

// Mobility option types handled by this package.
const (
	OptPad1                     OptionType = 0  // RFC 6275 6.2.2
	OptPadN                     OptionType = 1  // RFC 6275 6.2.3
	OptMobileNodeIdentifier     OptionType = 8  // RFC 4283 3
	OptHomeNetworkPrefix        OptionType = 22 // RFC 5213 8.3
	OptHandoffIndicator         OptionType = 23 // RFC 5213 8.4
	OptAccessTechnologyType     OptionType = 24 // RFC 5213 8.5
	OptMobileNodeLinkLayerID    OptionType = 25 // RFC 5213 8.6
	OptLinkLocalAddress         OptionType = 26 // RFC 5213 8.7
	OptTimestamp                OptionType = 27 // RFC 5213 8.8
	OptRestartCounter           OptionType = 28 // RFC 5847 5.2
	OptIPv4HomeAddress          OptionType = 29 // RFC 5555 3.1.1
	OptIPv4CareOfAddress        OptionType = 32 // RFC 5555 3.1.5
	OptGREKey                   OptionType = 33 // RFC 5845 6.1
	OptIPv4HomeAddressRequest   OptionType = 36 // RFC 5844 3.3.1
	OptIPv4HomeAddressReply     OptionType = 37 // RFC 5844 3.3.2
	OptIPv4DefaultRouterAddress OptionType = 38 // RFC 5844 3.3.3
	OptIPv4DHCPSupportMode      OptionType = 39 // RFC 5844 3.3.4
	OptFlowSummary              OptionType = 44 // RFC 6089 4.3
	OptFlowIdentification       OptionType = 45 // RFC 6089 4.2
	OptMAGIPv6Address           OptionType = 51 // RFC 6705 9.1.1
)

func (t OptionType) String() string {
	switch t {
	case OptPad1:
		return "Pad1"
	case OptPadN:
		return "PadN"
	case OptMobileNodeIdentifier:
		return "Mobile Node Identifier"
	case OptHomeNetworkPrefix:
		return "Home Network Prefix"
	case OptHandoffIndicator:
		return "Handoff Indicator"
	case OptAccessTechnologyType:
		return "Access Technology Type"
	case OptMobileNodeLinkLayerID:
		return "Mobile Node Link-layer Identifier"
	case OptLinkLocalAddress:
		return "Link-local Address"
	case OptTimestamp:
		return "Timestamp"
	case OptRestartCounter:
		return "Restart Counter"
	case OptIPv4HomeAddress:
		return "IPv4 Home Address"
	case OptIPv4CareOfAddress:
		return "IPv4 Care-of Address"
	case OptGREKey:
		return "GRE Key"
	case OptIPv4HomeAddressRequest:
		return "IPv4 Home Address Request"
	case OptIPv4HomeAddressReply:
		return "IPv4 Home Address Reply"
	case OptIPv4DefaultRouterAddress:
		return "IPv4 Default-Router Address"
	case OptIPv4DHCPSupportMode:
		return "IPv4 DHCP Support Mode"
	case OptFlowSummary:
		return "Flow Summary"
	case OptFlowIdentification:
		return "Flow Identification"
	case OptMAGIPv6Address:
		return "MAG IPv6 Address"
	}
	return fmt.Sprintf("option %d", uint8(t))
}

// Option is one mobility option (RFC 6275 6.2). Pad1 and PadN are not
// Options: Parse drops them and Marshal inserts them.
type Option interface {
	// Code is the option's Type field.
	Code() OptionType
	// alignment is the option's "xn+y" requirement (RFC 6275 6.2): its
	// Type octet must sit at an offset from the start of the Mobility
	// Header that is y more than a multiple of x. x == 1 means none.
	alignment() (x, y int)
	// marshalData returns the option data, after Type and Length.
	marshalData() ([]byte, error)
	// parseData reads the option data, after Type and Length.
	parseData(b []byte) error
}

// newOption returns the typed option for t, or a *RawOption.
func newOption(t OptionType) Option {
	switch t {
	case OptMobileNodeIdentifier:
		return &MobileNodeIdentifier{}
	case OptHomeNetworkPrefix:
		return &HomeNetworkPrefix{}
	case OptHandoffIndicator:
		return &HandoffIndicatorOption{}
	case OptAccessTechnologyType:
		return &AccessTechnologyTypeOption{}
	case OptMobileNodeLinkLayerID:
		return &MobileNodeLinkLayerID{}
	case OptLinkLocalAddress:
		return &LinkLocalAddress{}
	case OptTimestamp:
		return &Timestamp{}
	case OptRestartCounter:
		return &RestartCounter{}
	case OptIPv4HomeAddress:
		return &IPv4HomeAddress{}
	case OptIPv4CareOfAddress:
		return &IPv4CareOfAddress{}
	case OptGREKey:
		return &GREKey{}
	case OptIPv4HomeAddressRequest:
		return &IPv4HomeAddressRequest{}
	case OptIPv4HomeAddressReply:
		return &IPv4HomeAddressReply{}
	case OptIPv4DefaultRouterAddress:
		return &IPv4DefaultRouterAddress{}
	case OptIPv4DHCPSupportMode:
		return &IPv4DHCPSupportMode{}
	case OptFlowSummary:
		return &FlowSummary{}
	case OptFlowIdentification:
		return &FlowIdentification{}
	case OptMAGIPv6Address:
		return &MAGIPv6Address{}
	}
	return &RawOption{Type: t}
}

// RawOption keeps a mobility option this package does not decode, so that
// it round-trips byte-exact. RFC 6275 9.2: a receiver skips options it
// does not understand.
type RawOption struct {
	Type OptionType
	Data []byte
}

var _ Option = (*RawOption)(nil)

// Code implements Option.
func (o *RawOption) Code() OptionType      { return o.Type }
func (o *RawOption) alignment() (int, int) { return 1, 0 }
func (o *RawOption) marshalData() ([]byte, error) {
	if o.Type == OptPad1 || o.Type == OptPadN {
		return nil, errInvalid("padding is inserted by Marshal, not given as a RawOption")
	}
	return o.Data, nil
}
func (o *RawOption) parseData(b []byte) error {
	o.Data = append([]byte{}, b...)
	return nil
}

// parseOptions reads the mobility options area of a message (RFC 6275
// 6.2.1): Type, Length, data; Pad1 is a single octet.
func parseOptions(b []byte) ([]Option, error) {
	var opts []Option
	for i := 0; ; {
		t, data, next, err := nextOption(b, i)
		if err != nil {
			return nil, err
		}
		if next < 0 {
			return opts, nil
		}
		i = next
		o := newOption(t)
		if err := o.parseData(data); err != nil {
			return nil, fmt.Errorf("option %s: %w", t, err)
		}
		opts = append(opts, o)
	}
}

// nextOption finds the first option at or after offset i of an options
// area (RFC 6275 6.2.1), skipping padding, and returns its type, its data
// and the offset after it; next is -1 when none is left. Parse and
// Decoder.Decode both walk options with it.
func nextOption(b []byte, i int) (t OptionType, data []byte, next int, err error) {
	for i < len(b) {
		t = OptionType(b[i])
		// RFC 6275 6.2.2: Pad1 is one octet with no Length.
		if t == OptPad1 {
			i++
			continue
		}
		if i+2 > len(b) {
			return 0, nil, 0, errLength("option %s at offset %d has no length octet", t, i)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return 0, nil, 0, errLength("option %s at offset %d: length %d runs past the end (%d octets left)", t, i, n, len(b)-i-2)
		}
		data = b[i+2 : i+2+n]
		i += 2 + n
		// RFC 6275 6.2.3: PadN content is ignored by the receiver.
		if t == OptPadN {
			continue
		}
		return t, data, i, nil
	}
	return 0, nil, -1, nil
}

// appendOptions appends opts to the message b, each preceded by the
// padding its alignment needs (RFC 6275 6.2: "xn+y").
func appendOptions(b []byte, opts []Option) ([]byte, error) {
	for _, o := range opts {
		if o == nil {
			return nil, errInvalid("nil option")
		}
		data, err := o.marshalData()
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", o.Code(), err)
		}
		if len(data) > 255 {
			return nil, errLength("option %s data is %d octets, at most 255 fit", o.Code(), len(data))
		}
		x, y := o.alignment()
		b = appendPad(b, (y-len(b)%x+x)%x)
		b = append(b, byte(o.Code()), byte(len(data)))
		b = append(b, data...)
	}
	return b, nil
}

// appendPad appends n octets of padding: Pad1 for one, PadN otherwise
// (RFC 6275 6.2.2, 6.2.3; PadN data MUST be zero).
func appendPad(b []byte, n int) []byte {
	switch {
	case n == 0:
		return b
	case n == 1:
		return append(b, byte(OptPad1))
	}
	b = append(b, byte(OptPadN), byte(n-2))
	for range n - 2 {
		b = append(b, 0)
	}
	return b
}

// OptionsOf returns the options of type T in opts, in order, e.g. all
// *HomeNetworkPrefix options of a PBU (RFC 5213 5.3.1 allows several).
func OptionsOf[T Option](opts []Option) []T {
	var out []T
	for _, o := range opts {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// FirstOption returns the first option of type T in opts.
func FirstOption[T Option](opts []Option) (T, bool) {
	for _, o := range opts {
		if t, ok := o.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}
