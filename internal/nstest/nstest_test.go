package nstest

import (
	"strings"
	"testing"
)

// [ns a] a0 ---- veth ---- b0 [ns b]
//
//	fd00::1/64              fd00::2/64
func TestVethPing(t *testing.T) {
	a := New(t, "a")
	b := New(t, "b")
	Veth(t, a, "a0", b, "b0")
	a.Run(t, "ip", "addr", "add", "fd00::1/64", "dev", "a0", "nodad")
	b.Run(t, "ip", "addr", "add", "fd00::2/64", "dev", "b0", "nodad")
	out := a.Run(t, "ping", "-6", "-c", "1", "-W", "5", "fd00::2")
	if !strings.Contains(out, "1 received") {
		t.Fatalf("ping output: %s", out)
	}
	if out, err := b.Output("ip", "link", "show", "a0"); err == nil {
		t.Fatalf("a0 visible in namespace b: %s", out)
	}
}

// [ns a] a0 ---- veth ---- b0 [ns b], IPv6 off in both before the link
// exists: neither end has an IPv6 address, not even a link-local one
// (so the kernel sends no DAD probe, MLD report or RS), and IPv4 works.
func TestNoIPv6(t *testing.T) {
	a := New(t, "a")
	b := New(t, "b")
	a.NoIPv6(t)
	b.NoIPv6(t)
	Veth(t, a, "a0", b, "b0")
	for _, x := range []struct {
		ns  *NS
		dev string
	}{{a, "a0"}, {a, "lo"}, {b, "b0"}} {
		if out := x.ns.Run(t, "ip", "-6", "addr", "show", "dev", x.dev); strings.Contains(out, "inet6") {
			t.Errorf("%s in %s has IPv6 addresses:\n%s", x.dev, x.ns.Name, out)
		}
	}
	a.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "a0")
	b.Run(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "b0")
	if out := a.Run(t, "ping", "-c", "1", "-W", "5", "192.0.2.2"); !strings.Contains(out, "1 received") {
		t.Fatalf("ping output: %s", out)
	}
}
