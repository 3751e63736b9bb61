package mh

import (
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"five octets", h("3b 01 05 00 00"), io.ErrUnexpectedEOF},
		{"header len says 16, have 8", h("3b 01 05 00 0000 0001"), io.ErrUnexpectedEOF},
		{"trailing octets after header len", h("3b 00 00 00 0000 0000 00"), ErrLength},
		{"payload proto 6", h("06 01 05 00 0000 | 0001 8200 000a | 01 02 0000"), ErrPayloadProto},
		{"PBU too short for its fixed part", h("3b 00 05 00 0000 0001"), ErrLength},
		{"option length past the end", h("3b 01 05 00 0000 | 0001 8200 000a | 17 08 0000"), ErrLength},
		{"option without length octet", h("3b 01 05 00 0000 | 0001 8200 000a | 00 00 00 17"), ErrLength},
		{"HNP wrong length", h("3b 01 05 00 0000 | 0001 8200 000a | 16 02 0000"), ErrLength},
		{"HNP prefix length 129", h(`3b 03 05 00 0000 | 0001 8200 000a
			16 12 00 81 00000000000000000000000000000000`), ErrInvalid},
		{"HI wrong length", h("3b 01 05 00 0000 | 0001 8200 000a | 17 01 00 00"), ErrLength},
		{"GRE key length 4", h("3b 01 05 00 0000 | 0001 8200 000a | 21 02 0000"), nil},
		{"GRE key bad length 3", h("3b 01 05 00 0000 | 0001 8200 000a | 21 01 00 00"), ErrLength},
		{"MN-ID empty", h("3b 01 05 00 0000 | 0001 8200 000a | 08 00 0000"), io.ErrUnexpectedEOF},
		{"EUI-48 MN-ID of 5 octets", h("3b 02 05 00 0000 | 0001 8200 000a | 08 06 05 0102030405 | 00 00 00 00 00 00"), ErrLength},
		{"IPv4 HoA reply prefix 63", h("3b 02 05 00 0000 | 0001 8200 000a | 25 06 00 fc 0a000001 | 0000 0000"), ErrInvalid},
		{"BRI with B.R. type 1 parsed, type 3 unknown", h("3b 01 10 00 0000 | 03 00 0001 0000 | 0102 0000"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.b)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	big := make([]byte, 255)
	many := make([]Option, 0, 10)
	for range 10 {
		many = append(many, &RawOption{Type: 200, Data: big})
	}
	for _, tt := range []struct {
		name string
		m    Message
		want error
	}{
		{"nil", nil, ErrInvalid},
		{"lifetime not a multiple of 4 s", &ProxyBindingUpdate{Lifetime: 5 * time.Second}, ErrInvalid},
		{"lifetime too long", &ProxyBindingUpdate{Lifetime: MaxLifetime + LifetimeUnit}, ErrInvalid},
		{"negative lifetime", &ProxyBindingAck{Lifetime: -LifetimeUnit}, ErrInvalid},
		{"Q flag on a PBU", &ProxyBindingUpdate{Flags: BUFlagQuery}, ErrInvalid},
		{"Q flag on a PBA", &ProxyBindingAck{Flags: BAFlagQuery}, ErrInvalid},
		{"IPv4 prefix as HNP", &ProxyBindingUpdate{Options: []Option{&HomeNetworkPrefix{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}}, ErrInvalid},
		{"zero HNP", &ProxyBindingUpdate{Options: []Option{&HomeNetworkPrefix{}}}, ErrInvalid},
		{"IPv6 default router", &ProxyBindingAck{Options: []Option{&IPv4DefaultRouterAddress{Addr: netip.IPv6Loopback()}}}, ErrInvalid},
		{"GRE key without HasKey", &ProxyBindingUpdate{Options: []Option{&GREKey{Key: 1}}}, ErrInvalid},
		{"option data too long", &ProxyBindingUpdate{Options: []Option{&RawOption{Type: 200, Data: make([]byte, 256)}}}, ErrLength},
		{"message too long", &ProxyBindingUpdate{Options: many}, ErrTooLong},
		{"explicit padding", &ProxyBindingUpdate{Options: []Option{&RawOption{Type: OptPadN}}}, ErrInvalid},
		{"nil option", &ProxyBindingUpdate{Options: []Option{nil}}, ErrInvalid},
		{"EUI-48 of 4 octets", &ProxyBindingUpdate{Options: []Option{&MobileNodeIdentifier{Subtype: MNIDEUI48, Identifier: []byte{1, 2, 3, 4}}}}, ErrLength},
		{"empty link-layer ID", &ProxyBindingUpdate{Options: []Option{&MobileNodeLinkLayerID{}}}, ErrInvalid},
		{"unknown message not 8-aligned", &UnknownMessage{MHType: 99, Data: []byte{1}}, ErrLength},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Marshal(tt.m); !errors.Is(err, tt.want) {
				t.Fatalf("Marshal error %v, want %v", err, tt.want)
			}
		})
	}
}
