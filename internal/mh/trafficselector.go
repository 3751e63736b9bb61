package mh

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// TSFormat is the TS Format of a traffic selector (RFC 6088 3; IANA
// "Traffic Selector Format").
type TSFormat uint8

// Traffic selector formats (RFC 6088 3).
const (
	TSFormatIPv4Binary TSFormat = 1 // RFC 6088 3.1
	TSFormatIPv6Binary TSFormat = 2 // RFC 6088 3.2
)

func (f TSFormat) String() string {
	switch f {
	case TSFormatIPv4Binary:
		return "IPv4 binary"
	case TSFormatIPv6Binary:
		return "IPv6 binary"
	}
	return fmt.Sprintf("TS format %d", uint8(f))
}

// TrafficSelector is the Traffic Selector sub-option of the Flow
// Identification option (RFC 6089 4.2.1.4): a TS Format, a reserved
// octet, and the selector in that format (RFC 6088 3). Selector is kept
// as sent; IPv4 and IPv6 decode and encode the binary formats.
type TrafficSelector struct {
	Format   TSFormat
	Selector []byte
}

// SubCode implements FlowSubOption.
func (s *TrafficSelector) SubCode() FlowSubOptionType { return FlowSubTrafficSelector }
func (s *TrafficSelector) marshalData() ([]byte, error) {
	return append([]byte{byte(s.Format), 0}, s.Selector...), nil
}
func (s *TrafficSelector) parseData(b []byte) error {
	if len(b) < 2 {
		return errLength("traffic selector length %d, RFC 6089 4.2.1.4 needs at least 2", len(b))
	}
	s.Format = TSFormat(b[0])
	s.Selector = append([]byte{}, b[2:]...)
	return nil
}

// TSFlags says which fields of a binary traffic selector are present (RFC
// 6088 3.1, 3.2): the flag bits A, B, C ... from the most significant bit
// down, each naming one field, the fields following in flag order.
type TSFlags uint16

// IPv4 binary traffic selector flags (RFC 6088 3.1). The two lowest bits
// are reserved.
const (
	TS4StartSrcAddr  TSFlags = 0x8000 // A
	TS4EndSrcAddr    TSFlags = 0x4000 // B
	TS4StartDstAddr  TSFlags = 0x2000 // C
	TS4EndDstAddr    TSFlags = 0x1000 // D
	TS4StartSPI      TSFlags = 0x0800 // E
	TS4EndSPI        TSFlags = 0x0400 // F
	TS4StartSrcPort  TSFlags = 0x0200 // G
	TS4EndSrcPort    TSFlags = 0x0100 // H
	TS4StartDstPort  TSFlags = 0x0080 // I
	TS4EndDstPort    TSFlags = 0x0040 // J
	TS4StartDS       TSFlags = 0x0020 // K
	TS4EndDS         TSFlags = 0x0010 // L
	TS4StartProtocol TSFlags = 0x0008 // M
	TS4EndProtocol   TSFlags = 0x0004 // N
)

// IPv6 binary traffic selector flags (RFC 6088 3.2).
const (
	TS6StartSrcAddr      TSFlags = 0x8000 // A
	TS6EndSrcAddr        TSFlags = 0x4000 // B
	TS6StartDstAddr      TSFlags = 0x2000 // C
	TS6EndDstAddr        TSFlags = 0x1000 // D
	TS6StartSPI          TSFlags = 0x0800 // E
	TS6EndSPI            TSFlags = 0x0400 // F
	TS6StartFlowLabel    TSFlags = 0x0200 // G
	TS6EndFlowLabel      TSFlags = 0x0100 // H
	TS6StartSrcPort      TSFlags = 0x0080 // I
	TS6EndSrcPort        TSFlags = 0x0040 // J
	TS6StartDstPort      TSFlags = 0x0020 // K
	TS6EndDstPort        TSFlags = 0x0010 // L
	TS6StartTrafficClass TSFlags = 0x0008 // M
	TS6EndTrafficClass   TSFlags = 0x0004 // N
	TS6StartNextHeader   TSFlags = 0x0002 // O
	TS6EndNextHeader     TSFlags = 0x0001 // P
)

