package scenarios

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Mobility Header types (RFC 6275 6.1; RFC 5213 6.9.1: a Proxy Binding
// Update is a Binding Update with the P flag, its answer a Binding
// Acknowledgement).
const (
	mhBindingUpdate = 5
	mhBindingAck    = 6
	mhProto         = 135  // IPv6 next header of the Mobility Header
	mhUDPPort       = 5436 // RFC 5844 4: MH over UDP/IPv4
)

// MHPacket is one Mobility Header message seen in a capture.
type MHPacket struct {
	At     time.Time
	Type   uint8
	Seq    uint16
	Status uint8 // of a Binding Acknowledgement
	Src    string
}

// parseMH reads the Mobility Header messages of a libpcap file of
// Ethernet frames: IPv6 next header 135, or UDP port 5436 over IPv4.
func parseMH(pcap []byte) ([]MHPacket, error) {
	if len(pcap) < 24 {
		return nil, errors.New("pcap: short file header")
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(pcap) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	default:
		switch binary.BigEndian.Uint32(pcap) {
		case 0xa1b2c3d4:
			bo = binary.BigEndian
		case 0xa1b23c4d:
			bo, nano = binary.BigEndian, true
		default:
			return nil, errors.New("pcap: not a libpcap file")
		}
	}
	if lt := bo.Uint32(pcap[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet", lt)
	}
	var out []MHPacket
	for off := 24; off+16 <= len(pcap); {
		sec, frac := bo.Uint32(pcap[off:]), bo.Uint32(pcap[off+4:])
		incl := int(bo.Uint32(pcap[off+8:]))
		if incl < 0 || off+16+incl > len(pcap) {
			break // a capture cut while tcpdump wrote it
		}
		frame := pcap[off+16 : off+16+incl]
		off += 16 + incl
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		at := time.Unix(int64(sec), ns)
		if p, ok := frameMH(frame); ok {
			p.At = at
			out = append(out, p)
		}
	}
	return out, nil
}

func frameMH(f []byte) (MHPacket, bool) {
	if len(f) < 14 {
		return MHPacket{}, false
	}
	et, ip := binary.BigEndian.Uint16(f[12:]), f[14:]
	var mh []byte
	var src string
	switch {
	case et == 0x86dd && len(ip) >= 40 && ip[6] == mhProto:
		mh, src = ip[40:], fmt.Sprintf("%x", ip[8:24])
	case et == 0x0800 && len(ip) >= 20 && ip[9] == 17:
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < ihl+8 || binary.BigEndian.Uint16(ip[ihl+2:]) != mhUDPPort && binary.BigEndian.Uint16(ip[ihl:]) != mhUDPPort {
			return MHPacket{}, false
		}
		mh, src = ip[ihl+8:], fmt.Sprintf("%d.%d.%d.%d", ip[12], ip[13], ip[14], ip[15])
	default:
		return MHPacket{}, false
	}
	// RFC 6275 6.1.1: payload proto, header len, MH type, reserved,
	// checksum; then the message: a BU's sequence number first (6.1.7),
	// a BA's status, flags, then sequence number (6.1.8).
	if len(mh) < 10 {
		return MHPacket{}, false
	}
	p := MHPacket{Type: mh[2], Src: src}
	switch p.Type {
	case mhBindingUpdate:
		p.Seq = binary.BigEndian.Uint16(mh[6:])
	case mhBindingAck:
		p.Status, p.Seq = mh[6], binary.BigEndian.Uint16(mh[8:])
	default:
		return MHPacket{}, false
	}
	return p, true
}

// RoundTrip is one PBU answered by a PBA, as the MAG's side of the link
// saw them.
type RoundTrip struct {
	Seq    uint16
	Status uint8
	RTT    time.Duration
}

// roundTrips pairs each PBA with the latest PBU of the same sequence
// number before it (RFC 6275 6.1.8: the BA echoes the BU's sequence).
func roundTrips(pkts []MHPacket) []RoundTrip {
	var rts []RoundTrip
	sent := map[uint16]time.Time{}
	for _, p := range pkts {
		switch p.Type {
		case mhBindingUpdate:
			sent[p.Seq] = p.At
		case mhBindingAck:
			if t, ok := sent[p.Seq]; ok {
				rts = append(rts, RoundTrip{Seq: p.Seq, Status: p.Status, RTT: p.At.Sub(t)})
				delete(sent, p.Seq)
			}
		}
	}
	return rts
}
