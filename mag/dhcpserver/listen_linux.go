package dhcpserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"syscall"
	"unsafe"

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
//
// The DHCP conn reads with PACKET_AUXDATA: a frame whose UDP checksum the
// sending stack left to offload (TP_STATUS_CSUMNOTREADY, seen on veth and
// for locally generated traffic) is handed up with its checksum field
// zeroed, "not computed" in RFC 768 terms, instead of failing
// verification; frames from the air carry real checksums and are checked.
func Listen(ifi *net.Interface) (dhcpConn net.PacketConn, arpConn *packet.Conn, err error) {
	df, err := dhcpFilter()
	if err != nil {
		return nil, nil, err
	}
	af, err := arpFilter()
	if err != nil {
		return nil, nil, err
	}
	pc, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_IP, &packet.Config{Filter: df})
	if err != nil {
		return nil, nil, fmt.Errorf("dhcpserver: dhcp socket on %s: %w", ifi.Name, err)
	}
	ac, err := newAuxConn(pc)
	if err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("dhcpserver: dhcp socket on %s: %w", ifi.Name, err)
	}
	arpConn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: af})
	if err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("dhcpserver: arp socket on %s: %w", ifi.Name, err)
	}
	ac.sink = portSink(ifi.Name)
	return ac, arpConn, nil
}

// portSink binds UDP port 67 on the access interface and never reads it.
// The MAG holds the clients' IPv4 default-router address on the access
// link (RFC 5844 3.3; mag/dataplane.go), so a client's unicast renewal to
// it (RFC 2131 4.4.5, RENEWING) is delivered to the MAG's own stack; with
// nothing bound there the kernel would answer ICMP port unreachable beside
// our DHCPACK (the packet socket above reads the request either way). A
// bound socket silences that; its receive buffer is the smallest the
// kernel allows and fills after a few requests, after which the kernel
// drops them quietly. If the port is taken (another DHCP server on the
// link, e.g. dnsmasq), someone answers at UDP level already: no sink.
func portSink(dev string) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev) != nil ||
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0) != nil ||
		unix.Bind(fd, &unix.SockaddrInet4{Port: serverPort}) != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// auxConn is a packet conn whose ReadFrom uses recvmsg to see each
// frame's tpacket_auxdata.
type auxConn struct {
	*packet.Conn
	rc   syscall.RawConn
	oob  []byte // one reader (Serve's loop) at a time
	sink int    // portSink's socket, or -1
	once sync.Once
}

// Close closes the packet socket and the port sink.
func (c *auxConn) Close() error {
	c.once.Do(func() {
		if c.sink >= 0 {
			unix.Close(c.sink)
		}
	})
	return c.Conn.Close()
}

func newAuxConn(c *packet.Conn) (*auxConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("PACKET_AUXDATA: %w", serr)
	}
	return &auxConn{Conn: c, rc: rc, oob: make([]byte, unix.CmsgSpace(sizeofTpacketAuxdata)), sink: -1}, nil
}

// ReadFrom implements net.PacketConn.
func (c *auxConn) ReadFrom(b []byte) (int, net.Addr, error) {
	var (
		n, oobn int
		from    unix.Sockaddr
		rerr    error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		n, oobn, _, from, rerr = unix.Recvmsg(int(fd), b, c.oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, nil, err
	}
	if checksumNotReady(c.oob[:oobn]) {
		clearUDPChecksum(b[:n])
	}
	addr := &packet.Addr{}
	if sa, ok := from.(*unix.SockaddrLinklayer); ok && int(sa.Halen) <= len(sa.Addr) {
		addr.HardwareAddr = net.HardwareAddr(append([]byte(nil), sa.Addr[:sa.Halen]...))
	}
	return n, addr, nil
}

func checksumNotReady(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA &&
			len(m.Data) >= sizeofTpacketAuxdata {
			status := binary.NativeEndian.Uint32(m.Data[0:4]) // tp_status leads the struct
			return status&unix.TP_STATUS_CSUMNOTREADY != 0
		}
	}
	return false
}

// clearUDPChecksum zeroes the UDP checksum of an Ethernet/IPv4/UDP frame
// in place; anything else is left for the parser to reject.
func clearUDPChecksum(f []byte) {
	if len(f) < etherHeaderLen+ipv4HeaderLen || binary.BigEndian.Uint16(f[12:14]) != etherTypeIPv4 {
		return
	}
	ip := f[etherHeaderLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != protoUDP || ihl < ipv4HeaderLen || len(ip) < ihl+udpHeaderLen {
		return
	}
	ip[ihl+6], ip[ihl+7] = 0, 0
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

// sizeofTpacketAuxdata is sizeof(struct tpacket_auxdata) (linux/if_packet.h).
const sizeofTpacketAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
