package mh

import (
	"encoding/binary"
	"fmt"
)

// Decoder parses Mobility Headers as Parse does, into memory it keeps from
// one call to the next, for a daemon that reads tens of thousands of
// messages a second: decoding a Proxy Binding Update, a Proxy Binding
// Acknowledgement or a Heartbeat with the options of RFC 5213, RFC 5844,
// RFC 5845 and RFC 5847 allocates nothing once the Decoder has seen a
// message of that shape. Other messages, and options this package keeps
// as RawOption or whose data is a list (flow mobility), are decoded by
// Parse's code and allocate as it does.
//
// What Decode returns is valid until the next Decode on the same Decoder:
// the message, its Options slice and every option are overwritten then.
// Byte slices in options (MobileNodeIdentifier.Identifier,
// MobileNodeLinkLayerID.ID) alias the input b rather than copying it, so b
// must not change while they are used. Copy what must outlive the next
// call (or use Parse). The zero Decoder is ready to use; a Decoder is not
// safe for concurrent use.
type Decoder struct {
	pbu ProxyBindingUpdate
	pba ProxyBindingAck
	hb  Heartbeat

	opts []Option

	mnid  slab[MobileNodeIdentifier]
	hnp   slab[HomeNetworkPrefix]
	hi    slab[HandoffIndicatorOption]
	att   slab[AccessTechnologyTypeOption]
	llid  slab[MobileNodeLinkLayerID]
	lla   slab[LinkLocalAddress]
	ts    slab[Timestamp]
	rc    slab[RestartCounter]
	v4hoa slab[IPv4HomeAddress]
	v4coa slab[IPv4CareOfAddress]
	gre   slab[GREKey]
	v4req slab[IPv4HomeAddressRequest]
	v4rep slab[IPv4HomeAddressReply]
	v4dr  slab[IPv4DefaultRouterAddress]
	dhcp  slab[IPv4DHCPSupportMode]
	magv6 slab[MAGIPv6Address]
}

// slab hands out zeroed values of T, reusing its array after reset. When
// the array grows, values handed out before stay valid in the old one.
type slab[T any] struct{ s []T }

func (s *slab[T]) next() *T {
	var zero T
	if len(s.s) < cap(s.s) {
		s.s = s.s[:len(s.s)+1]
		p := &s.s[len(s.s)-1]
		*p = zero
		return p
	}
	s.s = append(s.s, zero)
	return &s.s[len(s.s)-1]
}

func (s *slab[T]) reset() { s.s = s.s[:0] }

// Decode parses one Mobility Header like Parse: the same checks (RFC 6275
// 6.1.1 and 9.2, each message's and option's own), the same errors, an
// equal message. See Decoder for how long the result is valid.
func (d *Decoder) Decode(b []byte) (Message, error) {
	// The checks of Parse, in its order: a message of a type decoded
	// here must be refused exactly when Parse refuses it.
	total, err := checkHeader(b)
	if err != nil {
		return nil, err
	}
	t := Type(b[2])
	var m Message
	switch {
	case t == TypeBindingUpdate && (len(b) < 10 || binary.BigEndian.Uint16(b[8:10])&uint16(BUFlagQuery) == 0):
		d.pbu = ProxyBindingUpdate{}
		m = &d.pbu
	case t == TypeBindingAck && (len(b) < 8 || BAFlags(b[7])&BAFlagQuery == 0):
		d.pba = ProxyBindingAck{}
		m = &d.pba
	case t == TypeHeartbeat:
		d.hb = Heartbeat{}
		m = &d.hb
	default:
		// Queries, revocation, Binding Error, notifications and unknown
		// types: rare on the hot path, decoded by Parse.
		return Parse(b)
	}
	body := b[headerLen:total]
	n := m.fixedLen()
	// RFC 6275 9.2: a message whose Header Len is smaller than its type
	// requires is silently discarded; we report why.
	if len(body) < n {
		return nil, fmt.Errorf("mh: %w", errLength("%s needs %d octets of message data, header len allows %d", t, n, len(body)))
	}
	if err := m.parseFixed(body[:n]); err != nil {
		return nil, fmt.Errorf("mh: %s: %w", t, err)
	}
	opts, err := d.parseOptions(body[n:])
	if err != nil {
		return nil, fmt.Errorf("mh: %s: %w", t, err)
	}
	m.setMobilityOptions(opts)
	return m, nil
}

// parseOptions is parseOptions (RFC 6275 6.2.1) into the Decoder's slabs.
// Like Parse, it returns nil when there are no options.
func (d *Decoder) parseOptions(b []byte) ([]Option, error) {
	d.reset()
	opts := d.opts[:0]
	for i := 0; ; {
		t, data, next, err := nextOption(b, i)
		if err != nil {
			return nil, err
		}
		if next < 0 {
			break
		}
		i = next
		o, err := d.option(t, data)
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", t, err)
		}
		opts = append(opts, o)
	}
	d.opts = opts
	if len(opts) == 0 {
		return nil, nil
	}
	return opts, nil
}

func (d *Decoder) reset() {
	d.mnid.reset()
	d.hnp.reset()
	d.hi.reset()
	d.att.reset()
	d.llid.reset()
	d.lla.reset()
	d.ts.reset()
	d.rc.reset()
	d.v4hoa.reset()
	d.v4coa.reset()
	d.gre.reset()
	d.v4req.reset()
	d.v4rep.reset()
	d.v4dr.reset()
	d.dhcp.reset()
	d.magv6.reset()
}

// option decodes one option's data into a slab value, or as Parse does
// for the types without a slab.
func (d *Decoder) option(t OptionType, data []byte) (Option, error) {
	var o Option
	switch t {
	case OptMobileNodeIdentifier:
		// RFC 4283 3 as MobileNodeIdentifier.parseData, without the copy.
		p := d.mnid.next()
		if len(data) < 1 {
			return nil, errShort("mobile node identifier", 1, 0)
		}
		p.Subtype, p.Identifier = MNIDSubtype(data[0]), data[1:len(data):len(data)]
		if err := p.validate(); err != nil {
			return nil, err
		}
		return p, nil
	case OptMobileNodeLinkLayerID:
		// RFC 5213 8.6 as MobileNodeLinkLayerID.parseData, without the
		// copy.
		p := d.llid.next()
		if len(data) < 3 {
			return nil, errLength("link-layer identifier option length %d, needs reserved octets and an identifier (RFC 5213 8.6)", len(data))
		}
		p.ID = data[2:len(data):len(data)]
		return p, nil
	case OptHomeNetworkPrefix:
		o = d.hnp.next()
	case OptHandoffIndicator:
		o = d.hi.next()
	case OptAccessTechnologyType:
		o = d.att.next()
	case OptLinkLocalAddress:
		o = d.lla.next()
	case OptTimestamp:
		o = d.ts.next()
	case OptRestartCounter:
		o = d.rc.next()
	case OptIPv4HomeAddress:
		o = d.v4hoa.next()
	case OptIPv4CareOfAddress:
		o = d.v4coa.next()
	case OptGREKey:
		o = d.gre.next()
	case OptIPv4HomeAddressRequest:
		o = d.v4req.next()
	case OptIPv4HomeAddressReply:
		o = d.v4rep.next()
	case OptIPv4DefaultRouterAddress:
		o = d.v4dr.next()
	case OptIPv4DHCPSupportMode:
		o = d.dhcp.next()
	case OptMAGIPv6Address:
		o = d.magv6.next()
	default:
		o = newOption(t)
	}
	if err := o.parseData(data); err != nil {
		return nil, err
	}
	return o, nil
}
