package qemu_test

import (
	"testing"
	"time"

	"github.com/openpmip/pmip/testing/qemu"
)

// TestLMAKill9 runs pmip-lma's TestKill9 in the guest, where the stock
// kernel has ip6tnl: the LMA runs with the real netlink data plane, is
// killed with SIGKILL mid-stream and restarted, and after every restart
// the kernel must hold exactly one tunnel per MAG in use and a route for
// every home prefix and IPv4 home address of the recovered bindings into
// its MAG's tunnel, nothing stale (issue 3, "Nothing lost").
//
//	guest: [ns lma] pmip-lma (test binary in exec mode), ip6tnl to each MAG
//	         │ veth
//	       [ns mag] ap1, ap2: raw MH sockets of the test
func TestLMAKill9(t *testing.T) {
	t.Parallel()
	qemu.Require(t)
	requireTests(t, "github.com/openpmip/pmip/cmd/pmip-lma")
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: "lma-kill9", Arch: "amd64"})
	vm.RunGoTest(t, "./cmd/pmip-lma", "^TestKill9$")
	t.Logf("qemu: %s took %v", t.Name(), time.Since(t0).Round(time.Millisecond))
}
