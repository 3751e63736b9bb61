package mh

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Protocol numbers and ports.
const (
	// IPProtoMH is the IPv6 Next Header value of the Mobility Header
	// (RFC 6275 6.1.1).
	IPProtoMH = 135
	// IPProtoNone is the only Payload Proto value a Mobility Header may
	// carry (RFC 6275 6.1.1: "MUST set this field to IPPROTO_NONE (59)").
	IPProtoNone = 59
	// UDPPort is the port for Mobility Header messages carried over
	// UDP/IPv4 between MAG and LMA (RFC 5844 4).
	UDPPort = 5436

	// headerLen is Payload Proto, Header Len, MH Type, Reserved and
	// Checksum (RFC 6275 6.1.1).
	headerLen = 6
	// maxLen is the largest Mobility Header: Header Len is in 8-octet
	// units not counting the first 8 (RFC 6275 6.1.1), so (255+1)*8.
	maxLen = 256 * 8
)

// Type is the MH Type field (RFC 6275 6.1.1; IANA "Mobility Header Types").
type Type uint8

// MH Type values used by Proxy Mobile IPv6.
const (
	TypeBindingRefreshRequest Type = 0  // RFC 6275 6.1.2
	TypeBindingUpdate         Type = 5  // RFC 6275 6.1.7, PBU: RFC 5213 8.1
	TypeBindingAck            Type = 6  // RFC 6275 6.1.8, PBA: RFC 5213 8.2
	TypeBindingError          Type = 7  // RFC 6275 6.1.9
	TypeHeartbeat             Type = 13 // RFC 5847 5.1
	TypeBindingRevocation     Type = 16 // RFC 5846 5
	TypeLocalizedRoutingInit  Type = 17 // RFC 6705 10.1
	TypeLocalizedRoutingAck   Type = 18 // RFC 6705 10.2
	TypeUpdateNotification    Type = 19 // RFC 7077 4.1
	TypeUpdateNotificationAck Type = 20 // RFC 7077 4.2
)

func (t Type) String() string {
	switch t {
	case TypeBindingRefreshRequest:
		return "Binding Refresh Request"
	case TypeBindingUpdate:
		return "Binding Update"
	case TypeBindingAck:
		return "Binding Acknowledgement"
	case TypeBindingError:
		return "Binding Error"
	case TypeHeartbeat:
		return "Heartbeat"
	case TypeBindingRevocation:
		return "Binding Revocation"
	case TypeLocalizedRoutingInit:
		return "Localized Routing Initiation"
	case TypeLocalizedRoutingAck:
		return "Localized Routing Acknowledgement"
	case TypeUpdateNotification:
		return "Update Notification"
	case TypeUpdateNotificationAck:
		return "Update Notification Acknowledgement"
	}
	return fmt.Sprintf("MH type %d", uint8(t))
}

// Message is one Mobility Header message (RFC 6275 6.1). The concrete types are
// *ProxyBindingUpdate, *ProxyBindingAck, *ProxyBindingQuery,
// *ProxyQueryAck, *BindingError, *Heartbeat, *BindingRevocationIndication,
// *BindingRevocationAck, *UpdateNotification, *UpdateNotificationAck and
// *UnknownMessage.
type Message interface {
	// Type is the MH Type this message is sent with.
	Type() Type
	// fixedLen is the length of the Message Data before the mobility
	// options, counted from the octet after the Checksum.
	fixedLen() int
	// appendFixed appends the fixed Message Data.
	appendFixed(b []byte) ([]byte, error)
	// parseFixed reads the fixed Message Data; len(b) == fixedLen().
	parseFixed(b []byte) error
	// mobilityOptions returns the options to marshal, in order.
	mobilityOptions() []Option
	// setMobilityOptions stores the options Parse found.
	setMobilityOptions([]Option)
}

// Parse decodes one Mobility Header. b starts at the Payload Proto octet and
// must hold exactly the header: Payload Proto 59 means nothing follows it
// (RFC 6275 6.1.1). The checksum is not verified (the kernel does that on a
// raw socket; see VerifyChecksum for other carriers).
func Parse(b []byte) (Message, error) {
	total, err := checkHeader(b)
	if err != nil {
		return nil, err
	}
	t := Type(b[2])
	m := newMessage(t, b)
	body := b[headerLen:total]
	if um, ok := m.(*UnknownMessage); ok {
		// Kept byte-exact, padding and options included.
		return um, um.parseFixed(body)
	}
	n := m.fixedLen()
	// RFC 6275 9.2: a message whose Header Len is smaller than its type
	// requires is silently discarded; we report why.
	if len(body) < n {
		return nil, fmt.Errorf("mh: %w", errLength("%s needs %d octets of message data, header len allows %d", t, n, len(body)))
	}
	if err := m.parseFixed(body[:n]); err != nil {
		return nil, fmt.Errorf("mh: %s: %w", t, err)
	}
	opts, err := parseOptions(body[n:])
	if err != nil {
		return nil, fmt.Errorf("mh: %s: %w", t, err)
	}
	m.setMobilityOptions(opts)
	return m, nil
}

