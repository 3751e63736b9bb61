package mh

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// appendLikeMarshal checks that AppendMarshal encodes m as Marshal does,
// into an empty slice and after a prefix (alignment counts from the
// message's start), or fails when Marshal fails.
func appendLikeMarshal(t *testing.T, m Message) {
	t.Helper()
	want, werr := Marshal(m)
	got, gerr := AppendMarshal(nil, m)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%v\nMarshal:       %v\nAppendMarshal: %v", m, werr, gerr)
	}
	if werr != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%v\nMarshal       %x\nAppendMarshal %x", m, want, got)
	}
	prefix := []byte{1, 2, 3}
	got, err := AppendMarshal(append(make([]byte, 0, 8), prefix...), m)
	if err != nil || !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], want) {
		t.Fatalf("%v after a prefix: %x, %v; want %x%x", m, got, err, prefix, want)
	}
}

// Every golden message, every message the fuzz corpora decode to, and
// options that Marshal refuses.
func TestAppendMarshalMatchesMarshal(t *testing.T) {
	for _, cases := range [][]goldenCase{registrationCases, otherCases, bindingErrorCases} {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { appendLikeMarshal(t, c.m) })
		}
	}
	for _, b := range corpus(t) {
		for _, in := range [][]byte{b, frame(b, TypeBindingUpdate), frame(b, TypeBindingAck), optionsBehindPBU(b)} {
			if m, err := Parse(in); err == nil {
				appendLikeMarshal(t, m)
			}
		}
	}
	bad := []Option{
		&MobileNodeIdentifier{Subtype: MNIDEUI48, Identifier: []byte{1, 2}},
		&HomeNetworkPrefix{},
		&HomeNetworkPrefix{Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		&MobileNodeLinkLayerID{},
		&LinkLocalAddress{Addr: netip.MustParseAddr("10.0.0.1")},
		&LinkLocalAddress{Addr: netip.MustParseAddr("fe80::1%eth0")},
		&GREKey{Key: 7},
		&IPv4HomeAddressReply{Prefix: netip.MustParsePrefix("2001:db8::/64")},
		&IPv4HomeAddressRequest{},
		&IPv4DefaultRouterAddress{Addr: netip.MustParseAddr("::1")},
		&IPv4CareOfAddress{},
		&MobileNodeIdentifier{Subtype: MNIDNAI, Identifier: bytes.Repeat([]byte("a"), 300)},
		nil,
	}
	for _, o := range bad {
		appendLikeMarshal(t, &ProxyBindingAck{Sequence: 1, Options: []Option{o}})
	}
	if _, err := AppendMarshal(nil, nil); err == nil {
		t.Error("AppendMarshal(nil message) did not fail")
	}
}

// A PBA as the LMA sends it encodes without allocating into a slice with
// room.
func TestAppendMarshalAllocations(t *testing.T) {
	m := registrationCases[1].m
	for _, c := range registrationCases {
		if _, ok := c.m.(*ProxyBindingAck); ok && len(c.m.mobilityOptions()) > 3 {
			m = c.m
			break
		}
	}
	buf := make([]byte, 0, maxLen)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := AppendMarshal(buf, m); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per AppendMarshal of %v", a, m)
	}
}

// FuzzAppendMarshal: whatever Parse accepts, AppendMarshal encodes as
// Marshal does.
func FuzzAppendMarshal(f *testing.F) {
	seed(f, registrationCases, TypeBindingUpdate, TypeBindingAck)
	seed(f, otherCases, TypeBindingUpdate, TypeBindingAck, TypeHeartbeat)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, optionsBehindPBU(b)} {
			m, err := Parse(in)
			if err != nil {
				continue
			}
			want, werr := Marshal(m)
			got, gerr := AppendMarshal(nil, m)
			if (werr == nil) != (gerr == nil) || (werr == nil && !bytes.Equal(got, want)) {
				if errors.Is(werr, ErrTooLong) && errors.Is(gerr, ErrTooLong) {
					continue
				}
				t.Fatalf("input %x\nMarshal       %x %v\nAppendMarshal %x %v", in, want, werr, got, gerr)
			}
		}
	})
}

// BenchmarkAppendMarshalPBU is BenchmarkMarshalPBU into a reused buffer.
func BenchmarkAppendMarshalPBU(b *testing.B) {
	m := registrationCases[1].m
	buf := make([]byte, 0, maxLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendMarshal(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}