// BinaryTS is a binary traffic selector (RFC 6088 3.1 for IPv4, 3.2 for
// IPv6): ranges of addresses, SPIs, (IPv6) flow labels, ports, DS or
// traffic class, and protocol or next header. Flags says which bounds are
// present; a bound whose flag is clear must be zero. Address fields hold
// IPv4 addresses in the IPv4 format and IPv6 addresses in the IPv6 one.
type BinaryTS struct {
	Flags                TSFlags
	StartSrc, EndSrc     netip.Addr
	StartDst, EndDst     netip.Addr
	StartSPI, EndSPI     uint32
	StartFlowLabel       uint32 // IPv6 only; 20 bits in a 32-bit field
	EndFlowLabel         uint32 // IPv6 only
	StartSrcPort         uint16
	EndSrcPort           uint16
	StartDstPort         uint16
	EndDstPort           uint16
	StartDS, EndDS       uint8 // DS field (IPv4) or Traffic Class (IPv6)
	StartProto, EndProto uint8 // Protocol (IPv4) or Next Header (IPv6)
}

// tsField is one field of a binary traffic selector: its flag, its size on
// the wire, and where it lives in BinaryTS.
type tsField struct {
	flag TSFlags
	size int // 4 or 16 for addresses, else the integer size
	addr func(*BinaryTS) *netip.Addr
	u32  func(*BinaryTS) *uint32
	u16  func(*BinaryTS) *uint16
	u8   func(*BinaryTS) *uint8
}

func addrField(f TSFlags, size int, p func(*BinaryTS) *netip.Addr) tsField {
	return tsField{flag: f, size: size, addr: p}
}

var (
	tsSrcStart = func(t *BinaryTS) *netip.Addr { return &t.StartSrc }
	tsSrcEnd   = func(t *BinaryTS) *netip.Addr { return &t.EndSrc }
	tsDstStart = func(t *BinaryTS) *netip.Addr { return &t.StartDst }
	tsDstEnd   = func(t *BinaryTS) *netip.Addr { return &t.EndDst }
)

// ts4Fields and ts6Fields are the field orders of RFC 6088 3.1 and 3.2.
var ts4Fields = []tsField{
	addrField(TS4StartSrcAddr, 4, tsSrcStart), addrField(TS4EndSrcAddr, 4, tsSrcEnd),
	addrField(TS4StartDstAddr, 4, tsDstStart), addrField(TS4EndDstAddr, 4, tsDstEnd),
	{flag: TS4StartSPI, size: 4, u32: func(t *BinaryTS) *uint32 { return &t.StartSPI }},
	{flag: TS4EndSPI, size: 4, u32: func(t *BinaryTS) *uint32 { return &t.EndSPI }},
	{flag: TS4StartSrcPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.StartSrcPort }},
	{flag: TS4EndSrcPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.EndSrcPort }},
	{flag: TS4StartDstPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.StartDstPort }},
	{flag: TS4EndDstPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.EndDstPort }},
	{flag: TS4StartDS, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.StartDS }},
	{flag: TS4EndDS, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.EndDS }},
	{flag: TS4StartProtocol, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.StartProto }},
	{flag: TS4EndProtocol, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.EndProto }},
}

var ts6Fields = []tsField{
	addrField(TS6StartSrcAddr, 16, tsSrcStart), addrField(TS6EndSrcAddr, 16, tsSrcEnd),
	addrField(TS6StartDstAddr, 16, tsDstStart), addrField(TS6EndDstAddr, 16, tsDstEnd),
	{flag: TS6StartSPI, size: 4, u32: func(t *BinaryTS) *uint32 { return &t.StartSPI }},
	{flag: TS6EndSPI, size: 4, u32: func(t *BinaryTS) *uint32 { return &t.EndSPI }},
	{flag: TS6StartFlowLabel, size: 4, u32: func(t *BinaryTS) *uint32 { return &t.StartFlowLabel }},
	{flag: TS6EndFlowLabel, size: 4, u32: func(t *BinaryTS) *uint32 { return &t.EndFlowLabel }},
	{flag: TS6StartSrcPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.StartSrcPort }},
	{flag: TS6EndSrcPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.EndSrcPort }},
	{flag: TS6StartDstPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.StartDstPort }},
	{flag: TS6EndDstPort, size: 2, u16: func(t *BinaryTS) *uint16 { return &t.EndDstPort }},
	{flag: TS6StartTrafficClass, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.StartDS }},
	{flag: TS6EndTrafficClass, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.EndDS }},
	{flag: TS6StartNextHeader, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.StartProto }},
	{flag: TS6EndNextHeader, size: 1, u8: func(t *BinaryTS) *uint8 { return &t.EndProto }},
}

