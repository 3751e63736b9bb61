package mh

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// RevocationType is the B.R. Type field that tells the two Binding
// Revocation messages apart (RFC 5846 5).
type RevocationType uint8

// B.R. Type values (RFC 5846 5).
const (
	RevocationTypeIndication RevocationType = 1
	RevocationTypeAck        RevocationType = 2
)

// RevocationFlags are the flag bits of both Binding Revocation messages
// (RFC 5846 6.1, 6.2).
type RevocationFlags uint16

// Binding Revocation flags.
const (
	// RevocationProxy (P): the binding is a proxy (PMIPv6) binding.
	RevocationProxy RevocationFlags = 0x8000
	// RevocationIPv4Only (V): revoke the IPv4 home address binding only.
	RevocationIPv4Only RevocationFlags = 0x4000
	// RevocationGlobal (G): revoke all bindings of the peer, identified
	// by the MN-ID option carrying the peer's identity (RFC 5846 6.1).
	RevocationGlobal RevocationFlags = 0x2000
)

func (f RevocationFlags) String() string {
	var s []string
	for _, x := range []struct {
		f RevocationFlags
		n string
	}{{RevocationProxy, "P"}, {RevocationIPv4Only, "V"}, {RevocationGlobal, "G"}} {
		if f&x.f != 0 {
			s = append(s, x.n)
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// RevocationTrigger is the R. Trigger field of a Binding Revocation
// Indication (RFC 5846 6.1; IANA "Revocation Trigger Values").
type RevocationTrigger uint8

// Revocation Trigger values (RFC 5846 6.1).
const (
	TriggerUnspecified              RevocationTrigger = 0
	TriggerAdministrative           RevocationTrigger = 1
	TriggerInterMAGSameAccess       RevocationTrigger = 2
	TriggerInterMAGDifferentAccess  RevocationTrigger = 3
	TriggerInterMAGUnknown          RevocationTrigger = 4
	TriggerUserInitiated            RevocationTrigger = 5
	TriggerAccessNetworkTermination RevocationTrigger = 6
	TriggerOutOfSyncBCE             RevocationTrigger = 7
	TriggerPerPeerPolicy            RevocationTrigger = 128
	TriggerMobilityNodeLocalPolicy  RevocationTrigger = 129
)

var triggerNames = map[RevocationTrigger]string{
	TriggerUnspecified:              "Unspecified",
	TriggerAdministrative:           "Administrative Reason",
	TriggerInterMAGSameAccess:       "Inter-MAG Handover - same Access Type",
	TriggerInterMAGDifferentAccess:  "Inter-MAG Handover - different Access Type",
	TriggerInterMAGUnknown:          "Inter-MAG Handover - Unknown",
	TriggerUserInitiated:            "User Initiated Session(s) Termination",
	TriggerAccessNetworkTermination: "Access Network Session(s) Termination",
	TriggerOutOfSyncBCE:             "Possible Out-of Sync BCE State",
	TriggerPerPeerPolicy:            "Per-Peer Policy",
	TriggerMobilityNodeLocalPolicy:  "Revoking Mobility Node Local Policy",
}

func (t RevocationTrigger) String() string {
	if n, ok := triggerNames[t]; ok {
		return n
	}
	return fmt.Sprintf("revocation trigger %d", uint8(t))
}

// RevocationStatus is the Status of a Binding Revocation Acknowledgement
// (RFC 5846 6.2; IANA "Binding Revocation Acknowledgement Status Codes").
type RevocationStatus uint8

// Binding Revocation Acknowledgement status values (RFC 5846 6.2).
const (
	RevocationSuccess                RevocationStatus = 0
	RevocationPartialSuccess         RevocationStatus = 1
	RevocationBindingDoesNotExist    RevocationStatus = 2
	RevocationIPv4HoABindingNotExist RevocationStatus = 3
	RevocationGlobalNotAuthorized    RevocationStatus = 4
	RevocationCannotIdentifyBinding  RevocationStatus = 5
	RevocationFailedMNAttached       RevocationStatus = 6
)

var revocationStatusNames = [...]string{
	"Success", "Partial Success", "Binding Does NOT Exist", "IPv4 HoA Binding Does NOT Exist",
	"Global Revocation NOT Authorized", "CAN NOT Identify Binding", "Revocation Failed, MN is Attached",
}

func (s RevocationStatus) String() string {
	if int(s) < len(revocationStatusNames) {
		return revocationStatusNames[s]
	}
	return fmt.Sprintf("revocation status %d", uint8(s))
}

// BindingRevocationIndication is the Binding Revocation Indication message
// (RFC 5846 6.1): an LMA (or MAG) tells its peer that bindings are revoked.
// It identifies the bindings with MobileNodeIdentifier, HomeNetworkPrefix
// or, with the G flag, the peer's own identity in an MN-ID option.
type BindingRevocationIndication struct {
	Trigger  RevocationTrigger
	Sequence uint16
	Flags    RevocationFlags
	Options  []Option
}

var _ Message = (*BindingRevocationIndication)(nil)

// Type implements Message.
func (m *BindingRevocationIndication) Type() Type                    { return TypeBindingRevocation }
func (m *BindingRevocationIndication) fixedLen() int                 { return 6 }
func (m *BindingRevocationIndication) mobilityOptions() []Option     { return m.Options }
func (m *BindingRevocationIndication) setMobilityOptions(o []Option) { m.Options = o }

func (m *BindingRevocationIndication) appendFixed(b []byte) ([]byte, error) {
	// RFC 5846 6.1: B.R. Type 1, R. Trigger, Sequence #, P V G Reserved.
	b = append(b, byte(RevocationTypeIndication), byte(m.Trigger))
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	return binary.BigEndian.AppendUint16(b, uint16(m.Flags)), nil
}

func (m *BindingRevocationIndication) parseFixed(b []byte) error {
	if RevocationType(b[0]) != RevocationTypeIndication {
		return errInvalid("B.R. type %d in a binding revocation indication, RFC 5846 6.1 says 1", b[0])
	}
	m.Trigger = RevocationTrigger(b[1])
	m.Sequence = binary.BigEndian.Uint16(b[2:4])
	m.Flags = RevocationFlags(binary.BigEndian.Uint16(b[4:6]))
	return nil
}

// BindingRevocationAck is the Binding Revocation Acknowledgement message
// (RFC 5846 6.2), the answer to a BindingRevocationIndication with the
// same Sequence and flags.
type BindingRevocationAck struct {
	Status   RevocationStatus
	Sequence uint16
	Flags    RevocationFlags
	Options  []Option
}

var _ Message = (*BindingRevocationAck)(nil)

// Type implements Message.
func (m *BindingRevocationAck) Type() Type                    { return TypeBindingRevocation }
func (m *BindingRevocationAck) fixedLen() int                 { return 6 }
func (m *BindingRevocationAck) mobilityOptions() []Option     { return m.Options }
func (m *BindingRevocationAck) setMobilityOptions(o []Option) { m.Options = o }

func (m *BindingRevocationAck) appendFixed(b []byte) ([]byte, error) {
	// RFC 5846 6.2: B.R. Type 2, Status, Sequence #, P V G Reserved.
	b = append(b, byte(RevocationTypeAck), byte(m.Status))
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	return binary.BigEndian.AppendUint16(b, uint16(m.Flags)), nil
}

func (m *BindingRevocationAck) parseFixed(b []byte) error {
	if RevocationType(b[0]) != RevocationTypeAck {
		return errInvalid("B.R. type %d in a binding revocation acknowledgement, RFC 5846 6.2 says 2", b[0])
	}
	m.Status = RevocationStatus(b[1])
	m.Sequence = binary.BigEndian.Uint16(b[2:4])
	m.Flags = RevocationFlags(binary.BigEndian.Uint16(b[4:6]))
	return nil
}
