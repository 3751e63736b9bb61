package mh

import "fmt"

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
