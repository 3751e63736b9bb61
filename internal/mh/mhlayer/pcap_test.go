package mhlayer

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"io"

	"github.com/openpmip/pmip/internal/mh"
)

var (
	magMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	lmaMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	mag6   = netip.MustParseAddr("2001:db8:ffff::1")
	lma6   = netip.MustParseAddr("2001:db8:ffff::2")
	mag4   = netip.MustParseAddr("192.0.2.1")
	lma4   = netip.MustParseAddr("192.0.2.2")
)

// frameIPv6 builds Ethernet + IPv6 (Next Header 135) + the Mobility
// Header, with the MH checksum computed over the IPv6 pseudo-header.
//
//	MAG 2001:db8:ffff::1 ---- IPv6, next header 135 ----> LMA 2001:db8:ffff::2
func frameIPv6(t testing.TB, m mh.Message) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: magMAC, DstMAC: lmaMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: mh.IPProtoMH,
		SrcIP: mag6.AsSlice(), DstIP: lma6.AsSlice()}
	l := &MobilityHeader{Message: m}
	if err := l.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l); err != nil {
		t.Fatalf("serialize %T: %v", m, err)
	}
	return buf.Bytes()
}

// frameUDP4 builds Ethernet + IPv4 + UDP 5436 + the Mobility Header (RFC
// 5844 4: IPv4 transport between MAG and LMA).
//
//	MAG 192.0.2.1:5436 ---- UDP ----> LMA 192.0.2.2:5436
func frameUDP4(t testing.TB, m mh.Message) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: magMAC, DstMAC: lmaMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: mag4.AsSlice(), DstIP: lma4.AsSlice()}
	udp := &layers.UDP{SrcPort: mh.UDPPort, DstPort: mh.UDPPort}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, &MobilityHeader{Message: m}); err != nil {
		t.Fatalf("serialize %T: %v", m, err)
	}
	return buf.Bytes()
}

// writePcap writes frames as an Ethernet pcap.
func writePcap(t testing.TB, w io.Writer, frames [][]byte) {
	t.Helper()
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := pw.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
}
