package mh

import (
	"encoding/binary"
	"strings"
	"time"
)

// BUFlags are the flag bits of a Binding Update (RFC 6275 6.1.7; IANA
// "Binding Update Flags"). Unknown bits are kept as received.
type BUFlags uint16

// Binding Update flags.
const (
	BUFlagA BUFlags = 0x8000 // Acknowledge, RFC 6275 6.1.7
	BUFlagH BUFlags = 0x4000 // Home Registration, RFC 6275 6.1.7
	BUFlagL BUFlags = 0x2000 // Link-Local Address Compatibility, RFC 6275 6.1.7
	BUFlagK BUFlags = 0x1000 // Key Management Mobility Capability, RFC 6275 6.1.7
	BUFlagM BUFlags = 0x0800 // MAP Registration, RFC 4140
	BUFlagR BUFlags = 0x0400 // Mobile Router, RFC 3963
	BUFlagP BUFlags = 0x0200 // Proxy Registration, RFC 5213 8.1
	BUFlagF BUFlags = 0x0100 // Forcing UDP encapsulation, RFC 5555
	BUFlagT BUFlags = 0x0080 // TLV-header format (GRE), RFC 5845 6.3
	BUFlagB BUFlags = 0x0040 // Bulk Binding Update, RFC 6602
	BUFlagS BUFlags = 0x0020 // Multicast subscription, RFC 7161
	BUFlagD BUFlags = 0x0010 // RFC 8885
)

var buFlagNames = []struct {
	f BUFlags
	n string
}{{BUFlagA, "A"}, {BUFlagH, "H"}, {BUFlagL, "L"}, {BUFlagK, "K"}, {BUFlagM, "M"}, {BUFlagR, "R"},
	{BUFlagP, "P"}, {BUFlagF, "F"}, {BUFlagT, "T"}, {BUFlagB, "B"}, {BUFlagS, "S"}, {BUFlagD, "D"}, {BUFlagQuery, "Q"}}

