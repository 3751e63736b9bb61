package sniff

import (
	"encoding/binary"

	"golang.org/x/net/bpf"
)

// Snap lengths the filter returns.
const (
	// snapFull keeps a whole trigger frame (the kernel caps it to the frame).
	snapFull = 0xffff
	// snapSeen keeps only the Ethernet header of a frame that merely proves
	// a registered client is still there.
	snapSeen = 14
)

// maxFilterMACs bounds the MACs one filter program lists: five instructions
// each, under the kernel's BPF_MAXINSNS of 4096 with room for the fixed part.
const maxFilterMACs = 800

// buildFilter returns the classic BPF program of the access socket. It
// passes, whole:
//
//   - ICMPv6 Router Solicitations (RFC 4861 4.1), sent by a host that wants
//     a router: the first thing a client does on a new IPv6 link;
//   - ICMPv6 Neighbor Solicitations from the unspecified address, i.e.
//     Duplicate Address Detection probes (RFC 4862 5.4.2), which a client
//     sends for its link-local address before anything else;
//   - unfragmented UDP/IPv4 to port 67 carrying a BOOTREQUEST (DHCPDISCOVER,
//     DHCPREQUEST, RFC 2131 4.1);
//
// and, cut to the Ethernet header, any other frame whose source is one of
// unseen: the registered clients not yet heard from in the current
// last-seen interval. Every other frame stays in the kernel, so traffic of a
// client already known to be alive costs nothing in userspace.
//
// The program contains no Linux extensions, so x/net/bpf's interpreter
// runs it as the kernel does; l2.Listen prefixes the check that drops the
// host's own outgoing frames.
func buildFilter(unseen [][6]byte) []bpf.Instruction {
	if len(unseen) > maxFilterMACs {
		unseen = unseen[:maxFilterMACs]
	}
	var p []bpf.Instruction
	// Fixed part. Jumps to "seen" are patched once its index is known.
	var toSeen []int
	jumpIfToSeen := func(cond bpf.JumpTest, val uint32) {
		// Falls through when the condition does not hold, jumps to "seen"
		// when it does.
		toSeen = append(toSeen, len(p))
		p = append(p, bpf.JumpIf{Cond: cond, Val: val})
	}
	retFull := bpf.RetConstant{Val: snapFull}

	p = append(p, bpf.LoadAbsolute{Off: 12, Size: 2}) // EtherType
	ipv4At := len(p)
	p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800}) // SkipTrue patched to IPv4 branch
	jumpIfToSeen(bpf.JumpNotEqual, 0x86dd)

	// IPv6: next header ICMPv6 (no extension headers), type RS or NS.
	p = append(p, bpf.LoadAbsolute{Off: 14 + 6, Size: 1})
	jumpIfToSeen(bpf.JumpNotEqual, 58)
	p = append(p, bpf.LoadAbsolute{Off: 14 + 40, Size: 1})
	p = append(p, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 133, SkipTrue: 1})
	p = append(p, retFull)
	jumpIfToSeen(bpf.JumpNotEqual, 135)
	// Neighbor Solicitation: only DAD probes, whose source is ::.
	for off := uint32(14 + 8); off < 14+24; off += 4 {
		p = append(p, bpf.LoadAbsolute{Off: off, Size: 4})
		jumpIfToSeen(bpf.JumpNotEqual, 0)
	}
	p = append(p, retFull)

	// IPv4: UDP, first and only fragment, to port 67, BOOTREQUEST.
	p[ipv4At] = bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipTrue: uint8(len(p) - ipv4At - 1)}
	p = append(p, bpf.LoadAbsolute{Off: 14 + 9, Size: 1})
	jumpIfToSeen(bpf.JumpNotEqual, 17)
	p = append(p, bpf.LoadAbsolute{Off: 14 + 6, Size: 2})
	jumpIfToSeen(bpf.JumpBitsSet, 0x3fff) // MF flag or a fragment offset
	p = append(p, bpf.LoadMemShift{Off: 14})
	p = append(p, bpf.LoadIndirect{Off: 14 + 2, Size: 2})
	jumpIfToSeen(bpf.JumpNotEqual, 67)
	p = append(p, bpf.LoadIndirect{Off: 14 + 8, Size: 1})
	jumpIfToSeen(bpf.JumpNotEqual, 1)
	p = append(p, retFull)

	seen := len(p)
	for _, at := range toSeen {
		j := p[at].(bpf.JumpIf)
		j.SkipTrue = uint8(seen - at - 1)
		p[at] = j
	}
	// Seen part: the source MAC is one of unseen.
	for _, m := range unseen {
		hi := binary.BigEndian.Uint32(m[0:4])
		lo := uint32(binary.BigEndian.Uint16(m[4:6]))
		p = append(p,
			bpf.LoadAbsolute{Off: 6, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: hi, SkipTrue: 3},
			bpf.LoadAbsolute{Off: 10, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: lo, SkipTrue: 1},
			bpf.RetConstant{Val: snapSeen},
		)
	}
	return append(p, bpf.RetConstant{Val: 0})
}
