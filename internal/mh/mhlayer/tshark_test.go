package mhlayer

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// tsharkCase is one packet of the independent decoder check: a message, the
// carrier, and every mip6 field tshark should show for it, in order.
type tsharkCase struct {
	name string
	m    mh.Message
	udp  bool
}

var tsharkMAC = net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}

func tsharkCases() []tsharkCase {
	ts := &mh.Timestamp{Value: uint64(1795000000)<<16 | 0x8000}
	return []tsharkCase{
		{name: "PBU", m: &mh.ProxyBindingUpdate{Sequence: 42, Flags: mh.BUFlagA | mh.BUFlagP | mh.BUFlagT, Lifetime: 3600 * time.Second,
			Options: []mh.Option{
				mh.NewNAI("alice@example.net"),
				&mh.HomeNetworkPrefix{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)},
				&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
				&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
				&mh.MobileNodeLinkLayerID{ID: tsharkMAC},
				&mh.LinkLocalAddress{Addr: netip.IPv6Unspecified()},
				ts,
				&mh.IPv4HomeAddressRequest{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
				&mh.GREKey{HasKey: true, Key: 0x1000002a},
			}}},
		{name: "PBA", m: &mh.ProxyBindingAck{Status: mh.StatusAccepted, Flags: mh.BAFlagP | mh.BAFlagT, Sequence: 42, Lifetime: 3600 * time.Second,
			Options: []mh.Option{
				mh.NewNAI("alice@example.net"),
				&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:a:1::/64")},
				&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
				&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
				&mh.MobileNodeLinkLayerID{ID: tsharkMAC},
				&mh.LinkLocalAddress{Addr: netip.MustParseAddr("fe80::1")},
				ts,
				&mh.IPv4HomeAddressReply{Status: mh.IPv4HoASuccess, Prefix: netip.MustParsePrefix("10.1.0.7/24")},
				&mh.IPv4DefaultRouterAddress{Addr: netip.MustParseAddr("10.1.0.1")},
				&mh.IPv4DHCPSupportMode{Server: true},
				&mh.GREKey{HasKey: true, Key: 0x2000002a},
			}}},
		{name: "PBA rejected", m: &mh.ProxyBindingAck{Status: mh.StatusMAGNotAuthorizedForProxyReg, Flags: mh.BAFlagP, Sequence: 43,
			Options: []mh.Option{mh.NewNAI("bob@example.net")}}},
		{name: "PBU deregistration over UDP/IPv4", udp: true, m: &mh.ProxyBindingUpdate{Sequence: 44, Flags: mh.BUFlagA | mh.BUFlagP,
			Options: []mh.Option{
				mh.NewNAI("alice@example.net"),
				&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:a:1::/64")},
				&mh.IPv4CareOfAddress{Addr: mag4},
				&mh.IPv4HomeAddressRequest{Prefix: netip.MustParsePrefix("10.1.0.7/32")},
			}}},
		{name: "PBA over UDP/IPv4", udp: true, m: &mh.ProxyBindingAck{Status: mh.StatusAccepted, Flags: mh.BAFlagP, Sequence: 44,
			Options: []mh.Option{
				mh.NewNAI("alice@example.net"),
				&mh.IPv4CareOfAddress{Addr: mag4},
				&mh.IPv4HomeAddressReply{Status: mh.IPv4HoADynamicNotAvailable, Prefix: netip.MustParsePrefix("0.0.0.0/0")},
			}}},
		{name: "Heartbeat request", m: &mh.Heartbeat{Sequence: 7, Options: []mh.Option{&mh.RestartCounter{Counter: 3}}}},
		{name: "Heartbeat response", m: &mh.Heartbeat{Flags: mh.HeartbeatResponse | mh.HeartbeatUnsolicited, Sequence: 7}},
		{name: "BRI", m: &mh.BindingRevocationIndication{Trigger: mh.TriggerInterMAGSameAccess, Sequence: 9,
			Flags: mh.RevocationProxy | mh.RevocationIPv4Only,
			Options: []mh.Option{mh.NewNAI("alice@example.net"), &mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:a:1::/64")},
				&mh.IPv4HomeAddress{Prefix: netip.MustParsePrefix("10.1.0.7/24"), P: true}}}},
		{name: "BRA", m: &mh.BindingRevocationAck{Status: mh.RevocationPartialSuccess, Sequence: 9,
			Flags: mh.RevocationProxy | mh.RevocationGlobal, Options: []mh.Option{mh.NewNAI("alice@example.net")}}},
		{name: "PBQ", m: &mh.ProxyBindingQuery{Sequence: 50, Flags: mh.BUFlagA | mh.BUFlagP,
			Options: []mh.Option{mh.NewNAI("alice@example.net")}}},
		{name: "PQA", m: &mh.ProxyQueryAck{Status: mh.StatusAccepted, Flags: mh.BAFlagP, Sequence: 50,
			Options: []mh.Option{mh.NewNAI("alice@example.net"), &mh.MAGIPv6Address{Addr: mag6}}}},
		{name: "Binding Error", m: &mh.BindingError{Status: mh.BindingErrorUnrecognizedMHType, HomeAddress: netip.IPv6Unspecified()}},
		{name: "Binding Error over UDP/IPv4", udp: true, m: &mh.BindingError{Status: mh.BindingErrorUnrecognizedMHType,
			HomeAddress: netip.MustParseAddr("2001:db8::1")}},
		{name: "UPN (not decoded by tshark 4.0)", m: &mh.UpdateNotification{Sequence: 1, Reason: mh.ReasonFlowMobility, Flags: mh.UPNFlagA,
			Options: []mh.Option{mh.NewNAI("alice@example.net")}}},
	}
}

func writeTsharkPcap(t *testing.T, cases []tsharkCase) string {
	var frames [][]byte
	for _, c := range cases {
		if c.udp {
			frames = append(frames, frameUDP4(t, c.m))
		} else {
			frames = append(frames, frameIPv6(t, c.m))
		}
	}
	path := filepath.Join(t.TempDir(), "mh.pcap")
	if out := os.Getenv("PMIP_PCAP_OUT"); out != "" {
		path = out
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writePcap(t, f, frames)
	return path
}

func TestWriteTsharkPcap(t *testing.T) {
	if os.Getenv("PMIP_PCAP_OUT") == "" {
		t.Skip("set PMIP_PCAP_OUT to write the pcap")
	}
	writeTsharkPcap(t, tsharkCases())
}
