package qemu_test

import (
	"testing"
	"time"

	"github.com/openpmip/pmip/testing/qemu"
)

// TestTransport runs the tests of internal/transport in the guest: the raw
// IPv6 Mobility Header socket on a kernel with CONFIG_IPV6_MIP6 (Debian's
// validates MH before a raw socket sees it), both carriers across veth
// between namespaces.
//
//	guest: [ns a] ── veth ── [ns b]   PBU each way, raw IPv6 135 and UDP/IPv4 5436
func TestTransport(t *testing.T) {
	t.Parallel()
	runPackage(t, "transport", "amd64", "./internal/transport", nil)
}

// TestTransportMipsel is TestTransport on the access points' architecture,
// where the MAG's raw socket must work on a 32-bit MIPS kernel.
func TestTransportMipsel(t *testing.T) {
	t.Parallel()
	runPackage(t, "transport", "mipsel", "./internal/transport", nil)
}

// TestHostapd runs the tests of mag/hostapd in the guest, among them the
// real hostapd, hostapd_cli -a and wpa_supplicant over mac80211_hwsim:
//
//	[ns ap] hostapd (WPA2-EAP) ))) hwsim ((( wpa_supplicant [ns sta]
//	hostapd_cli -a pmip-hostapd-action ──► pmip-mag hook ──► Listener
func TestHostapd(t *testing.T) {
	t.Parallel()
	runPackage(t, "hostapd", "amd64", "./mag/hostapd", qemu.WiFiBinaries)
}

func runPackage(t *testing.T, name, arch, pkg string, bins []qemu.Binary) {
	qemu.Require(t)
	requireTests(t, "github.com/openpmip/pmip/"+pkg[2:])
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: name + "-" + arch, Arch: arch, Binaries: bins})
	vm.RunGoTest(t, pkg, "")
	t.Logf("qemu: %s took %v", t.Name(), time.Since(t0).Round(time.Millisecond))
}
