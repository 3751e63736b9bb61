package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/mag"
)

// TestEndToEnd runs the real pmip-mag process in the domain of
// domain_ns_test.go (drawn there) with a real client: busybox udhcpc must
// get exactly the IPv4 home address of the PBA and the kernel's SLAAC an
// address in the PBA's home network prefix; a hostapd disconnect through
// `pmip-mag hook action` must deregister it (RFC 5213 6.9.1.4); SIGTERM
// must deregister every client still registered and remove the MAG's
// kernel state.
func TestEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("udhcpc"); err != nil {
		t.Skip("udhcpc not installed (apt-get install udhcpc)")
	}
	d := newDomain(t, "")
	d.start(t)

	// The data plane's base: the fixed router identity on the access
	// bridge (RFC 5213 6.9.3). The engine installs it as Run starts,
	// just after "MAG running" is logged: polled (real kernel state).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := d.mag.Run(t, "ip", "link", "show", "acc0")
		if strings.Contains(out, "00:00:5e:00:52:13") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acc0 does not carry the fixed MAG MAC:\n%s", out)
		}
	}
	if out := d.mag.Run(t, "ip", "-6", "addr", "show", "dev", "acc0"); !strings.Contains(out, "fe80::200:5eff:fe00:5213/64") {
		t.Errorf("acc0 lacks the fixed link-local address:\n%s", out)
	}

	// The client: SLAAC on, udhcpc recording its lease.
	writeSysctl(t, d.client,
		"net.ipv6.conf.c0.accept_ra", "1", "net.ipv6.conf.c0.autoconf", "1",
		"net.ipv6.conf.c0.router_solicitation_interval", "1", "net.ipv6.conf.c0.router_solicitations", "5")
	var mac string
	if err := d.client.Do(func() error {
		ifi, err := net.InterfaceByName("c0")
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	leaseLog := filepath.Join(d.dir, "lease.log")
	ipPath, _ := exec.LookPath("ip")
	script := filepath.Join(d.dir, "udhcpc.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
# busybox udhcpc event script: $1 is the event, the lease in the environment.
case "$1" in
bound|renew)
	`+ipPath+` addr replace "$ip/$mask" dev "$interface"
	echo "$1 ip=$ip mask=$mask router=$router" >> `+leaseLog+` ;;
esac
`), 0o755)
	d.client.Run(t, "ip", "link", "set", "c0", "up")
	udhcpc := exec.Command("udhcpc", "-f", "-i", "c0", "-s", script, "-t", "20", "-T", "2", "-p", filepath.Join(d.dir, "udhcpc.pid"))
	if err := d.client.Start(udhcpc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udhcpc.Process.Kill(); udhcpc.Wait() })

	// RFC 5844 3.4.1: the DHCP server hands out exactly the PBA's address.
	d.peer.waitFor(t, "the client's registration", 10*time.Second, func() bool { return d.peer.countLocked(mac, false) > 0 })
	i, _ := d.peer.index(mac)
	hoa, hnp := peerHoA(i), peerHNP(i)
	want := "bound ip=" + hoa.Addr().String() + " mask=24 router=" + peerRouter4.String()
	waitFile(t, leaseLog, want, 15*time.Second)

	// RFC 5213 6.7: the RA carries exactly the PBA's prefix; SLAAC uses it.
	var slaac netip.Addr
	deadline := time.Now().Add(15 * time.Second)
	for !slaac.IsValid() {
		out := d.client.Run(t, "ip", "-6", "-o", "addr", "show", "dev", "c0", "scope", "global")
		for _, f := range strings.Fields(out) {
			if p, err := netip.ParsePrefix(f); err == nil && hnp.Contains(p.Addr()) {
				slaac = p.Addr()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SLAAC address in %s on c0:\n%s", hnp, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("client %s: %s by DHCP, %s by SLAAC", mac, hoa.Addr(), slaac)
	if out := d.client.Run(t, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "via fe80::200:5eff:fe00:5213") {
		t.Errorf("client's default router is not the fixed MAG link-local:\n%s", out)
	}

	// pmipctl's view: the control socket lists the binding as the PBA
	// granted it.
	cl, err := ctl.Dial(context.Background(), filepath.Join(d.dir, "ctl.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var bl magBindings
	if err := cl.Call(context.Background(), methodBindings, nil, &bl); err != nil {
		t.Fatal(err)
	}
	var stats mag.Stats
	if err := cl.Call(context.Background(), methodCounters, nil, &stats); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if len(bl.Bindings) != 1 || bl.Bindings[0].MAC != mac || bl.Bindings[0].State != "registered" ||
		bl.Bindings[0].HoA != hoa || len(bl.Bindings[0].Prefixes) != 1 || bl.Bindings[0].Prefixes[0] != hnp {
		t.Errorf("control socket bindings: %+v", bl)
	}
	if stats.Accepted != 1 {
		t.Errorf("control socket counters: %+v", stats)
	}

	// One registration per client, however many triggers (association,
	// DHCP, RS, DAD).
	d.peer.mu.Lock()
	regs := d.peer.countLocked(mac, false)
	d.peer.mu.Unlock()
	if regs != 1 {
		t.Errorf("%d registration PBUs for one client, want 1", regs)
	}

	// The client's data plane: on-link routes, reverse-tunnel rules.
	routes := d.mag.Run(t, "ip", "-6", "route", "show", "proto", "158")
	routes += d.mag.Run(t, "ip", "-4", "route", "show", "proto", "158")
	rules := d.mag.Run(t, "ip", "-6", "rule") + d.mag.Run(t, "ip", "-4", "rule")
	for _, w := range []string{hnp.String() + " dev acc0", hoa.Addr().String() + " dev acc0"} {
		if !strings.Contains(routes, w) {
			t.Errorf("route %q missing:\n%s", w, routes)
		}
	}
	for _, w := range []string{"from " + hnp.String() + " iif acc0", "from " + hoa.Addr().String() + " iif acc0"} {
		if !strings.Contains(rules, w) {
			t.Errorf("rule %q missing:\n%s", w, rules)
		}
	}

	// Detach: the station leaves (its link goes down, so it sends no
	// more triggers: a DAD probe of its address would rightly attach it
	// again) and hostapd reports it gone; the MAG deregisters (RFC 5213
	// 6.9.1.4: PBU with lifetime 0) and removes its routes.
	udhcpc.Process.Kill()
	d.client.Run(t, "ip", "link", "set", "c0", "down")
	d.hook(t, "AP-STA-DISCONNECTED", mac)
	d.peer.waitFor(t, "the deregistration after the hostapd disconnect", 5*time.Second,
		func() bool { return d.peer.countLocked(mac, true) == 1 })
	waitGone(t, func() string { return d.mag.Run(t, "ip", "-6", "route", "show", "proto", "158") }, hnp.String(), 5*time.Second)

	// Attach again by association, then SIGTERM: the MAG deregisters
	// what it serves before it exits, and leaves no state behind.
	d.hook(t, "AP-STA-CONNECTED", mac)
	d.peer.waitFor(t, "the re-registration after the association", 5*time.Second,
		func() bool { return d.peer.countLocked(mac, false) == 2 })
	d.waitLog(t, "registered", 5*time.Second)
	took := d.stop(t)
	d.peer.mu.Lock()
	deregs := d.peer.countLocked(mac, true)
	d.peer.mu.Unlock()
	if deregs != 2 {
		t.Errorf("%d deregistrations after SIGTERM, want 2", deregs)
	}
	t.Logf("SIGTERM to exit: %v", took)
	for _, args := range [][]string{
		{"ip", "-6", "route", "show", "proto", "158", "table", "all"},
		{"ip", "-4", "route", "show", "proto", "158", "table", "all"},
		{"ip", "-6", "addr", "show", "dev", "acc0", "scope", "link"},
	} {
		if out := d.mag.Run(t, args[0], args[1:]...); strings.Contains(out, "proto") && strings.Contains(out, "acc0") ||
			strings.Contains(out, "fe80::200:5eff:fe00:5213") {
			t.Errorf("left after shutdown (%s):\n%s", strings.Join(args, " "), out)
		}
	}
	if out := d.mag.Run(t, "ip", "rule"); strings.Contains(out, "iif acc0") {
		t.Errorf("rules left after shutdown:\n%s", out)
	}
	if out, _ := d.mag.Output("nft", "list", "table", "inet", "pmip"); !strings.Contains(out, "No such file") {
		t.Errorf("nftables table left after shutdown:\n%s", out)
	}
	if _, err := os.Stat(d.socket); err == nil {
		t.Errorf("hook socket %s left behind", d.socket)
	}
}

func waitFile(t *testing.T, path, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if l == want {
				return
			}
			if strings.HasPrefix(l, "bound") {
				t.Fatalf("client bound %q, want %q", l, want)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s within %v:\n%s", want, path, timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitGone(t *testing.T, show func() string, what string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := show()
		if !strings.Contains(out, what) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there after %v:\n%s", what, timeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
