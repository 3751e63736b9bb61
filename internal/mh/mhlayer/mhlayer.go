// Package mhlayer makes gopacket decode the Mobility Header into the types
// of package mh: IPv6 Next Header 135 (RFC 6275 6.1.1) and UDP port 5436
// (RFC 5844 4). It lives apart from package mh so that the daemons, which
// do not read pcaps, do not link gopacket.
//
// Call Register once before decoding:
//
//	mhlayer.Register()
//	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
//	if l, ok := pkt.Layer(mhlayer.LayerTypeMH).(*mhlayer.MobilityHeader); ok {
//		switch m := l.Message.(type) { case *mh.ProxyBindingUpdate: ... }
//	}
package mhlayer

import (
	"fmt"
	"io"
	"net/netip"
	"sync"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/openpmip/pmip/internal/mh"
)

// LayerTypeMH is the gopacket layer type of the Mobility Header. 1135 is
// in the range gopacket keeps for application layer types (1000-1999).
var LayerTypeMH = gopacket.RegisterLayerType(1135, gopacket.LayerTypeMetadata{
	Name:    "MobilityHeader",
	Decoder: gopacket.DecodeFunc(decodeMH),
})

var registerOnce sync.Once

// Register hooks the Mobility Header into gopacket's IPv6 and UDP
// decoders: IP protocol 135 (RFC 6275 6.1.1) and UDP port 5436 (RFC 5844
// 4). It changes gopacket's global tables, once; later calls do nothing.
func Register() {
	registerOnce.Do(func() {
		layers.IPProtocolMetadata[mh.IPProtoMH] = layers.EnumMetadata{
			DecodeWith: gopacket.DecodeFunc(decodeMH),
			Name:       "MobilityHeader",
			LayerType:  LayerTypeMH,
		}
		layers.RegisterUDPPortLayerType(mh.UDPPort, LayerTypeMH)
	})
}

// MobilityHeader is a decoded Mobility Header (RFC 6275 6.1.1).
type MobilityHeader struct {
	layers.BaseLayer
	// Message is the decoded message.
	Message mh.Message
	// Checksum is the Checksum field as received; SerializeTo fills it
	// when asked to compute checksums.
	Checksum uint16

	src, dst netip.Addr
}

var (
	_ gopacket.DecodingLayer     = (*MobilityHeader)(nil)
	_ gopacket.SerializableLayer = (*MobilityHeader)(nil)
)

// LayerType implements gopacket.Layer.
func (l *MobilityHeader) LayerType() gopacket.LayerType { return LayerTypeMH }

// CanDecode implements gopacket.DecodingLayer.
func (l *MobilityHeader) CanDecode() gopacket.LayerClass { return LayerTypeMH }

// NextLayerType implements gopacket.DecodingLayer: the Payload Proto of a
// Mobility Header is always "no next header" (RFC 6275 6.1.1).
func (l *MobilityHeader) NextLayerType() gopacket.LayerType {
	if len(l.Payload) > 0 {
		return gopacket.LayerTypePayload
	}
	return gopacket.LayerTypeZero
}

// DecodeFromBytes implements gopacket.DecodingLayer. The header's own
// length (Header Len, RFC 6275 6.1.1) delimits it; anything after it is
// left as payload.
func (l *MobilityHeader) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 2 {
		df.SetTruncated()
		return fmt.Errorf("mhlayer: %d octets: %w", len(data), io.ErrUnexpectedEOF)
	}
	n := (int(data[1]) + 1) * 8
	if len(data) < n {
		df.SetTruncated()
		return fmt.Errorf("mhlayer: header len says %d octets, have %d: %w", n, len(data), io.ErrUnexpectedEOF)
	}
	m, err := mh.Parse(data[:n])
	if err != nil {
		return err
	}
	l.Message = m
	l.Checksum = uint16(data[4])<<8 | uint16(data[5])
	l.Contents, l.Payload = data[:n], data[n:]
	return nil
}

func decodeMH(data []byte, p gopacket.PacketBuilder) error {
	l := &MobilityHeader{}
	if err := l.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(l)
	if next := l.NextLayerType(); next != gopacket.LayerTypeZero {
		return p.NextDecoder(next)
	}
	return nil
}

// SetNetworkLayerForChecksum gives the IPv6 header whose addresses the
// checksum's pseudo-header uses (RFC 6275 6.1.1).
func (l *MobilityHeader) SetNetworkLayerForChecksum(ip *layers.IPv6) error {
	src, ok1 := netip.AddrFromSlice(ip.SrcIP)
	dst, ok2 := netip.AddrFromSlice(ip.DstIP)
	if !ok1 || !ok2 {
		return fmt.Errorf("mhlayer: IPv6 header without valid addresses")
	}
	l.src, l.dst = src, dst
	return nil
}

// SerializeTo implements gopacket.SerializableLayer: it marshals Message
// and, with opts.ComputeChecksums and a network layer set, fills the
// checksum.
func (l *MobilityHeader) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	raw, err := mh.Marshal(l.Message)
	if err != nil {
		return err
	}
	out, err := b.PrependBytes(len(raw))
	if err != nil {
		return err
	}
	copy(out, raw)
	if opts.ComputeChecksums && l.src.IsValid() {
		mh.SetChecksum(l.src, l.dst, out)
	}
	l.Checksum = uint16(out[4])<<8 | uint16(out[5])
	return nil
}
