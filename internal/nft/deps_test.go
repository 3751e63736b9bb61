package nft_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDaemonsLinkNoGoogleNFTables keeps the reason this package exists:
// google/nftables cost the MAG 213 kB of binary, about as much resident
// memory on an AP (docs/mag.md section 6), so the daemons must reach the
// kernel's nf_tables through internal/nft only. Tests may still import it
// (to compare bytes).
func TestDaemonsLinkNoGoogleNFTables(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	for _, pkg := range []string{"../../cmd/pmip-mag", "../../cmd/pmip-lma", "../../cmd/pmipctl"} {
		out, err := exec.Command(gobin, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed %d packages: %q", pkg, len(deps), deps)
		}
		found := false
		for _, d := range deps {
			if strings.HasPrefix(d, "github.com/google/nftables") {
				t.Errorf("%s links %s", pkg, d)
			}
			if d == "github.com/openpmip/pmip/internal/nft" {
				found = true
			}
		}
		if pkg != "../../cmd/pmipctl" && !found {
			t.Errorf("%s does not link internal/nft: is the guard still looking at the right binary?", pkg)
		}
	}
}
