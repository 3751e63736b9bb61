package mh

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustTS(f TSFormat, ts *BinaryTS) *TrafficSelector {
	s, err := NewTrafficSelector(f, ts)
	if err != nil {
		panic(err)
	}
	return s
}

var otherCases = []goldenCase{
	{
		name: "Heartbeat request with restart counter",
		m: &Heartbeat{Sequence: 0x01020304,
			Options: []Option{&RestartCounter{Counter: 0x0a0b0c0d}}},
		// RFC 5847 5.2: Restart Counter at 4n+2 (offset 14).
		b: h("3b 02 0d 00 0000 | 00 00 01020304 | 0100 | 1c 04 0a0b0c0d | 01 02 0000"),
	},
	{
		name: "Heartbeat unsolicited response",
		m:    &Heartbeat{Flags: HeartbeatUnsolicited | HeartbeatResponse, Sequence: 7},
		b:    h("3b 01 0d 00 0000 | 00 03 00000007 | 01 02 0000"),
	},
	{
		name: "Binding Revocation Indication",
		m: &BindingRevocationIndication{Trigger: TriggerInterMAGSameAccess, Sequence: 0x1234, Flags: RevocationProxy,
			Options: []Option{NewNAI("a"), &HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8::/64")}}},
		b: h(`3b 04 10 00 0000 | 01 02 1234 8000
			08 02 01 61
			01 02 0000
			16 12 00 40 20010db8000000000000000000000000`),
	},
	{
		name: "Binding Revocation Indication, IPv4 home address only",
		m: &BindingRevocationIndication{Trigger: TriggerAdministrative, Sequence: 2, Flags: RevocationProxy | RevocationIPv4Only,
			Options: []Option{&IPv4HomeAddress{Prefix: netip.MustParsePrefix("10.1.2.3/24"), P: true}}},
		// RFC 5555 3.1.1: 24<<2 | P (0x02) = 0x62.
		b: h("3b 02 10 00 0000 | 01 01 0002 c000 | 1d 06 62 00 0a010203 | 01 02 0000"),
	},
	{
		name: "Binding Revocation Acknowledgement, global",
		m: &BindingRevocationAck{Status: RevocationSuccess, Sequence: 0x1234, Flags: RevocationProxy | RevocationGlobal,
			Options: []Option{NewNAI("a")}},
		b: h("3b 01 10 00 0000 | 02 00 1234 a000 | 08 02 01 61"),
	},
	{
		name: "Update Notification FLOW-MOBILITY",
		m: &UpdateNotification{Sequence: 5, Reason: ReasonFlowMobility, Flags: UPNFlagA,
			Options: []Option{
				NewNAI("a"),
				&FlowIdentification{FID: 1, Priority: 10, Status: FlowBindingSuccessful,
					SubOptions: []FlowSubOption{
						&BIDReference{BIDs: []uint16{2}},
						mustTS(TSFormatIPv4Binary, &BinaryTS{
							Flags:    TS4StartDstAddr | TS4StartDstPort | TS4EndDstPort | TS4StartProtocol,
							StartDst: netip.MustParseAddr("198.51.100.7"), StartDstPort: 443, EndDstPort: 443, StartProto: 6,
						}),
					}},
			}},
		b: h(`3b 05 13 00 0000 | 0005 08 80 0000
			08 02 01 61
			2d 19 0001 000a 00 00
			      02 02 0002
			      03 0d 01 00 20c8 c6336407 01bb 01bb 06
			01 03 000000`),
	},
	{
		name: "Update Notification Acknowledgement",
		m:    &UpdateNotificationAck{Sequence: 5, Status: UPASuccess},
		b:    h("3b 01 14 00 0000 | 0005 00 000000 | 01 02 0000"),
	},
	{
		name: "Update Notification Acknowledgement, MN not attached",
		m:    &UpdateNotificationAck{Sequence: 6, Status: UPAFlowMobilityMNNotAttached},
		b:    h("3b 01 14 00 0000 | 0006 84 000000 | 01 02 0000"),
	},
	{
		name: "PBU with flow summary",
		m: &ProxyBindingUpdate{Sequence: 3, Flags: BUFlagA | BUFlagP, Lifetime: 40 * time.Second,
			Options: []Option{&FlowSummary{FIDs: []uint16{1, 2}}}},
		b: h("3b 02 05 00 0000 | 0003 8200 000a | 2c 04 0001 0002 | 01 04 00000000"),
	},
	{
		name: "Proxy Binding Query",
		m:    &ProxyBindingQuery{Sequence: 0x10, Flags: BUFlagA | BUFlagP, Options: []Option{NewNAI("a")}},
		b:    h("3b 01 05 00 0000 | 0010 8208 0000 | 08 02 01 61"),
	},
	{
		name: "Proxy Query Ack with MAG address",
		m: &ProxyQueryAck{Status: StatusAccepted, Flags: BAFlagP, Sequence: 0x10,
			Options: []Option{&MAGIPv6Address{Addr: netip.MustParseAddr("2001:db8::a")}}},
		b: h("3b 03 06 00 0000 | 00 21 0010 0000 | 33 12 00 80 20010db800000000000000000000000a"),
	},
}

func TestGoldenOther(t *testing.T) { runGolden(t, otherCases) }

func TestTrafficSelectorIPv6(t *testing.T) {
	ts := &BinaryTS{
		Flags:        TS6StartSrcAddr | TS6StartDstPort | TS6StartNextHeader,
		StartSrc:     netip.MustParseAddr("2001:db8::1"),
		StartDstPort: 80,
		StartProto:   17,
	}
	s, err := NewTrafficSelector(TSFormatIPv6Binary, ts)
	if err != nil {
		t.Fatal(err)
	}
	want := h("8022 | 20010db8000000000000000000000001 | 0050 | 11")
	if diff := cmp.Diff(want, s.Selector); diff != "" {
		t.Fatalf("selector (-want +got):\n%s", diff)
	}
	back, err := s.Binary()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ts, back, cmpOpts...); diff != "" {
		t.Fatalf("Binary (-want +got):\n%s", diff)
	}
	// Flow labels are 32-bit fields in the IPv6 format only.
	fl := &BinaryTS{Flags: TS6StartFlowLabel | TS6EndFlowLabel, StartFlowLabel: 0x12345, EndFlowLabel: 0xfffff}
	s, err = NewTrafficSelector(TSFormatIPv6Binary, fl)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h("0300 00012345 000fffff"), s.Selector); diff != "" {
		t.Fatalf("flow label selector (-want +got):\n%s", diff)
	}
}

func TestTrafficSelectorErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    TSFormat
		ts   *BinaryTS
	}{
		{"unknown format", 9, &BinaryTS{}},
		{"IPv6 address in IPv4 format", TSFormatIPv4Binary, &BinaryTS{Flags: TS4StartSrcAddr, StartSrc: netip.IPv6Loopback()}},
		{"value without flag", TSFormatIPv4Binary, &BinaryTS{StartDstPort: 80}},
		{"address without flag", TSFormatIPv6Binary, &BinaryTS{StartDst: netip.IPv6Loopback()}},
		{"reserved IPv4 flag", TSFormatIPv4Binary, &BinaryTS{Flags: 1}},
		{"flow label in IPv4", TSFormatIPv4Binary, &BinaryTS{Flags: TS4StartSPI, StartFlowLabel: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTrafficSelector(tt.f, tt.ts); err == nil {
				t.Fatal("no error")
			}
		})
	}
	for _, tt := range []struct {
		name string
		s    TrafficSelector
	}{
		{"no flags", TrafficSelector{Format: TSFormatIPv4Binary, Selector: h("20")}},
		{"field missing", TrafficSelector{Format: TSFormatIPv4Binary, Selector: h("2000 c63364")}},
		{"trailing octets", TrafficSelector{Format: TSFormatIPv6Binary, Selector: h("0000 00")}},
		{"not binary", TrafficSelector{Format: 0, Selector: h("0000")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.s.Binary(); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
