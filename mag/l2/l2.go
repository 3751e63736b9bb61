// Package l2 is the MAG's link-layer window onto an access interface: a
// packet socket with a classic BPF filter that reads and writes whole
// Ethernet frames, and the parsing and validation of the Neighbor Discovery
// frames that the attach sniffer (mag/sniff) and the Router Advertisement
// sender (mag/ra) both read.
//
// Frames are handled whole (Ethernet header included) so that the MAG can
// send Router Advertisements from the fixed link-layer and link-local
// addresses that RFC 5213 6.9.3 requires of every MAG in a domain, whatever
// address the access interface itself carries, and address them at layer 2
// to exactly one client.
package l2

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// Conn is a link-layer socket on one access interface.
//
// ReadFrame blocks until a frame that passes the filter arrives and copies
// as much of it as the filter let through (the filter's return value caps
// it) into b. WriteFrame sends one complete Ethernet frame as is. SetFilter
// atomically replaces the filter; frames already queued stay queued. Close
// unblocks a pending ReadFrame, which then returns an error wrapping
// net.ErrClosed. WriteFrames sends complete frames of any EtherType, in
// order, in one system call where the socket allows it: a burst that no
// other task can split (the router's announcements after a handover).
type Conn interface {
	ReadFrame(b []byte) (int, error)
	WriteFrame(frame []byte) error
	WriteFrames(frames [][]byte) error
	SetFilter(prog []bpf.Instruction) error
	Close() error
}

// EtherType values the MAG reads.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
	EtherTypeVLAN = 0x8100

	// ethPAll is ETH_P_ALL: every protocol, as packet(7) names it.
	ethPAll = 0x0003
)

// Socket is a Conn over a Linux AF_PACKET raw socket (mdlayher/packet).
type Socket struct {
	c *packet.Conn
	// mac is the interface's own hardware address, the nominal sll_addr of
	// writes (SOCK_RAW ignores it: the frame carries its destination).
	mac     net.HardwareAddr
	ifindex int
	closed  atomic.Bool
}

var _ Conn = (*Socket)(nil)

// Listen opens a packet socket on the named interface for the given
// EtherType (0 means every protocol) with prog as its filter, applied before
// the socket is bound so no unfiltered frame is ever queued. Frames the host
// itself transmits never pass (see SetFilter).
func Listen(ifname string, etherType uint16, prog []bpf.Instruction) (*Socket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("l2: %w", err)
	}
	raw, err := assemble(prog)
	if err != nil {
		return nil, err
	}
	proto := int(etherType)
	if proto == 0 {
		proto = ethPAll
	}
	c, err := packet.Listen(ifi, packet.Raw, proto, &packet.Config{Filter: raw})
	if err != nil {
		return nil, fmt.Errorf("l2: listen on %s: %w", ifname, err)
	}
	return &Socket{c: c, mac: ifi.HardwareAddr, ifindex: ifi.Index}, nil
}

// ReadFrame implements Conn.
func (s *Socket) ReadFrame(b []byte) (int, error) {
	n, _, err := s.c.ReadFrom(b)
	if err != nil {
		if s.closed.Load() {
			// Whatever the socket layer says (EBADF after close), the
			// caller needs to know it closed the socket itself.
			return n, fmt.Errorf("l2: read: %w", net.ErrClosed)
		}
		return n, fmt.Errorf("l2: read: %w", err)
	}
	return n, nil
}

// WriteFrame implements Conn.
func (s *Socket) WriteFrame(frame []byte) error {
	if len(frame) < EthernetHeaderLen {
		return fmt.Errorf("l2: write: frame of %d bytes: %w", len(frame), ErrMalformed)
	}
	dst := net.HardwareAddr(frame[0:6])
	if _, err := s.c.WriteTo(frame, &packet.Addr{HardwareAddr: dst}); err != nil {
		return fmt.Errorf("l2: write: %w", err)
	}
	return nil
}

// SetFilter implements Conn. The program runs after a fixed prefix that
// rejects frames the host transmits (packet type PACKET_OUTGOING), so
// neither the MAG's own Router Advertisements nor the kernel's own
// Neighbor Discovery ever come back as input.
func (s *Socket) SetFilter(prog []bpf.Instruction) error {
	raw, err := assemble(prog)
	if err != nil {
		return err
	}
	if err := s.c.SetBPF(raw); err != nil {
		return fmt.Errorf("l2: set filter: %w", err)
	}
	return nil
}

// Close implements Conn.
func (s *Socket) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.c.Close()
}

// SetReadDeadline bounds a pending and future ReadFrame, like
// net.Conn.SetReadDeadline.
func (s *Socket) SetReadDeadline(t time.Time) error { return s.c.SetReadDeadline(t) }

// HardwareAddr returns the interface's own MAC address.
func (s *Socket) HardwareAddr() net.HardwareAddr { return s.mac }

// packetOutgoing is PACKET_OUTGOING from linux/if_packet.h.
const packetOutgoing = 4

// assemble prefixes prog with the outgoing-frame check, which uses a Linux
// BPF extension that portable BPF interpreters (and l2test) lack, and
// assembles it.
func assemble(prog []bpf.Instruction) ([]bpf.RawInstruction, error) {
	if len(prog) == 0 {
		return nil, errors.New("l2: empty filter")
	}
	full := make([]bpf.Instruction, 0, len(prog)+3)
	full = append(full,
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	)
	full = append(full, prog...)
	raw, err := bpf.Assemble(full)
	if err != nil {
		return nil, fmt.Errorf("l2: assemble filter: %w", err)
	}
	return raw, nil
}