func (f BUFlags) String() string {
	var s []string
	for _, x := range buFlagNames {
		if f&x.f != 0 {
			s = append(s, x.n)
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// BAFlags are the flag bits of a Binding Acknowledgement (RFC 6275 6.1.8;
// IANA "Binding Acknowledgment Flags"). Unknown bits are kept as received.
type BAFlags uint8

// Binding Acknowledgement flags.
const (
	BAFlagK BAFlags = 0x80 // Key Management Mobility Capability, RFC 6275 6.1.8
	BAFlagR BAFlags = 0x40 // Mobile Router, RFC 3963
	BAFlagP BAFlags = 0x20 // Proxy Registration, RFC 5213 8.2
	BAFlagT BAFlags = 0x10 // TLV-header format (GRE), RFC 5845 6.3
	BAFlagB BAFlags = 0x08 // Bulk Binding Update, RFC 6602
	BAFlagS BAFlags = 0x04 // Multicast subscription, RFC 7161
	BAFlagD BAFlags = 0x02 // RFC 8885
)

func (f BAFlags) String() string {
	var s []string
	for _, x := range []struct {
		f BAFlags
		n string
	}{{BAFlagK, "K"}, {BAFlagR, "R"}, {BAFlagP, "P"}, {BAFlagT, "T"}, {BAFlagB, "B"}, {BAFlagS, "S"}, {BAFlagD, "D"}, {BAFlagQuery, "Q"}} {
		if f&x.f != 0 {
			s = append(s, x.n)
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// LifetimeUnit is the unit of the Lifetime field of Binding Updates and
// Acknowledgements (RFC 6275 6.1.7: "one time unit is 4 seconds").
const LifetimeUnit = 4 * time.Second

// MaxLifetime is the largest Lifetime the 16-bit field can carry.
const MaxLifetime = 0xffff * LifetimeUnit

func lifetimeUnits(d time.Duration) (uint16, error) {
	if d < 0 || d > MaxLifetime || d%LifetimeUnit != 0 {
		return 0, errInvalid("lifetime %v is not a multiple of %v between 0 and %v (RFC 6275 6.1.7)", d, LifetimeUnit, MaxLifetime)
	}
	return uint16(d / LifetimeUnit), nil
}

// appendBU appends the fixed part of a Binding Update (RFC 6275 6.1.7):
// Sequence #, flags (16 bits), Lifetime in 4-second units.
func appendBU(b []byte, seq uint16, flags BUFlags, lifetime time.Duration) ([]byte, error) {
	lt, err := lifetimeUnits(lifetime)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, seq)
	b = binary.BigEndian.AppendUint16(b, uint16(flags))
	return binary.BigEndian.AppendUint16(b, lt), nil
}

func parseBU(b []byte) (seq uint16, flags BUFlags, lifetime time.Duration) {
	return binary.BigEndian.Uint16(b[0:2]), BUFlags(binary.BigEndian.Uint16(b[2:4])),
		time.Duration(binary.BigEndian.Uint16(b[4:6])) * LifetimeUnit
}

// appendBA appends the fixed part of a Binding Acknowledgement (RFC 6275
// 6.1.8): Status, flags (8 bits), Sequence #, Lifetime in 4-second units.
func appendBA(b []byte, status Status, flags BAFlags, seq uint16, lifetime time.Duration) ([]byte, error) {
	lt, err := lifetimeUnits(lifetime)
	if err != nil {
		return nil, err
	}
	b = append(b, byte(status), byte(flags))
	b = binary.BigEndian.AppendUint16(b, seq)
	return binary.BigEndian.AppendUint16(b, lt), nil
}

func parseBA(b []byte) (status Status, flags BAFlags, seq uint16, lifetime time.Duration) {
	return Status(b[0]), BAFlags(b[1]), binary.BigEndian.Uint16(b[2:4]),
		time.Duration(binary.BigEndian.Uint16(b[4:6])) * LifetimeUnit
}

// ProxyBindingUpdate is a Binding Update (RFC 6275 6.1.7) as a MAG sends it
// for a mobile: the Proxy Binding Update of RFC 5213 8.1, with the P flag
// (and normally A) set and the options of RFC 5213 6.9.1.5 and RFC 5844 3.
// The codec does not force any flag; the engine decides.
type ProxyBindingUpdate struct {
	Sequence uint16
	Flags    BUFlags
	// Lifetime is a multiple of LifetimeUnit; 0 deregisters (RFC 5213
	// 6.9.1.2).
	Lifetime time.Duration
	Options  []Option
}

var _ Message = (*ProxyBindingUpdate)(nil)

// Type implements Message.
func (m *ProxyBindingUpdate) Type() Type                    { return TypeBindingUpdate }
func (m *ProxyBindingUpdate) fixedLen() int                 { return 6 }
func (m *ProxyBindingUpdate) mobilityOptions() []Option     { return m.Options }
func (m *ProxyBindingUpdate) setMobilityOptions(o []Option) { m.Options = o }
func (m *ProxyBindingUpdate) appendFixed(b []byte) ([]byte, error) {
	if m.Flags&BUFlagQuery != 0 {
		return nil, errInvalid("Q flag set on a ProxyBindingUpdate; send a ProxyBindingQuery")
	}
	return appendBU(b, m.Sequence, m.Flags, m.Lifetime)
}
func (m *ProxyBindingUpdate) parseFixed(b []byte) error {
	m.Sequence, m.Flags, m.Lifetime = parseBU(b)
	return nil
}

// ProxyBindingQuery is the Proxy Binding Query of draft-jikim-dmm-pmip-00:
// a Proxy Binding Update with the Q flag (BUFlagQuery) by which a MAG asks
// the LMA which MAG serves a mobile. Flags never holds BUFlagQuery: Parse
// clears it and Marshal sets it.
type ProxyBindingQuery struct {
	Sequence uint16
	Flags    BUFlags
	Lifetime time.Duration
	Options  []Option
}

var _ Message = (*ProxyBindingQuery)(nil)

// Type implements Message.
func (m *ProxyBindingQuery) Type() Type                    { return TypeBindingUpdate }
func (m *ProxyBindingQuery) fixedLen() int                 { return 6 }
func (m *ProxyBindingQuery) mobilityOptions() []Option     { return m.Options }
func (m *ProxyBindingQuery) setMobilityOptions(o []Option) { m.Options = o }
func (m *ProxyBindingQuery) appendFixed(b []byte) ([]byte, error) {
	return appendBU(b, m.Sequence, m.Flags|BUFlagQuery, m.Lifetime)
}
func (m *ProxyBindingQuery) parseFixed(b []byte) error {
	m.Sequence, m.Flags, m.Lifetime = parseBU(b)
	m.Flags &^= BUFlagQuery
	return nil
}

// ProxyBindingAck is a Binding Acknowledgement (RFC 6275 6.1.8) as an LMA
// sends it to a MAG: the Proxy Binding Acknowledgement of RFC 5213 8.2,
// with the P flag set and the options of RFC 5213 5.3 and RFC 5844 3.
type ProxyBindingAck struct {
	Status   Status
	Flags    BAFlags
	Sequence uint16
	// Lifetime granted, a multiple of LifetimeUnit.
	Lifetime time.Duration
	Options  []Option
}

var _ Message = (*ProxyBindingAck)(nil)

// Type implements Message.
func (m *ProxyBindingAck) Type() Type                    { return TypeBindingAck }
func (m *ProxyBindingAck) fixedLen() int                 { return 6 }
func (m *ProxyBindingAck) mobilityOptions() []Option     { return m.Options }
func (m *ProxyBindingAck) setMobilityOptions(o []Option) { m.Options = o }
func (m *ProxyBindingAck) appendFixed(b []byte) ([]byte, error) {
	if m.Flags&BAFlagQuery != 0 {
		return nil, errInvalid("Q flag set on a ProxyBindingAck; send a ProxyQueryAck")
	}
	return appendBA(b, m.Status, m.Flags, m.Sequence, m.Lifetime)
}
func (m *ProxyBindingAck) parseFixed(b []byte) error {
	m.Status, m.Flags, m.Sequence, m.Lifetime = parseBA(b)
	return nil
}

// ProxyQueryAck is the Proxy Query Ack of draft-jikim-dmm-pmip-00: a Proxy
// Binding Acknowledgement with the Q flag (BAFlagQuery) answering a
// ProxyBindingQuery, normally with a MAGIPv6Address option naming the
// mobile's serving MAG. Flags never holds BAFlagQuery: Parse clears it and
// Marshal sets it.
type ProxyQueryAck struct {
	Status   Status
	Flags    BAFlags
	Sequence uint16
	Lifetime time.Duration
	Options  []Option
}

var _ Message = (*ProxyQueryAck)(nil)

// Type implements Message.
func (m *ProxyQueryAck) Type() Type                    { return TypeBindingAck }
func (m *ProxyQueryAck) fixedLen() int                 { return 6 }
func (m *ProxyQueryAck) mobilityOptions() []Option     { return m.Options }
func (m *ProxyQueryAck) setMobilityOptions(o []Option) { m.Options = o }
func (m *ProxyQueryAck) appendFixed(b []byte) ([]byte, error) {
	return appendBA(b, m.Status, m.Flags|BAFlagQuery, m.Sequence, m.Lifetime)
}
func (m *ProxyQueryAck) parseFixed(b []byte) error {
	m.Status, m.Flags, m.Sequence, m.Lifetime = parseBA(b)
	m.Flags &^= BAFlagQuery
	return nil
}
