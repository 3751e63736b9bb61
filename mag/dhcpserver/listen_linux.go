package dhcpserver

import (
	"fmt"
	"net"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Listen opens the two packet sockets a Server reads on the access
// interface ifi: IPv4 frames to UDP port 67, and ARP requests. Kernel
// filters (classic BPF) drop everything else before it is copied to us,
// including our own transmissions and frames for other hosts, so the
// MAG's forwarding traffic costs the server nothing. Requires
// CAP_NET_RAW.
func Listen(ifi *net.Interface) (dhcpConn, arpConn *packet.Conn, err error) {
	df, err := dhcpFilter()
	if err != nil {
		return nil, nil, err
	}
	af, err := arpFilter()
	if err != nil {
		return nil, nil, err
	}
	dhcpConn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IP, &packet.Config{Filter: df})
	if err != nil {
		return nil, nil, fmt.Errorf("dhcpserver: dhcp socket on %s: %w", ifi.Name, err)
	}
	arpConn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: af})
	if err != nil {
		dhcpConn.Close()
		return nil, nil, fmt.Errorf("dhcpserver: arp socket on %s: %w", ifi.Name, err)
	}
	return dhcpConn, arpConn, nil
}

// Snap lengths of the filters: a whole frame for DHCP, the ARP packet.
const (
	dhcpSnapLen = 4096
	arpSnapLen  = arpFrameLength
)

// withoutForeign prefixes a match program (which ends in its drop
// instruction) with a check that drops frames we sent ourselves
// (PACKET_OUTGOING) and frames for other hosts (PACKET_OTHERHOST, in
// promiscuous mode).
func withoutForeign(match []bpf.Instruction) []bpf.Instruction {
	n := uint8(len(match))
	return append([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: n},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OTHERHOST, SkipTrue: n - 1},
	}, match...)
}

// dhcpMatch accepts Ethernet frames with an unfragmented UDP/IPv4
// datagram to port 67.
func dhcpMatch() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIPv4, SkipTrue: 8},
		bpf.LoadAbsolute{Off: etherHeaderLen + 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoUDP, SkipTrue: 6},
		bpf.LoadAbsolute{Off: etherHeaderLen + 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x3fff, SkipTrue: 4}, // MF or offset: fragment
		bpf.LoadMemShift{Off: etherHeaderLen},                       // X = IHL*4
		bpf.LoadIndirect{Off: etherHeaderLen + 2, Size: 2},          // UDP destination port
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: serverPort, SkipTrue: 1},
		bpf.RetConstant{Val: dhcpSnapLen},
		bpf.RetConstant{Val: 0},
	}
}

// arpMatch accepts ARP requests.
func arpMatch() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeARP, SkipTrue: 3},
		bpf.LoadAbsolute{Off: etherHeaderLen + 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: arpOpRequest, SkipTrue: 1},
		bpf.RetConstant{Val: arpSnapLen},
		bpf.RetConstant{Val: 0},
	}
}

func dhcpFilter() ([]bpf.RawInstruction, error) { return bpf.Assemble(withoutForeign(dhcpMatch())) }

func arpFilter() ([]bpf.RawInstruction, error) { return bpf.Assemble(withoutForeign(arpMatch())) }
