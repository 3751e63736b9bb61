// Package smoke holds the tests the QEMU harness runs in the guest to prove
// itself (testing/qemu TestSmoke): one that must pass there, and
// deliberately failing, skipping and hanging ones that must be reported as
// such, so the harness cannot pass silently. It sits under testdata so
// `go test ./...` never builds it; the harness names it explicitly.
package smoke

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
)

// TestGuest checks it runs in the guest the harness built: PMIP_VM=1, root,
// the kernel whose modules the image carries, a tunnel module loaded on
// demand, and two namespaces joined by veth that ping each other.
//
//	[ns a] veth a0 fd00::1/64 ---- veth b0 fd00::2/64 [ns b]
func TestGuest(t *testing.T) {
	nstest.RequireVM(t)
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	release := strings.TrimSpace(string(rel))
	if _, err := os.Stat("/lib/modules/" + release + "/modules.dep"); err != nil {
		t.Fatalf("kernel %s has no modules in the image: %v", release, err)
	}

	a := nstest.New(t, "a")
	b := nstest.New(t, "b")
	// ip6tnl is a module: creating one makes the kernel call modprobe.
	a.Run(t, "ip", "link", "add", "t0", "type", "ip6tnl", "local", "fd00::1", "remote", "fd00::2", "mode", "any")
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mods), "ip6_tunnel ") {
		t.Errorf("ip6_tunnel not loaded after creating an ip6tnl link; /proc/modules:\n%s", mods)
	}
	nstest.Veth(t, a, "a0", b, "b0")
	a.Run(t, "ip", "addr", "add", "fd00::1/64", "dev", "a0", "nodad")
	b.Run(t, "ip", "addr", "add", "fd00::2/64", "dev", "b0", "nodad")
	a.Run(t, "ping", "-c", "1", "-W", "5", "fd00::2")
}

// deliberate gates the tests below: they run only when the harness asks.
func deliberate(t *testing.T, what string) {
	if os.Getenv("PMIP_SMOKE_DELIBERATE") != what {
		t.Skipf("runs only with PMIP_SMOKE_DELIBERATE=%s (testing/qemu TestSmoke)", what)
	}
}

func TestDeliberateFailure(t *testing.T) {
	deliberate(t, "fail")
	t.Error("deliberate failure: the harness must report it")
}

func TestDeliberateSkip(t *testing.T) {
	deliberate(t, "fail")
	t.Skip("deliberate skip: the harness must report it as a failure")
}

func TestDeliberateHang(t *testing.T) {
	deliberate(t, "hang")
	time.Sleep(time.Hour)
}
