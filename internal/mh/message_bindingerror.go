package mh

import (
	"fmt"
	"net/netip"
)

// BindingErrorStatus is the Status field of a Binding Error (RFC 6275
// 6.1.9).
type BindingErrorStatus uint8

// Binding Error statuses (RFC 6275 6.1.9).
const (
	// BindingErrorUnknownHoA: unknown binding for Home Address
	// destination option (RFC 6275 9.3.1).
	BindingErrorUnknownHoA BindingErrorStatus = 1
	// BindingErrorUnrecognizedMHType: unrecognized MH Type value (RFC
	// 6275 9.2).
	BindingErrorUnrecognizedMHType BindingErrorStatus = 2
)

func (s BindingErrorStatus) String() string {
	switch s {
	case BindingErrorUnknownHoA:
		return "unknown binding for Home Address destination option"
	case BindingErrorUnrecognizedMHType:
		return "unrecognized MH Type value"
	}
	return fmt.Sprintf("Binding Error status %d", uint8(s))
}

// BindingError is the Binding Error message (RFC 6275 6.1.9, MH type 7): a
// node's answer to a Mobility Header it cannot process, e.g. one of an MH
// Type it does not know (status 2, RFC 6275 9.2).
//
// HomeAddress is the Home Address field: the address of the offending
// packet's Home Address destination option, or the unspecified address
// when it had none (RFC 6275 9.3.3), as in every Binding Error between MAG
// and LMA (Proxy Mobile IPv6 carries no Home Address option). Marshal
// writes :: for an unset HomeAddress; Parse always sets it.
type BindingError struct {
	Status      BindingErrorStatus
	HomeAddress netip.Addr
	Options     []Option
}

var _ Message = (*BindingError)(nil)

// Type implements Message.
func (m *BindingError) Type() Type                    { return TypeBindingError }
func (m *BindingError) fixedLen() int                 { return 18 }
func (m *BindingError) mobilityOptions() []Option     { return m.Options }
func (m *BindingError) setMobilityOptions(o []Option) { m.Options = o }

func (m *BindingError) appendFixed(b []byte) ([]byte, error) {
	hoa := m.HomeAddress
	if !hoa.IsValid() {
		hoa = netip.IPv6Unspecified()
	}
	if !hoa.Is6() || hoa.Is4In6() || hoa.Zone() != "" {
		return nil, errInvalid("home address %s is not a plain IPv6 address", hoa)
	}
	// RFC 6275 6.1.9: Status (8 bits), Reserved (8 bits), Home Address
	// (128 bits).
	b = append(b, byte(m.Status), 0)
	a := hoa.As16()
	return append(b, a[:]...), nil
}

func (m *BindingError) parseFixed(b []byte) error {
	m.Status = BindingErrorStatus(b[0])
	// RFC 6275 6.1.9: Reserved is ignored by the receiver.
	m.HomeAddress = netip.AddrFrom16([16]byte(b[2:18]))
	return nil
}

func (m *BindingError) String() string {
	return fmt.Sprintf("BE status=%d (%v) home=%s options=%s", uint8(m.Status), m.Status, m.HomeAddress, optionNames(m.Options))
}
