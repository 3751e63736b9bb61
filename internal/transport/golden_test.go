package transport_test

import (
	"encoding/binary"
	"net/netip"
)

// goldenPBU is a Proxy Binding Update built by hand from RFC 5213 8.1 and
// RFC 6275 6.1.7, so the transport tests do not depend on internal/mh:
//
//	off  field
//	0    Payload Proto 59 (no next header), Header Len 8 ((8+1)*8 = 72 octets)
//	2    MH Type 5 (Binding Update), Reserved
//	4    Checksum 0 (the raw carrier's kernel fills it)
//	6    Sequence # 0x1234
//	8    flags A|H|L|K|M|R|P = A and P (0x8000|0x0200), Reserved
//	10   Lifetime 0x0384 (900 units of 4 s = 1 hour)
//	12   Home Network Prefix option (RFC 5213 8.3, alignment 8n+4):
//	     type 22 len 18 reserved 0 prefix length 0 prefix :: (a request)
//	32   Mobile Node Identifier option (RFC 4283 3): type 8 len 16
//	     subtype 1 (NAI) "mn1@example.com"
//	50   Handoff Indicator option (RFC 5213 8.4): type 23 len 2 reserved 0 HI 1
//	54   Access Technology Type option (RFC 5213 8.5): type 24 len 2 reserved 0 ATT 4 (802.11)
//	58   Timestamp option (RFC 5213 8.8, alignment 8n+2): type 27 len 8
//	68   PadN to a multiple of 8 octets (RFC 6275 6.1.1): type 1 len 2 00 00
func goldenPBU() []byte {
	b := []byte{
		59, 8, 5, 0, 0x00, 0x00,
		0x12, 0x34, 0x82, 0x00, 0x03, 0x84,
		22, 18, 0, 0 /* prefix :: */, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		8, 16, 1, 'm', 'n', '1', '@', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
		23, 2, 0, 1,
		24, 2, 0, 4,
		27, 8, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 2, 0, 0,
	}
	binary.BigEndian.PutUint64(b[60:68], 0xe8d4a51000000000) // NTP-format time
	return b
}

// mhChecksum is the Mobility Header checksum of RFC 6275 6.1.1: the 16-bit
// one's complement of the one's complement sum of the IPv6 pseudo-header
// (RFC 8200 8.1: source, destination, upper-layer length, next header 135)
// and the whole message. Verifying a received message means the sum over
// pseudo-header and message, checksum included, is 0xffff, so this
// returns 0 for a message whose checksum is right.
func mhChecksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[:4], uint32(len(msg)))
	l[7] = 135
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
