package mh

import (
	"encoding/binary"
	"net/netip"
)

// Checksum returns the Mobility Header checksum of b (RFC 6275 6.1.1): the
// 16-bit one's complement of the one's complement sum of the IPv6
// pseudo-header (RFC 8200 8.1: source, destination, upper-layer length,
// three zero octets, Next Header 135) and of b with its Checksum field
// taken as zero. src and dst are IPv6 addresses (an IPv4 address is used
// in its IPv4-mapped form, as the kernel does not do; callers carrying the
// header over UDP/IPv4 use it for pcaps and tests only).
func Checksum(src, dst netip.Addr, b []byte) uint16 {
	var sum uint32
	s, d := src.As16(), dst.As16()
	for i := 0; i < 16; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(s[i:]))
		sum += uint32(binary.BigEndian.Uint16(d[i:]))
	}
	n := uint32(len(b))
	sum += n>>16 + n&0xffff
	sum += IPProtoMH
	for i := 0; i+1 < len(b); i += 2 {
		if i == 4 {
			continue // the Checksum field itself counts as zero
		}
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// SetChecksum computes the checksum of the marshalled header b and stores
// it in b's Checksum field.
func SetChecksum(src, dst netip.Addr, b []byte) {
	if len(b) >= headerLen {
		binary.BigEndian.PutUint16(b[4:6], Checksum(src, dst, b))
	}
}

// VerifyChecksum reports whether b's Checksum field is right for src and
// dst (RFC 6275 9.2: a receiver silently discards a message whose
// checksum is wrong).
func VerifyChecksum(src, dst netip.Addr, b []byte) bool {
	return len(b) >= headerLen && binary.BigEndian.Uint16(b[4:6]) == Checksum(src, dst, b)
}
