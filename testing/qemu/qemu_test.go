package qemu_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/testing/qemu"
)

const smokePkg = "./testing/qemu/testdata/smoke"

// TestSmoke proves the harness: the guest boots our image, the modules we
// ship load, a Go test passes inside, and failing, skipping and hanging
// inner tests are reported as failures.
//
//	host: go test ──unix socket── QEMU (TCG, stock Debian kernel)
//	                                 │ virtio-serial "pmip.ctl"
//	                               guest: /init ── pmip-agent ── smoke.test
//	                                 9p: /mnt/share (binaries), /mnt/src (tree, ro)
func TestSmoke(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: "smoke"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if vm.Release != vm.Image.Release {
		t.Errorf("guest runs kernel %q, the image was built for %q", vm.Release, vm.Image.Release)
	}
	mods := []string{"ip6_tunnel", "ip6_gre", "ip_gre", "ipip", "sit", "veth", "bridge", "nf_tables", "nft_fib_inet", "mac80211_hwsim"}
	t1 := time.Now()
	vm.MustRun(ctx, append([]string{"/sbin/modprobe", "-a"}, mods...)...)
	loaded := vm.MustRun(ctx, "cat", "/proc/modules")
	for _, m := range mods {
		if !strings.Contains(loaded, m+" ") {
			t.Errorf("module %s not loaded after modprobe", m)
		}
	}
	t.Logf("qemu: modprobe of %d modules in %v", len(mods), time.Since(t1).Round(time.Millisecond))

	vm.RunGoTest(t, smokePkg, "^TestGuest$")

	t.Run("failures are reported", func(t *testing.T) {
		res, err := vm.GoTest(ctx, qemu.GoTest{Package: smokePkg, Run: "^TestDeliberate(Failure|Skip)$", Env: []string{"PMIP_SMOKE_DELIBERATE=fail"}})
		if err != nil {
			t.Fatal(err)
		}
		verdict := res.Err()
		t.Logf("verdict: %v", verdict)
		if verdict == nil {
			t.Fatalf("a failing and a skipping inner test gave a passing verdict:\n%s", res.Output)
		}
		if !slices.Equal(res.Failed, []string{"TestDeliberateFailure"}) || !slices.Equal(res.Skipped, []string{"TestDeliberateSkip"}) {
			t.Errorf("failed %v, skipped %v; want [TestDeliberateFailure], [TestDeliberateSkip]", res.Failed, res.Skipped)
		}
		if res.ExitCode == 0 {
			t.Errorf("exit code 0 for a failing test binary")
		}
	})
	t.Run("timeouts are reported", func(t *testing.T) {
		res, err := vm.GoTest(ctx, qemu.GoTest{Package: smokePkg, Run: "^TestDeliberateHang$", Timeout: 3 * time.Second, Env: []string{"PMIP_SMOKE_DELIBERATE=hang"}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.TimedOut || res.Err() == nil {
			t.Errorf("a hanging inner test: timed out %v, verdict %v:\n%s", res.TimedOut, res.Err(), res.Output)
		}
	})
	t.Logf("qemu: TestSmoke took %v", time.Since(t0).Round(time.Millisecond))
}

// TestDataplane runs the tests of internal/dataplane in the guest, where
// the stock kernel has ip6tnl and GRE. Every one must pass there: a test
// that skips in the VM fails this one.
//
//	guest: [ns a] ══ ip6tnl / ip6gre over veth ══ [ns b], ping through each
func TestDataplane(t *testing.T) {
	t.Parallel()
	requireTests(t, "./internal/dataplane")
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: "dataplane"})
	vm.RunGoTest(t, "./internal/dataplane", "")
	t.Logf("qemu: TestDataplane took %v", time.Since(t0).Round(time.Millisecond))
}

// requireTests skips when pkg has no tests yet (so the tier can land before
// the package does), saying so.
func requireTests(t *testing.T, pkg string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{len .TestGoFiles}} {{len .XTestGoFiles}}", pkg).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) == "0 0" {
		t.Skipf("qemu: %s has no tests yet (%s)", pkg, strings.TrimSpace(string(out)))
	}
}
