package l2_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"golang.org/x/net/bpf"
)

// Tier 2: WriteFrames on a real interface.
//
//	ns a                              ns b
//	a0  <------------ veth ---------> b0
//	Socket sa (bound to IPv6)         Socket sb (every protocol)
//	WriteFrames(ARP, RS, ARP)  ──►    reads the three, in order
//
// One sendmmsg carries frames of several EtherTypes from a socket bound to
// one of them, each intact and in order; bad input writes nothing.
func TestWriteFramesOnVeth(t *testing.T) {
	sa, sb := vethSockets(t, l2.EtherTypeIPv6)
	// Only frames from a's test MAC: nothing else of the kernels'.
	fromA := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0200_0000, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 10, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x000a, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
	if err := sb.SetFilter(fromA); err != nil {
		t.Fatal(err)
	}
	src, dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}, net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	arp := func(op byte) []byte {
		f := make([]byte, 14+28)
		copy(f[0:6], dst)
		copy(f[6:12], src)
		binary.BigEndian.PutUint16(f[12:14], l2.EtherTypeARP)
		copy(f[14:22], []byte{0, 1, 8, 0, 6, 4, 0, op})
		copy(f[22:28], src)
		copy(f[28:32], []byte{10, 20, 0, 1})
		copy(f[38:42], []byte{10, 20, 0, 2})
		return f
	}
	rs := l2test.RS(src, netip.MustParseAddr("fe80::a"))
	copy(rs[0:6], dst)
	frames := [][]byte{arp(1), rs, arp(2)}
	if err := sa.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for i, want := range frames {
		if err := sb.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := sb.ReadFrame(buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("frame %d: read %x, want %x", i, buf[:n], want)
		}
	}
	// Bad input: nothing goes.
	if err := sa.WriteFrames([][]byte{arp(1), {1, 2, 3}}); !errors.Is(err, l2.ErrMalformed) {
		t.Errorf("short frame: %v, want ErrMalformed", err)
	}
	if err := sb.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := sb.ReadFrame(buf); err == nil {
		t.Errorf("frame %x sent from a batch refused as malformed", buf[:n])
	}
	if err := sa.WriteFrames(nil); err != nil {
		t.Errorf("no frames: %v", err)
	}
	sa.Close()
	if err := sa.WriteFrames(frames); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after close: %v, want net.ErrClosed", err)
	}
}