// newMessage picks the Go type for an MH Type. Some types share an MH
// Type and are told apart by a field of the fixed data, which b (the whole
// header) is long enough to hold or not; when not, the main type of that
// MH Type is returned and its parseFixed reports the shortness.
func newMessage(t Type, b []byte) Message {
	switch t {
	case TypeBindingUpdate:
		// draft-jikim-dmm-pmip-00: a PBU with the Q flag is a Proxy
		// Binding Query.
		if len(b) >= 10 && binary.BigEndian.Uint16(b[8:10])&uint16(BUFlagQuery) != 0 {
			return &ProxyBindingQuery{}
		}
		return &ProxyBindingUpdate{}
	case TypeBindingAck:
		if len(b) >= 8 && BAFlags(b[7])&BAFlagQuery != 0 {
			return &ProxyQueryAck{}
		}
		return &ProxyBindingAck{}
	case TypeBindingError:
		return &BindingError{}
	case TypeHeartbeat:
		return &Heartbeat{}
	case TypeBindingRevocation:
		// RFC 5846 5: the B.R. Type octet tells BRI (1) from BRA (2).
		if len(b) >= 7 && RevocationType(b[6]) == RevocationTypeAck {
			return &BindingRevocationAck{}
		}
		if len(b) >= 7 && RevocationType(b[6]) != RevocationTypeIndication {
			return &UnknownMessage{MHType: t}
		}
		return &BindingRevocationIndication{}
	case TypeUpdateNotification:
		return &UpdateNotification{}
	case TypeUpdateNotificationAck:
		return &UpdateNotificationAck{}
	}
	return &UnknownMessage{MHType: t}
}

// Marshal encodes m as a Mobility Header with Payload Proto 59, options
// aligned as their RFCs require, total length padded to a multiple of 8
// octets (RFC 6275 6.1.1, 6.2), and the Checksum field left 0.
func Marshal(m Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("mh: %w", errInvalid("nil message"))
	}
	b := make([]byte, headerLen, 64)
	b[0] = IPProtoNone
	b[2] = byte(m.Type())
	b, err := m.appendFixed(b)
	if err != nil {
		return nil, fmt.Errorf("mh: %s: %w", m.Type(), err)
	}
	if _, ok := m.(*UnknownMessage); ok {
		if len(b)%8 != 0 {
			return nil, fmt.Errorf("mh: %w", errLength("unknown message data makes %d octets, not a multiple of 8", len(b)))
		}
	} else {
		b, err = appendOptions(b, m.mobilityOptions())
		if err != nil {
			return nil, fmt.Errorf("mh: %s: %w", m.Type(), err)
		}
		// RFC 6275 6.1.1: the header length is a multiple of 8 octets.
		b = appendPad(b, (8-len(b)%8)%8)
	}
	if len(b) > maxLen {
		return nil, fmt.Errorf("mh: %s is %d octets, more than %d: %w", m.Type(), len(b), maxLen, ErrTooLong)
	}
	b[1] = byte(len(b)/8 - 1)
	return b, nil
}

// UnknownMessage keeps a Mobility Header of an MH Type this package does
// not decode (RFC 6275 9.2 has a node answer those with a Binding Error;
// that is the engine's choice), byte-exact: Data is everything after the Checksum, options
// and padding included.
type UnknownMessage struct {
	MHType Type
	Data   []byte
}

// Type implements Message.
func (m *UnknownMessage) Type() Type                  { return m.MHType }
func (m *UnknownMessage) fixedLen() int               { return len(m.Data) }
func (m *UnknownMessage) mobilityOptions() []Option   { return nil }
func (m *UnknownMessage) setMobilityOptions([]Option) {}
func (m *UnknownMessage) appendFixed(b []byte) ([]byte, error) {
	return append(b, m.Data...), nil
}
func (m *UnknownMessage) parseFixed(b []byte) error {
	m.Data = append([]byte(nil), b...)
	return nil
}

var _ Message = (*UnknownMessage)(nil)

// checkHeader applies the checks every Mobility Header gets before its
// type is looked at (Parse and Decoder.Decode share them) and returns the
// message's length from Header Len.
func checkHeader(b []byte) (int, error) {
	if len(b) < headerLen {
		return 0, fmt.Errorf("mh: %w", errShort("mobility header", headerLen, len(b)))
	}
	// RFC 6275 6.1.1: Payload Proto MUST be IPPROTO_NONE; RFC 6275 9.2
	// has the receiver drop the packet otherwise (it answers with an
	// ICMP Parameter Problem, which is the caller's business).
	if b[0] != IPProtoNone {
		return 0, fmt.Errorf("mh: payload proto %d: %w", b[0], ErrPayloadProto)
	}
	// RFC 6275 6.1.1: Header Len counts 8-octet units, excluding the
	// first 8 octets.
	total := (int(b[1]) + 1) * 8
	if len(b) < total {
		return 0, fmt.Errorf("mh: header len %d says %d octets, have %d: %w", b[1], total, len(b), io.ErrUnexpectedEOF)
	}
	if len(b) > total {
		return 0, fmt.Errorf("mh: %w", errLength("header len %d says %d octets, have %d (payload proto 59 allows nothing after it)", b[1], total, len(b)))
	}
	return total, nil
}
