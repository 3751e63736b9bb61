package mh

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// NotificationReason is the Notification Reason of an Update Notification
// (RFC 7077 4.1; IANA "Update Notification Reasons Registry").
type NotificationReason uint8

// Notification Reasons.
const (
	ReasonForceReregistration     NotificationReason = 1 // RFC 7077 4.1
	ReasonUpdateSessionParameters NotificationReason = 2 // RFC 7077 4.1
	ReasonVendorSpecific          NotificationReason = 3 // RFC 7077 4.1
	ReasonANIParamsRequested      NotificationReason = 4 // RFC 7077 4.1
	ReasonQoSServiceRequest       NotificationReason = 5 // RFC 7222
	ReasonPCSCFRestorationPCO     NotificationReason = 6 // 3GPP TS 29.275
	ReasonPCSCFRestorationDHCP    NotificationReason = 7 // 3GPP TS 29.275
	ReasonFlowMobility            NotificationReason = 8 // RFC 7864 3.2
)

func (r NotificationReason) String() string {
	switch r {
	case ReasonForceReregistration:
		return "FORCE-REREGISTRATION"
	case ReasonUpdateSessionParameters:
		return "UPDATE-SESSION-PARAMETERS"
	case ReasonVendorSpecific:
		return "VENDOR-SPECIFIC-REASON"
	case ReasonANIParamsRequested:
		return "ANI-PARAMS-REQUESTED"
	case ReasonQoSServiceRequest:
		return "QOS_SERVICE_REQUEST"
	case ReasonPCSCFRestorationPCO:
		return "PGW-TRIGGERED-PCSCF-RESTORATION-PCO"
	case ReasonPCSCFRestorationDHCP:
		return "PGW-TRIGGERED-PCSCF-RESTORATION-DHCP"
	case ReasonFlowMobility:
		return "FLOW-MOBILITY"
	}
	return fmt.Sprintf("notification reason %d", uint8(r))
}

// UPNFlags are the flag bits of an Update Notification (RFC 7077 4.1).
type UPNFlags uint8

// Update Notification flags (RFC 7077 4.1).
const (
	// UPNFlagA (A), Acknowledgement Requested: the MAG must answer
	// with an Update Notification Acknowledgement.
	UPNFlagA UPNFlags = 0x80
	// UPNFlagD (D), the second flag of RFC 7077 4.1, kept as received;
	// its meaning is the engine's business.
	UPNFlagD UPNFlags = 0x40
)

func (f UPNFlags) String() string {
	var s []string
	if f&UPNFlagA != 0 {
		s = append(s, "A")
	}
	if f&UPNFlagD != 0 {
		s = append(s, "D")
	}
	return "[" + strings.Join(s, " ") + "]"
}

// UPAStatus is the Status of an Update Notification Acknowledgement (RFC
// 7077 4.2; IANA "Update Notification Acknowledgement Status Registry").
type UPAStatus uint8

// Update Notification Acknowledgement status values.
const (
	UPASuccess                       UPAStatus = 0   // RFC 7077 4.2
	UPAFailedToUpdateSessionParams   UPAStatus = 128 // RFC 7077 4.2
	UPAMissingVendorSpecificOption   UPAStatus = 129 // RFC 7077 4.2
	UPACannotMeetQoSServiceRequest   UPAStatus = 130 // RFC 7222
	UPAFlowMobilityReasonUnspecified UPAStatus = 131 // RFC 7864 3.2
	UPAFlowMobilityMNNotAttached     UPAStatus = 132 // RFC 7864 3.2
)

func (s UPAStatus) String() string {
	switch s {
	case UPASuccess:
		return "SUCCESS"
	case UPAFailedToUpdateSessionParams:
		return "FAILED-TO-UPDATE-SESSION-PARAMETERS"
	case UPAMissingVendorSpecificOption:
		return "MISSING-VENDOR-SPECIFIC-OPTION"
	case UPACannotMeetQoSServiceRequest:
		return "CANNOT_MEET_QOS_SERVICE_REQUEST"
	case UPAFlowMobilityReasonUnspecified:
		return "Reason unspecified"
	case UPAFlowMobilityMNNotAttached:
		return "MN not attached"
	}
	return fmt.Sprintf("UPA status %d", uint8(s))
}

// UpdateNotification is the Update Notification message (RFC 7077 4.1) an
// LMA sends to a MAG about a mobility session; with ReasonFlowMobility it
// carries the Flow Identification options that move flows between a
// mobile's MAGs (RFC 7864 3.2).
//
// Layout (RFC 7077 4.1): Sequence Number (16 bits), then a 32-bit word of
// Notification Reason (8 bits), A, D and Reserved (22 bits).
type UpdateNotification struct {
	Sequence uint16
	Reason   NotificationReason
	Flags    UPNFlags
	Options  []Option
}

var _ Message = (*UpdateNotification)(nil)

// Type implements Message.
func (m *UpdateNotification) Type() Type                    { return TypeUpdateNotification }
func (m *UpdateNotification) fixedLen() int                 { return 6 }
func (m *UpdateNotification) mobilityOptions() []Option     { return m.Options }
func (m *UpdateNotification) setMobilityOptions(o []Option) { m.Options = o }

func (m *UpdateNotification) appendFixed(b []byte) ([]byte, error) {
	if m.Flags&^(UPNFlagA|UPNFlagD) != 0 {
		return nil, errInvalid("update notification flags %#02x set reserved bits (RFC 7077 4.1)", uint8(m.Flags))
	}
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	return append(b, byte(m.Reason), byte(m.Flags), 0, 0), nil
}

func (m *UpdateNotification) parseFixed(b []byte) error {
	m.Sequence = binary.BigEndian.Uint16(b[0:2])
	m.Reason = NotificationReason(b[2])
	// RFC 7077 4.1: Reserved bits are ignored by the receiver.
	m.Flags = UPNFlags(b[3]) & (UPNFlagA | UPNFlagD)
	return nil
}

// UpdateNotificationAck is the Update Notification Acknowledgement message
// (RFC 7077 4.2) a MAG returns for an UpdateNotification with the A flag.
//
// Layout (RFC 7077 4.2): Sequence Number (16 bits), Status (8 bits),
// Reserved (24 bits).
type UpdateNotificationAck struct {
	Sequence uint16
	Status   UPAStatus
	Options  []Option
}

var _ Message = (*UpdateNotificationAck)(nil)

// Type implements Message.
func (m *UpdateNotificationAck) Type() Type                    { return TypeUpdateNotificationAck }
func (m *UpdateNotificationAck) fixedLen() int                 { return 6 }
func (m *UpdateNotificationAck) mobilityOptions() []Option     { return m.Options }
func (m *UpdateNotificationAck) setMobilityOptions(o []Option) { m.Options = o }

func (m *UpdateNotificationAck) appendFixed(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	return append(b, byte(m.Status), 0, 0, 0), nil
}

func (m *UpdateNotificationAck) parseFixed(b []byte) error {
	m.Sequence = binary.BigEndian.Uint16(b[0:2])
	m.Status = UPAStatus(b[2])
	return nil
}
