package main

import (
	"strings"
	"testing"
	"time"
)

// TestAccessLinkFlap: the access bridge goes down and up under the
// running daemon (domain_ns_test.go's domain). The kernel then drops the
// fixed link-local address (RFC 5213 6.9.3) and the on-link routes to the
// clients; the daemon sees the link come back (dataplane.WatchLinks) and
// resynchronises its data plane, so the address, routes and rules are
// back, and the daemon keeps serving.
func TestAccessLinkFlap(t *testing.T) {
	d := newDomain(t, "")
	d.start(t)
	const mac = "02:00:00:00:0a:01"
	d.hook(t, "AP-STA-CONNECTED", mac)
	d.peer.waitFor(t, "the registration", 10*time.Second, func() bool { return d.peer.countLocked(mac, false) > 0 })
	i, _ := d.peer.index(mac)
	hnp, hoa := peerHNP(i), peerHoA(i)

	want := func() []string {
		return []string{
			"addr fe80::200:5eff:fe00:5213/64",
			"route " + hnp.String() + " dev acc0",
			"route " + hoa.Addr().String() + " dev acc0",
			"rule from " + hnp.String() + " iif acc0",
			"rule from " + hoa.Addr().String() + " iif acc0",
		}
	}
	state := func() string {
		return "addr " + d.mag.Run(t, "ip", "-6", "addr", "show", "dev", "acc0") +
			"route " + d.mag.Run(t, "ip", "-6", "route", "show", "proto", "158") +
			"route " + d.mag.Run(t, "ip", "-4", "route", "show", "proto", "158") +
			"rule " + d.mag.Run(t, "ip", "-6", "rule") + "rule " + d.mag.Run(t, "ip", "-4", "rule")
	}
	missing := func(s string) []string {
		var out []string
		for _, w := range want() {
			kind, what, _ := strings.Cut(w, " ")
			found := false
			for _, part := range strings.Split(s, kind+" ")[1:] {
				if strings.Contains(part, what) {
					found = true
				}
			}
			if !found {
				out = append(out, w)
			}
		}
		return out
	}
	waitState := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := state()
			m := missing(s)
			if len(m) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: missing %q in:\n%s", what, m, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitState("after the registration")

	d.mag.Run(t, "ip", "link", "set", "acc0", "down")
	if m := missing(state()); len(m) == 0 {
		t.Fatalf("the kernel kept everything over a link down: the test proves nothing")
	}
	d.mag.Run(t, "ip", "link", "set", "acc0", "up")
	waitState("after the link came back")
	d.waitLog(t, "access link up again", 5*time.Second)

	// Still serving: another client registers.
	const mac2 = "02:00:00:00:0a:02"
	d.hook(t, "AP-STA-CONNECTED", mac2)
	d.peer.waitFor(t, "a registration after the flap", 10*time.Second, func() bool { return d.peer.countLocked(mac2, false) > 0 })
	select {
	case <-d.exited:
		t.Fatalf("pmip-mag exited after the link flap: %v", d.status)
	default:
	}
}

// TestAccessLinkRecreated: the access bridge is deleted and created again
// (what netifd does on a network restart). The access components' packet
// sockets are bound to the old interface index, so the daemon exits for
// procd to start it again, without deregistering its clients (the LMA
// keeps their bindings; the next daemon registers them again) and
// without removing their routes.
func TestAccessLinkRecreated(t *testing.T) {
	d := newDomain(t, "")
	d.start(t)
	const mac = "02:00:00:00:0a:03"
	d.hook(t, "AP-STA-CONNECTED", mac)
	d.peer.waitFor(t, "the registration", 10*time.Second, func() bool { return d.peer.countLocked(mac, false) > 0 })
	d.waitLog(t, "registration accepted", 5*time.Second)

	d.mag.Run(t, "ip", "link", "del", "acc0")
	d.mag.Run(t, "ip", "link", "add", "acc0", "type", "bridge")
	d.mag.Run(t, "ip", "link", "set", "m0", "master", "acc0")
	d.mag.Run(t, "ip", "link", "set", "acc0", "up")
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("pmip-mag did not exit after its access link was re-created")
	}
	if d.status == nil {
		t.Error("pmip-mag exited 0 after its access link was re-created; procd must see a failure to respawn it")
	}
	d.waitLog(t, "was re-created", time.Second)
	d.peer.mu.Lock()
	deregs := d.peer.countLocked(mac, true)
	d.peer.mu.Unlock()
	if deregs != 0 {
		t.Errorf("%d deregistrations: a restart must leave the bindings to the next daemon", deregs)
	}
}