func tsFieldsFor(f TSFormat) ([]tsField, error) {
	switch f {
	case TSFormatIPv4Binary:
		return ts4Fields, nil
	case TSFormatIPv6Binary:
		return ts6Fields, nil
	}
	return nil, errInvalid("traffic selector format %d is not a binary format of RFC 6088", f)
}

// NewTrafficSelector encodes ts in format f (RFC 6088 3.1 or 3.2) as a
// Traffic Selector sub-option.
func NewTrafficSelector(f TSFormat, ts *BinaryTS) (*TrafficSelector, error) {
	s, err := newTrafficSelector(f, ts)
	if err != nil {
		return nil, fmt.Errorf("mh: traffic selector: %w", err)
	}
	return s, nil
}

func newTrafficSelector(f TSFormat, ts *BinaryTS) (*TrafficSelector, error) {
	fields, err := tsFieldsFor(f)
	if err != nil {
		return nil, err
	}
	// RFC 6088 3.1: the two lowest flag bits of the IPv4 format are
	// reserved and sent as zero.
	if f == TSFormatIPv4Binary && ts.Flags&3 != 0 {
		return nil, errInvalid("reserved IPv4 traffic selector flags %#04x set", uint16(ts.Flags&3))
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(ts.Flags))
	for _, fl := range fields {
		present := ts.Flags&fl.flag != 0
		switch {
		case fl.addr != nil:
			a := *fl.addr(ts)
			if !present {
				if a.IsValid() {
					return nil, errInvalid("traffic selector address %v given without its flag %#04x", a, uint16(fl.flag))
				}
				continue
			}
			if (fl.size == 4 && !a.Is4()) || (fl.size == 16 && (!a.Is6() || a.Zone() != "")) {
				return nil, errInvalid("traffic selector address %v does not fit format %s", a, f)
			}
			b = append(b, a.AsSlice()...)
		case fl.u32 != nil:
			v := *fl.u32(ts)
			if !present {
				if v != 0 {
					return nil, errInvalid("traffic selector value %d given without its flag %#04x", v, uint16(fl.flag))
				}
				continue
			}
			b = binary.BigEndian.AppendUint32(b, v)
		case fl.u16 != nil:
			v := *fl.u16(ts)
			if !present {
				if v != 0 {
					return nil, errInvalid("traffic selector port %d given without its flag %#04x", v, uint16(fl.flag))
				}
				continue
			}
			b = binary.BigEndian.AppendUint16(b, v)
		default:
			v := *fl.u8(ts)
			if !present {
				if v != 0 {
					return nil, errInvalid("traffic selector value %d given without its flag %#04x", v, uint16(fl.flag))
				}
				continue
			}
			b = append(b, v)
		}
	}
	if f == TSFormatIPv4Binary && (ts.StartFlowLabel != 0 || ts.EndFlowLabel != 0) {
		return nil, errInvalid("flow label in an IPv4 traffic selector")
	}
	return &TrafficSelector{Format: f, Selector: b}, nil
}

// Binary decodes the selector in the binary format its Format names (RFC
// 6088 3.1, 3.2).
func (s *TrafficSelector) Binary() (*BinaryTS, error) {
	ts, err := s.binary()
	if err != nil {
		return nil, fmt.Errorf("mh: traffic selector: %w", err)
	}
	return ts, nil
}

func (s *TrafficSelector) binary() (*BinaryTS, error) {
	fields, err := tsFieldsFor(s.Format)
	if err != nil {
		return nil, err
	}
	b := s.Selector
	if len(b) < 2 {
		return nil, errShort("binary traffic selector flags", 2, len(b))
	}
	ts := &BinaryTS{Flags: TSFlags(binary.BigEndian.Uint16(b))}
	b = b[2:]
	for _, fl := range fields {
		if ts.Flags&fl.flag == 0 {
			continue
		}
		if len(b) < fl.size {
			return nil, errShort(fmt.Sprintf("traffic selector field %#04x", uint16(fl.flag)), fl.size, len(b))
		}
		switch {
		case fl.addr != nil:
			a, _ := netip.AddrFromSlice(b[:fl.size])
			*fl.addr(ts) = a
		case fl.u32 != nil:
			*fl.u32(ts) = binary.BigEndian.Uint32(b)
		case fl.u16 != nil:
			*fl.u16(ts) = binary.BigEndian.Uint16(b)
		default:
			*fl.u8(ts) = b[0]
		}
		b = b[fl.size:]
	}
	if len(b) != 0 {
		return nil, errLength("%d octets after the last traffic selector field", len(b))
	}
	return ts, nil
}
