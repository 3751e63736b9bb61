package mh

import (
	"net/netip"
	"testing"
)

var bindingErrorCases = []goldenCase{
	{
		name: "Binding Error, unrecognized MH type, no home address",
		m:    &BindingError{Status: BindingErrorUnrecognizedMHType, HomeAddress: netip.IPv6Unspecified()},
		// RFC 6275 6.1.9: Status 2, Reserved, Home Address ::; 24
		// octets, Header Len 2.
		b: h("3b 02 07 00 0000 | 02 00 | 00000000000000000000000000000000"),
	},
	{
		name: "Binding Error, unknown binding, home address and an option",
		m: &BindingError{Status: BindingErrorUnknownHoA, HomeAddress: netip.MustParseAddr("2001:db8::1"),
			Options: []Option{&RestartCounter{Counter: 1}}},
		// RFC 5847 5.2: the Restart Counter at 4n+2 (a PadN before it).
		b: h("3b 03 07 00 0000 | 01 00 | 20010db8000000000000000000000001 | 01 00 | 1c 04 00000001"),
	},
}

func TestGoldenBindingError(t *testing.T) { runGolden(t, bindingErrorCases) }

// An unset home address is sent as the unspecified address (RFC 6275
// 9.3.3); an IPv4 one is refused.
func TestBindingErrorHomeAddress(t *testing.T) {
	b, err := Marshal(&BindingError{Status: BindingErrorUnrecognizedMHType})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if be := m.(*BindingError); be.HomeAddress != netip.IPv6Unspecified() {
		t.Errorf("home address %v", be.HomeAddress)
	}
	if _, err := Marshal(&BindingError{HomeAddress: netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Error("an IPv4 home address was marshalled")
	}
	// Shorter than its 18 octets of message data: a length error.
	if _, err := Parse(h("3b 01 07 00 0000 | 02 00 0000 00000000")); err == nil {
		t.Error("a short Binding Error parsed")
	}
}

// FuzzBindingError covers the Binding Error (MH type 7).
func FuzzBindingError(f *testing.F) {
	seed(f, bindingErrorCases, TypeBindingError)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b)
		roundTrip(t, frame(b, TypeBindingError))
	})
}
