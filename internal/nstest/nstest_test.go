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
