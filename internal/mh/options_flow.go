package mh

import (
	"encoding/binary"
	"fmt"
)

// FlowIDStatus is the Status of a Flow Identification option (RFC 6089
// 4.2; IANA "Flow Identification Mobility Option Status Codes").
type FlowIDStatus uint8

// Flow Identification status values (RFC 6089 4.2).
const (
	FlowBindingSuccessful          FlowIDStatus = 0
	FlowAdministrativelyProhibited FlowIDStatus = 128
	FlowBindingRejected            FlowIDStatus = 129
	FlowIdentificationMalformed    FlowIDStatus = 130
	FlowBIDNotFound                FlowIDStatus = 131
	FlowFIDNotFound                FlowIDStatus = 132
	FlowTSFormatNotSupported       FlowIDStatus = 133
)

func (s FlowIDStatus) String() string {
	switch s {
	case FlowBindingSuccessful:
		return "Flow binding successful"
	case FlowAdministrativelyProhibited:
		return "Administratively prohibited"
	case FlowBindingRejected:
		return "Flow binding rejected, reason unspecified"
	case FlowIdentificationMalformed:
		return "Flow identification mobility option malformed"
	case FlowBIDNotFound:
		return "BID not found"
	case FlowFIDNotFound:
		return "FID not found"
	case FlowTSFormatNotSupported:
		return "Traffic selector format not supported"
	}
	return fmt.Sprintf("flow status %d", uint8(s))
}

// FlowSummary is the Flow Summary option (RFC 6089 4.3): the FIDs of
// flows refreshed without change. Alignment 2n, for the 16-bit FIDs.
type FlowSummary struct {
	FIDs []uint16
}

var _ Option = (*FlowSummary)(nil)

