package sniff

import (
	"net"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

// BenchmarkHandleFrame measures the userspace cost of one frame the filter
// let through: a DHCPDISCOVER flood from random MACs (the dominant case
// under attack: parsed, then dropped by the pending bound or the bucket),
// and a registered client's header-only "seen" frame.
func BenchmarkHandleFrame(b *testing.B) {
	b.Run("discover-flood", func(b *testing.B) {
		s, err := New(Config{Conn: l2test.New(), Clock: clocktest.New(t0), OnAttach: func(Trigger) {}})
		if err != nil {
			b.Fatal(err)
		}
		frames := make([][]byte, 4096)
		for i := range frames {
			frames[i] = l2test.DHCP(randMAC(i), l2test.DHCPDiscover, []byte{1, 2, 3, 4, 5, 6, 7})
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.HandleFrame(frames[i%len(frames)])
		}
	})
	b.Run("seen", func(b *testing.B) {
		s, err := New(Config{Conn: l2test.New(), Clock: clocktest.New(t0), OnAttach: func(Trigger) {}, DetachTimeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Registered(macA); err != nil {
			b.Fatal(err)
		}
		hdr := l2test.Ethernet(macA, net.HardwareAddr{0, 0, 0x5e, 0, 0x52, 0x13}, 0x0800, nil)
		b.ReportAllocs()
		for b.Loop() {
			s.HandleFrame(hdr)
		}
	})
}

// BenchmarkFilter measures the BPF program in x/net/bpf's interpreter (an
// upper bound of the kernel's cost, which JITs it) on a data frame that
// must be rejected, with 64 clients listed.
func BenchmarkFilter(b *testing.B) {
	var macs []mac
	for i := range 64 {
		macs = append(macs, mac(randMAC(i)))
	}
	c := l2test.New()
	if err := c.SetFilter(buildFilter(macs)); err != nil {
		b.Fatal(err)
	}
	data := l2test.Ethernet(macB, macA, 0x86dd, make([]byte, 1400))
	b.ReportAllocs()
	for b.Loop() {
		if c.Pass(data) != 0 {
			b.Fatal("passed")
		}
	}
}
