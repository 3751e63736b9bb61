package sniff_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"github.com/openpmip/pmip/mag/sniff"
	"golang.org/x/net/bpf"
)

// Tier 2: a DHCPDISCOVER flood from random MACs on a real link.
//
//	attacker namespace            MAG namespace
//	a0 (packet socket, --- veth --- m0 (sniff.Sniffer on a packet
//	    20000 DISCOVERs)               socket, real kernel filter)
//
// The flood must exhaust nothing: at most MaxPending MACs wait (queued
// for the engine or answered by it), the attaches delivered stay within
// the token bucket, and every frame read is accounted for in the
// counters.
func TestDiscoverFlood(t *testing.T) {
	att, mag := nstest.New(t, "attacker"), nstest.New(t, "mag")
	nstest.Veth(t, mag, "m0", att, "a0")
	var sConn, aConn *l2.Socket
	none := []bpf.Instruction{bpf.RetConstant{Val: 0}}
	if err := mag.Do(func() (err error) { sConn, err = l2.Listen("m0", 0, none); return err }); err != nil {
		t.Fatal(err)
	}
	if err := att.Do(func() (err error) { aConn, err = l2.Listen("a0", 0, none); return err }); err != nil {
		t.Fatal(err)
	}
	defer aConn.Close()
	var attaches atomic.Int64
	const maxPending, rate, burst = 32, 50, 20
	s, err := sniff.New(sniff.Config{
		Interface: "m0", Conn: sConn,
		OnAttach:   func(sniff.Trigger) { attaches.Add(1) },
		MaxPending: maxPending, AttachRate: rate, AttachBurst: burst,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const n = 20000
	frames := make([][]byte, n)
	for i := range frames {
		mac := net.HardwareAddr{0x02, 0xf1, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		frames[i] = l2test.DHCP(mac, l2test.DHCPDiscover, nil)
	}
	start := time.Now()
	for _, f := range frames {
		if err := aConn.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	// Let the reader drain what the kernel queued.
	var last uint64
	for {
		time.Sleep(200 * time.Millisecond) // polling counters of a real socket reader
		st := s.Stats()
		if st.Frames == last {
			break
		}
		last = st.Frames
	}
	// Then stop it, so the counters below are final: a reader stalled
	// on a loaded host for the 200 ms above may still be inside a frame,
	// counted as read but not yet as admitted or dropped.
	cancel()
	<-done
	elapsed := time.Since(start)
	st := s.Stats()
	t.Logf("%d DISCOVERs sent, %d read in %s (%.0f frames/s), %d attaches, stats %+v",
		n, st.Frames, elapsed.Round(time.Millisecond), float64(st.Frames)/elapsed.Seconds(), attaches.Load(), st)
	if st.Frames == 0 {
		t.Fatal("the filter let no DISCOVER through")
	}
	if p := s.Pending(); p > maxPending {
		t.Errorf("%d pending, bound %d", p, maxPending)
	}
	if a := attaches.Load(); a > burst+int64(rate*elapsed.Seconds())+1 || a > maxPending {
		t.Errorf("%d attaches in %s exceed the bucket (%d + %d/s) or the pending bound", a, elapsed, burst, rate)
	}
	if got := st.Admitted + st.DroppedPendingFull; got != st.Frames {
		t.Errorf("accounted %d of %d frames read", got, st.Frames)
	}
	if st.Attaches > st.Admitted {
		t.Errorf("%d attaches of %d admitted", st.Attaches, st.Admitted)
	}
}
