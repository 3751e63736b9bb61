package dataplane

import (
	"context"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/openpmip/pmip/internal/nstest"
)

// WatchLinks in a namespace of its own, against real link changes:
//
//	ns lw: acc0 (bridge), other0 (bridge, not watched)
//	  ip link set acc0 down/up, other0 down/up, acc0 deleted and created again
func TestWatchLinks(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t, "lw")
	ns.Run(t, "ip", "link", "add", "acc0", "type", "bridge")
	ns.Run(t, "ip", "link", "add", "other0", "type", "bridge")
	ns.Run(t, "ip", "link", "set", "acc0", "up")

	type upEvent struct {
		name  string
		index int
	}
	ups := make(chan upEvent, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- ns.Do(func() error {
			close(ready)
			return WatchLinks(ctx, []string{"acc0", "absent0"}, func(name string, index int) { ups <- upEvent{name, index} })
		})
	}()
	<-ready
	// The subscription is made inside Do: give it a moment, then
	// prove it is live by a change that must be reported.
	index := func(name string) int {
		var i int
		if err := ns.Do(func() error {
			_, i = linkUp(name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return i
	}
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-ups:
			if got.name != want || got.index != index(want) || got.index == 0 {
				t.Fatalf("up(%q, %d), want up(%q, %d)", got.name, got.index, want, index(want))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no up(%q)", want)
		}
	}
	none := func() {
		t.Helper()
		select {
		case got := <-ups:
			t.Fatalf("unexpected up(%q, %d)", got.name, got.index)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ns.Run(t, "ip", "link", "set", "acc0", "down")
		ns.Run(t, "ip", "link", "set", "acc0", "up")
		select {
		case got := <-ups:
			if got.name != "acc0" {
				t.Fatalf("up(%q), want up(acc0)", got.name)
			}
		case <-time.After(2 * time.Second):
			if time.Now().After(deadline) {
				t.Fatal("no up(acc0) after down/up")
			}
			continue
		}
		break
	}
	// An up of an earlier try that came late must not be taken for the
	// unexpected one below: drain until a second of quiet.
	for quiet := false; !quiet; {
		select {
		case got := <-ups:
			if got.name != "acc0" {
				t.Fatalf("up(%q), want up(acc0)", got.name)
			}
		case <-time.After(time.Second):
			quiet = true
		}
	}
	// A link not watched, and a watched one that changes but stays up
	// (its MTU), report nothing.
	ns.Run(t, "ip", "link", "set", "other0", "up")
	ns.Run(t, "ip", "link", "set", "acc0", "mtu", "1400")
	none()
	// Deleted and created again, then up: reported, with its new index.
	before := index("acc0")
	ns.Run(t, "ip", "link", "del", "acc0")
	ns.Run(t, "ip", "link", "add", "acc0", "type", "bridge")
	none()
	ns.Run(t, "ip", "link", "set", "acc0", "up")
	expect("acc0")
	if index("acc0") == before {
		t.Fatalf("the kernel gave the new acc0 the old index %d: the test proves nothing", before)
	}
	// A watched link that did not exist appears up.
	ns.Run(t, "ip", "link", "add", "absent0", "type", "bridge")
	ns.Run(t, "ip", "link", "set", "absent0", "up")
	expect("absent0")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WatchLinks: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchLinks did not return after cancel")
	}
}

func TestWatchLinksNeedsNames(t *testing.T) {
	if err := WatchLinks(context.Background(), nil, func(string, int) {}); err == nil {
		t.Error("WatchLinks without names succeeded")
	}
}

// linkNotification on what the kernel never sends must not fail hard.
func TestLinkNotificationShort(t *testing.T) {
	for _, m := range []netlink.Message{
		{Header: netlink.Header{Type: unix.RTM_NEWLINK}},
		{Header: netlink.Header{Type: unix.RTM_NEWLINK}, Data: make([]byte, 16)},
		{Header: netlink.Header{Type: unix.RTM_NEWLINK}, Data: append(make([]byte, 16), 0xff, 0xff, 3, 0)},
		{Header: netlink.Header{Type: unix.RTM_NEWADDR}, Data: make([]byte, 40)},
	} {
		if name, index, up, ok := linkNotification(m); ok {
			t.Errorf("linkNotification(%v) = %q, %d, %v, true", m, name, index, up)
		}
	}
}
