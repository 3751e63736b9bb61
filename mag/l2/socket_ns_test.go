package l2_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"golang.org/x/net/bpf"
)

// Tier 2: the packet socket on a real interface.
//
//	ns a              ns b
//	a0  <--- veth ---> b0
//	Socket sa         Socket sb
//
// sa must see what b sends and never what a itself transmits (the
// PACKET_OUTGOING prefix l2 puts before every filter), and SetFilter must
// take effect.
func TestSocketOnVeth(t *testing.T) {
	sa, sb := vethSockets(t, 0)
	if len(sa.HardwareAddr()) != 6 {
		t.Fatalf("hardware address %s", sa.HardwareAddr())
	}
	// Only our test frames from here on: ignore the kernels' own chatter.
	onlyRS := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 14 + 40, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 133, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
	if err := sa.SetFilter(onlyRS); err != nil {
		t.Fatal(err)
	}
	mine := l2test.RS(net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}, netip.MustParseAddr("fe80::a"))
	theirs := l2test.RS(net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}, netip.MustParseAddr("fe80::b"))
	if err := sa.WriteFrame(mine); err != nil {
		t.Fatal(err)
	}
	if err := sb.WriteFrame(theirs); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 4)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := sa.ReadFrame(buf)
			if err != nil {
				close(got)
				return
			}
			got <- bytes.Clone(buf[:n])
		}
	}()
	select {
	case f := <-got:
		if !bytes.Equal(f, theirs) {
			t.Fatalf("read %x, want the peer's RS", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("peer's frame not received")
	}
	select {
	case f := <-got:
		t.Fatalf("second frame %x: own outgoing frame or chatter passed the filter", f)
	case <-time.After(300 * time.Millisecond):
	}
	// A filter that passes nothing.
	if err := sa.SetFilter([]bpf.Instruction{bpf.RetConstant{Val: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.WriteFrame(theirs); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-got:
		t.Fatalf("frame %x passed a drop-all filter", f)
	case <-time.After(300 * time.Millisecond):
	}
	sa.Close()
	if _, ok := <-got; ok {
		t.Error("read after close returned a frame")
	}
	if _, err := sa.ReadFrame(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v, want net.ErrClosed", err)
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := l2.Listen("no-such-if0", 0, []bpf.Instruction{bpf.RetConstant{Val: 0}}); err == nil {
		t.Error("Listen on a missing interface succeeded")
	}
	if _, err := l2.Listen("lo", 0, nil); err == nil {
		t.Error("Listen with an empty filter succeeded")
	}
}

// vethSockets joins two fresh namespaces by a veth (a0 <-> b0) and opens
// a Socket on each end that takes every frame: sa bound to etherTypeA (0
// for all), sb to all. Neither namespace has IPv6, so the kernels send no
// Router Solicitation, DAD or MLD of their own into windows that must see
// only the test's frames. Both sockets close when the test ends.
func vethSockets(t *testing.T, etherTypeA uint16) (sa, sb *l2.Socket) {
	t.Helper()
	a, b := nstest.New(t, "a"), nstest.New(t, "b")
	a.NoIPv6(t)
	b.NoIPv6(t)
	nstest.Veth(t, a, "a0", b, "b0")
	all := []bpf.Instruction{bpf.RetConstant{Val: 0xffff}}
	if err := a.Do(func() (err error) { sa, err = l2.Listen("a0", etherTypeA, all); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	if err := b.Do(func() (err error) { sb, err = l2.Listen("b0", 0, all); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sa, sb
}
