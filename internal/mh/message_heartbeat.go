package mh

import (
	"encoding/binary"
	"fmt"
)

// HeartbeatFlags are the flag bits of a Heartbeat message (RFC 5847 5.1).
type HeartbeatFlags uint8

// Heartbeat flags (RFC 5847 5.1).
const (
	// HeartbeatUnsolicited (U): an unsolicited response, sent after a
	// restart or to tell the peer of a failure.
	HeartbeatUnsolicited HeartbeatFlags = 0x02
	// HeartbeatResponse (R): a response; clear in a request.
	HeartbeatResponse HeartbeatFlags = 0x01
)

func (f HeartbeatFlags) String() string {
	s := "["
	if f&HeartbeatUnsolicited != 0 {
		s += "U"
	}
	if f&HeartbeatResponse != 0 {
		if len(s) > 1 {
			s += " "
		}
		s += "R"
	}
	if r := f &^ (HeartbeatUnsolicited | HeartbeatResponse); r != 0 {
		s += fmt.Sprintf(" %#02x", uint8(r))
	}
	return s + "]"
}

// Heartbeat is the Heartbeat message (RFC 5847 5.1) that MAG and LMA
// exchange to detect a failed or restarted peer; a restart is signalled by
// a RestartCounter option (RFC 5847 5.2).
type Heartbeat struct {
	Flags    HeartbeatFlags
	Sequence uint32
	Options  []Option
}

var _ Message = (*Heartbeat)(nil)

// Type implements Message.
func (m *Heartbeat) Type() Type                    { return TypeHeartbeat }
func (m *Heartbeat) fixedLen() int                 { return 6 }
func (m *Heartbeat) mobilityOptions() []Option     { return m.Options }
func (m *Heartbeat) setMobilityOptions(o []Option) { m.Options = o }

func (m *Heartbeat) appendFixed(b []byte) ([]byte, error) {
	// RFC 5847 5.1: Reserved (8 bits), Reserved (6 bits) U R, Sequence
	// Number (32 bits).
	b = append(b, 0, byte(m.Flags))
	return binary.BigEndian.AppendUint32(b, m.Sequence), nil
}

func (m *Heartbeat) parseFixed(b []byte) error {
	m.Flags = HeartbeatFlags(b[1])
	m.Sequence = binary.BigEndian.Uint32(b[2:6])
	return nil
}