// Code implements Option.
func (o *FlowSummary) Code() OptionType      { return OptFlowSummary }
func (o *FlowSummary) alignment() (int, int) { return 2, 0 }
func (o *FlowSummary) marshalData() ([]byte, error) {
	// RFC 6089 4.3: at least one FID.
	if len(o.FIDs) == 0 {
		return nil, errInvalid("flow summary without FIDs (RFC 6089 4.3)")
	}
	var b []byte
	for _, f := range o.FIDs {
		b = binary.BigEndian.AppendUint16(b, f)
	}
	return b, nil
}
func (o *FlowSummary) parseData(b []byte) error {
	if len(b) == 0 || len(b)%2 != 0 {
		return errLength("flow summary length %d, RFC 6089 4.3 says a non-zero multiple of 2", len(b))
	}
	o.FIDs = make([]uint16, len(b)/2)
	for i := range o.FIDs {
		o.FIDs[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return nil
}

// FlowIdentification is the Flow Identification option (RFC 6089 4.2): one
// flow binding, its priority, status and sub-options (a BIDReference naming
// the binding the flow goes to, a TrafficSelector describing the flow).
// Alignment 2n, for the 16-bit FID and FID-PRI.
type FlowIdentification struct {
	FID      uint16
	Priority uint16
	Status   FlowIDStatus
	// SubOptions in order; Pad and PadN sub-options are dropped on
	// parse and never inserted.
	SubOptions []FlowSubOption
}

var _ Option = (*FlowIdentification)(nil)

// Code implements Option.
func (o *FlowIdentification) Code() OptionType      { return OptFlowIdentification }
func (o *FlowIdentification) alignment() (int, int) { return 2, 0 }

func (o *FlowIdentification) marshalData() ([]byte, error) {
	// RFC 6089 4.2: FID, FID-PRI, Reserved, Status, sub-options.
	b := binary.BigEndian.AppendUint16(nil, o.FID)
	b = binary.BigEndian.AppendUint16(b, o.Priority)
	b = append(b, 0, byte(o.Status))
	for _, s := range o.SubOptions {
		if s == nil {
			return nil, errInvalid("nil flow sub-option")
		}
		d, err := s.marshalData()
		if err != nil {
			return nil, fmt.Errorf("sub-option %d: %w", s.SubCode(), err)
		}
		if len(d) > 255 {
			return nil, errLength("flow sub-option %d is %d octets, at most 255 fit", s.SubCode(), len(d))
		}
		b = append(b, byte(s.SubCode()), byte(len(d)))
		b = append(b, d...)
	}
	return b, nil
}

func (o *FlowIdentification) parseData(b []byte) error {
	if len(b) < 6 {
		return errLength("flow identification length %d, RFC 6089 4.2 needs at least 6", len(b))
	}
	o.FID = binary.BigEndian.Uint16(b[0:2])
	o.Priority = binary.BigEndian.Uint16(b[2:4])
	o.Status = FlowIDStatus(b[5])
	o.SubOptions = nil
	for i := 6; i < len(b); {
		t := FlowSubOptionType(b[i])
		// RFC 6089 4.2.1: Pad is a single octet.
		if t == FlowSubPad {
			i++
			continue
		}
		if i+2 > len(b) {
			return errLength("flow sub-option %d at offset %d has no length octet", t, i)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return errLength("flow sub-option %d at offset %d: length %d runs past the option", t, i, n)
		}
		d := b[i+2 : i+2+n]
		i += 2 + n
		if t == FlowSubPadN {
			continue
		}
		s := newFlowSubOption(t)
		if err := s.parseData(d); err != nil {
			return fmt.Errorf("sub-option %d: %w", t, err)
		}
		o.SubOptions = append(o.SubOptions, s)
	}
	return nil
}

// FlowSubOptionType is the type of a Flow Identification sub-option (RFC
// 6089 4.2.1; IANA "Flow Identification Sub-Options").
type FlowSubOptionType uint8

// Flow Identification sub-option types (RFC 6089 4.2.1).
const (
	FlowSubPad             FlowSubOptionType = 0
	FlowSubPadN            FlowSubOptionType = 1
	FlowSubBIDReference    FlowSubOptionType = 2
	FlowSubTrafficSelector FlowSubOptionType = 3
)

// FlowSubOption is a sub-option of the Flow Identification option (RFC
// 6089 4.2.1): *BIDReference, *TrafficSelector or *RawFlowSubOption.
type FlowSubOption interface {
	SubCode() FlowSubOptionType
	marshalData() ([]byte, error)
	parseData(b []byte) error
}

func newFlowSubOption(t FlowSubOptionType) FlowSubOption {
	switch t {
	case FlowSubBIDReference:
		return &BIDReference{}
	case FlowSubTrafficSelector:
		return &TrafficSelector{}
	}
	return &RawFlowSubOption{Type: t}
}

// RawFlowSubOption keeps a Flow Identification sub-option (RFC 6089
// 4.2.1) of a type this package does not decode, byte-exact.
type RawFlowSubOption struct {
	Type FlowSubOptionType
	Data []byte
}

// SubCode implements FlowSubOption.
func (s *RawFlowSubOption) SubCode() FlowSubOptionType { return s.Type }
func (s *RawFlowSubOption) marshalData() ([]byte, error) {
	if s.Type == FlowSubPad || s.Type == FlowSubPadN {
		return nil, errInvalid("padding sub-options are not given explicitly")
	}
	return s.Data, nil
}
func (s *RawFlowSubOption) parseData(b []byte) error {
	s.Data = append([]byte{}, b...)
	return nil
}

// BIDReference is the BID Reference sub-option (RFC 6089 4.2.1.3): the
// Binding IDs the flow is bound to.
type BIDReference struct {
	BIDs []uint16
}

// SubCode implements FlowSubOption.
func (s *BIDReference) SubCode() FlowSubOptionType { return FlowSubBIDReference }
func (s *BIDReference) marshalData() ([]byte, error) {
	if len(s.BIDs) == 0 {
		return nil, errInvalid("BID reference without BIDs (RFC 6089 4.2.1.3)")
	}
	var b []byte
	for _, x := range s.BIDs {
		b = binary.BigEndian.AppendUint16(b, x)
	}
	return b, nil
}
func (s *BIDReference) parseData(b []byte) error {
	if len(b) == 0 || len(b)%2 != 0 {
		return errLength("BID reference length %d, RFC 6089 4.2.1.3 says a non-zero multiple of 2", len(b))
	}
	s.BIDs = make([]uint16, len(b)/2)
	for i := range s.BIDs {
		s.BIDs[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return nil
}
