package qemu_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/syncbuf"
	"github.com/openpmip/pmip/testing/qemu"
)

const smokePkg = "./testing/qemu/testdata/smoke"

// The slowest tests come first: with -parallel 2 (two cores) the mipsel
// guest, whose TCG is the slowest, starts at once and the others share
// the second core.

// TestDataplaneMipsel runs TestDataplane's tests on the access points'
// architecture: the MAG's netlink and nftables code on a 32-bit
// little-endian MIPS kernel. The Malta guest's clock runs at about a third
// of real time under TCG, so its tests take ~2 minutes of wall time.
func TestDataplaneMipsel(t *testing.T) {
	t.Parallel()
	runDataplane(t, "mipsel")
}

// TestDataplane runs the tests of internal/dataplane in the guest, where
// the stock kernel has ip6tnl and GRE. Every one must pass there: a test
// that skips in the VM fails this one.
//
//	guest: [ns a] ══ ip6tnl / ip6gre over veth ══ [ns b], ping through each
func TestDataplane(t *testing.T) {
	t.Parallel()
	runDataplane(t, "amd64")
}

func runDataplane(t *testing.T, arch string) {
	qemu.Require(t)
	requireTests(t, "github.com/openpmip/pmip/internal/dataplane")
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: "dataplane-" + arch, Arch: arch})
	vm.RunGoTest(t, "./internal/dataplane", "")
	t.Logf("qemu: %s took %v", t.Name(), time.Since(t0).Round(time.Millisecond))
}

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
	checkGoBuild(ctx, t, vm, "linux/amd64")

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
	t.Run("cancelling a command kills it", func(t *testing.T) {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		defer ccancel()
		t1 := time.Now()
		_, err := vm.Run(cctx, "/bin/sh", "-c", "sleep 600 & sleep 600")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("cancelled command returned %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(t1); d > 30*time.Second {
			t.Errorf("cancelling took %v", d)
		}
		// The whole process group is gone and the agent still answers.
		out := vm.MustRun(ctx, "/bin/sh", "-c", "ps | grep -c '[s]leep 600' || true")
		if strings.TrimSpace(out) != "0" {
			t.Errorf("%s sleep processes survive the kill", strings.TrimSpace(out))
		}
	})
	// Last: it ends the guest.
	t.Run("a crashed guest is reported", func(t *testing.T) {
		_, err := vm.Run(ctx, "/bin/sh", "-c", "echo c >/proc/sysrq-trigger; sleep 600")
		if err == nil || !strings.Contains(err.Error(), "control channel closed") {
			t.Errorf("a guest that panicked gave %v, want the control channel closed", err)
		}
		if !strings.Contains(vm.Console(), "Kernel panic") {
			t.Errorf("the console tail does not show the panic:\n%s", vm.Console())
		}
	})
	t.Logf("qemu: TestSmoke took %v", time.Since(t0).Round(time.Millisecond))
}

// requireTests skips when pkg does not exist or has no tests yet (so the
// tier could land before the package did), saying so. A package that
// exists but does not build is not skipped: building it fails the test.
func requireTests(t *testing.T, pkg string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{len .TestGoFiles}} {{len .XTestGoFiles}}", pkg).CombinedOutput()
	msg := strings.TrimSpace(string(out))
	switch {
	case err == nil && msg == "0 0":
		t.Skipf("qemu: %s has no tests yet", pkg)
	case err != nil && (strings.Contains(msg, "cannot find") || strings.Contains(msg, "no Go files") || strings.Contains(msg, "no required module provides")):
		t.Skipf("qemu: %s does not exist yet: %s", pkg, msg)
	}
}

// TestWiFi proves the image carries what the scenarios of issue 5 need:
// mac80211_hwsim radios moved into two namespaces, hostapd and
// wpa_supplicant associating with WPA2-PSK while tcpdump captures the
// station's traffic into /mnt/results, a ping over the encrypted link, a
// DHCPv4 lease from udhcpd to udhcpc, and dhclient and nft running.
//
//	[ns ap] phy0 wlan0 fd02::1 hostapd ))) 802.11 (hwsim) ((( wlan1 fd02::2 wpa_supplicant phy1 [ns sta]
//	                                                          tcpdump -> /mnt/results/sta.pcap
func TestWiFi(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: "wifi", Binaries: scenarioBinaries()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, argv := range [][]string{
		{"hostapd", "-v"}, {"wpa_supplicant", "-v"}, {"iw", "--version"},
		{"tcpdump", "--version"}, {"nft", "--version"}, {"dhclient", "--version"},
	} {
		out, err := vm.Run(ctx, argv...)
		// hostapd -v exits 1 after printing its version.
		if err != nil && !strings.Contains(out, "v2.") {
			t.Errorf("%s: %v\n%s", argv[0], err, out)
		}
	}
	if out, err := vm.Run(ctx, "/bin/sh", "-c", wifiSetup); err != nil {
		t.Fatalf("hwsim radios and hostapd: %v\n%s", err, out)
	}
	// -Z root: the image has no tcpdump user to drop privileges to.
	var capOut syncbuf.Buffer
	capture, err := vm.Start(qemu.Cmd{
		Argv:   []string{"/bin/ip", "netns", "exec", "sta", "/usr/bin/tcpdump", "-Z", "root", "--immediate-mode", "-U", "-i", "wlan1", "-w", "/mnt/results/sta.pcap"},
		Output: &capOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(capOut.String(), "listening on wlan1"); {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start:\n%s", capOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t1 := time.Now()
	out, err := vm.Run(ctx, "/bin/sh", "-c", wifiAssociate)
	if err != nil {
		t.Fatalf("WPA2-PSK association over hwsim: %v\n%s", err, out)
	}
	t.Logf("qemu: hwsim WPA2-PSK association in %v:\n%s", time.Since(t1).Round(time.Millisecond), out)
	// Data over the encrypted link. (The 4-way handshake itself does not
	// reach tcpdump: mac80211 hands EAPOL to wpa_supplicant over nl80211.)
	vm.MustRun(ctx, "/bin/ip", "-n", "ap", "addr", "add", "fd02::1/64", "dev", "wlan0", "nodad")
	vm.MustRun(ctx, "/bin/ip", "-n", "sta", "addr", "add", "fd02::2/64", "dev", "wlan1", "nodad")
	vm.MustRun(ctx, "/bin/ip", "netns", "exec", "sta", "/bin/ping", "-c", "2", "-i", "0.2", "-W", "5", "fd02::1")
	// The capture reaches the host through /mnt/results as tcpdump writes it.
	var pcap []byte
	for deadline := time.Now().Add(10 * time.Second); echoReplies(pcap) < 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		pcap, _ = os.ReadFile(filepath.Join(vm.LogDir(), "sta.pcap"))
	}
	capture.Kill()
	if n := echoReplies(pcap); n < 2 {
		t.Errorf("the capture on the station (%d bytes) holds %d ICMPv6 echo replies, want 2", len(pcap), n)
	}
	t2 := time.Now()
	if out, err := vm.Run(ctx, "/bin/sh", "-c", wifiDHCP); err != nil {
		t.Errorf("DHCPv4 over the Wi-Fi link: %v\n%s", err, out)
	} else {
		t.Logf("qemu: DHCPv4 lease over hwsim in %v:\n%s", time.Since(t2).Round(time.Millisecond), out)
	}
	t.Logf("qemu: TestWiFi took %v", time.Since(t0).Round(time.Millisecond))
}

func scenarioBinaries() []qemu.Binary {
	return slices.Concat(qemu.WiFiBinaries, qemu.ClientBinaries, qemu.CaptureBinaries)
}

// wifiSetup runs in the guest under dash: two radios, one per namespace,
// and hostapd on the first. Configurations are written with printf: the
// script lives in a Go string.
const wifiSetup = `set -eu
trap '[ $? = 0 ] || cat /tmp/hostapd.log' EXIT
touch /tmp/hostapd.log
/sbin/modprobe mac80211_hwsim radios=2
/bin/ip netns add ap
/bin/ip netns add sta
/sbin/iw phy phy0 set netns name ap
/sbin/iw phy phy1 set netns name sta
/bin/ip -n sta link set wlan1 up
printf '%s\n' interface=wlan0 driver=nl80211 ctrl_interface=/run/hostapd ssid=pmip-test \
	hw_mode=g channel=1 wpa=2 wpa_key_mgmt=WPA-PSK rsn_pairwise=CCMP \
	'wpa_passphrase=correct horse battery' >/tmp/hostapd.conf
/bin/ip netns exec ap /usr/sbin/hostapd -B -t -f /tmp/hostapd.log -P /run/hostapd.pid /tmp/hostapd.conf
`

// wifiAssociate runs wpa_supplicant on the second radio until it is
// associated. scan_freq: scanning only the AP's channel saves seconds
// under TCG.
const wifiAssociate = `set -eu
trap '[ $? = 0 ] || { echo "--- hostapd:"; cat /tmp/hostapd.log; echo "--- wpa_supplicant:"; cat /tmp/wpa.log; }' EXIT
touch /tmp/wpa.log
printf '%s\n' ctrl_interface=/run/wpa_supplicant 'network={' 'ssid="pmip-test"' \
	key_mgmt=WPA-PSK 'psk="correct horse battery"' scan_freq=2412 '}' >/tmp/wpa.conf
/bin/ip netns exec sta /sbin/wpa_supplicant -B -t -f /tmp/wpa.log -i wlan1 -c /tmp/wpa.conf -P /run/wpa.pid
i=0
until /bin/ip netns exec sta /sbin/wpa_cli -p /run/wpa_supplicant -i wlan1 status | grep -q wpa_state=COMPLETED; do
	i=$((i + 1))
	if [ $i -gt 150 ]; then
		echo "no association after 30 s"
		/bin/ip netns exec sta /sbin/wpa_cli -p /run/wpa_supplicant -i wlan1 status
		exit 1
	fi
	sleep 0.2
done
/bin/ip netns exec ap /usr/sbin/hostapd_cli -p /run/hostapd -i wlan0 all_sta | head -1
/bin/ip netns exec sta /sbin/wpa_cli -p /run/wpa_supplicant -i wlan1 status | grep -E '^(ssid|key_mgmt|wpa_state)='
`

// wifiDHCP serves DHCPv4 on the AP with busybox udhcpd and leases an
// address to the station with udhcpc and Debian's default script.
const wifiDHCP = `set -eu
/bin/ip -n ap addr add 10.9.0.1/24 dev wlan0
printf '%s\n' 'start 10.9.0.10' 'end 10.9.0.20' 'interface wlan0' 'lease_file /tmp/udhcpd.leases' \
	'option subnet 255.255.255.0' 'option router 10.9.0.1' >/tmp/udhcpd.conf
touch /tmp/udhcpd.leases
/bin/ip netns exec ap /bin/busybox udhcpd /tmp/udhcpd.conf
/bin/ip netns exec sta /sbin/udhcpc -i wlan1 -s /etc/udhcpc/default.script -n -q -t 10 -T 1
/bin/ip -n sta -4 addr show dev wlan1 | grep 'inet 10.9.0.'
/bin/ip -n sta -4 route show default
`

// TestTwoGuests links two guests by QEMU socket networking, as issue 5
// links the mipsel AP guest with the x86 LMA guest, and pings across.
//
//	[guest left] eth0 fd01::1 ── QEMU socket 127.0.0.1:port ── eth0 fd01::2 [guest right]
func TestTwoGuests(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	port := qemu.LocalPort(t)
	left := qemu.Boot(t, qemu.Options{Name: "left", NICs: []qemu.NIC{{Netdev: fmt.Sprintf("listen=127.0.0.1:%d", port), MAC: "52:54:00:00:01:01"}}})
	right := qemu.Boot(t, qemu.Options{Name: "right", NICs: []qemu.NIC{{Netdev: fmt.Sprintf("connect=127.0.0.1:%d", port), MAC: "52:54:00:00:01:02"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, vm := range []*qemu.VM{left, right} {
		vm.MustRun(ctx, "/bin/ip", "addr", "add", fmt.Sprintf("fd01::%d/64", i+1), "dev", "eth0", "nodad")
		vm.MustRun(ctx, "/bin/ip", "link", "set", "eth0", "up")
	}
	waitPath(ctx, t, right, "fd01::1", 30*time.Second)
	if out, err := pingEach(ctx, right, "fd01::1", 3); err != nil {
		t.Errorf("ping across the socket link lost packets: %v\n%s", err, out)
	}
	t.Logf("qemu: TestTwoGuests took %v", time.Since(t0).Round(time.Millisecond))
}

// TestMipselLink boots an amd64 and a Malta guest together (BootAll) on
// one UDP socket link and pings across it both ways: the link of
// scenario 6, whose Malta NIC must sit in a PCI slot with an interrupt.
//
//	[amd64] eth0 fd02::1 ══ QEMU socket (UDP) ══ eth0 fd02::2 [mipsel Malta]
func TestMipselLink(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	a, b := qemu.LocalUDPPort(t), qemu.LocalUDPPort(t)
	vms := qemu.BootAll(t,
		qemu.Options{Name: "x86", NICs: []qemu.NIC{{Netdev: fmt.Sprintf("udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", b, a), MAC: "52:54:00:00:02:01"}}},
		qemu.Options{Name: "malta", Arch: "mipsel", NICs: []qemu.NIC{{Netdev: fmt.Sprintf("udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", a, b), MAC: "52:54:00:00:02:02"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i, vm := range vms {
		vm.MustRun(ctx, "/bin/ip", "addr", "add", fmt.Sprintf("fd02::%d/64", i+1), "dev", "eth0", "nodad")
		vm.MustRun(ctx, "/bin/ip", "link", "set", "eth0", "up")
	}
	// The path first (from the amd64 guest, whose clock keeps real
	// time): the Malta guest's NIC and neighbour discovery take seconds
	// under TCG, and a ping sent before that is lost. Then no loss at all.
	waitPath(ctx, t, vms[0], "fd02::2", 60*time.Second)
	for i, vm := range vms {
		if out, err := pingEach(ctx, vm, fmt.Sprintf("fd02::%d", 2-i), 3); err != nil {
			t.Errorf("%s: ping across the socket link lost packets: %v\n%s", vm.Release, err, out)
		}
	}
	t.Logf("qemu: TestMipselLink took %v", time.Since(t0).Round(time.Millisecond))
}

// pingEach pings dst from vm n times, one probe at a time with a 10 s
// wait, and returns the first loss: `ping -c N` waits for its last reply
// only max(2 RTT, interval) once a reply came (iputils), so a slow guest
// lost the last probe of a healthy link.
func pingEach(ctx context.Context, vm *qemu.VM, dst string, n int) (string, error) {
	for i := 1; i <= n; i++ {
		if out, err := vm.Run(ctx, "/bin/ping", "-c", "1", "-W", "10", dst); err != nil {
			return out, fmt.Errorf("probe %d of %d: %w", i, n, err)
		}
	}
	return "", nil
}

// waitPath pings dst from vm until the first reply, for at most limit: a
// link just brought up answers once both NICs have carrier and neighbour
// discovery has resolved the address. A path that never answers fails
// the test with ping's last output.
func waitPath(ctx context.Context, t *testing.T, vm *qemu.VM, dst string, limit time.Duration) {
	t.Helper()
	t0 := time.Now()
	for tries := 1; ; tries++ {
		// One probe at a time: ping -c 1 -w would not do, it gives up as
		// soon as neighbour discovery fails once (an error counts
		// against -c like a reply).
		out, err := vm.Run(ctx, "/bin/ping", "-c", "1", "-W", "1", dst)
		if err == nil {
			t.Logf("qemu: path to %s up after %v (%d probes)", dst, time.Since(t0).Round(time.Millisecond), tries)
			return
		}
		if time.Since(t0) > limit || ctx.Err() != nil {
			t.Fatalf("no path to %s within %v (%d probes): %v\n%s", dst, limit, tries, err, out)
		}
	}
}

// TestMipsel boots the access points' architecture: Debian's 4kc-malta
// kernel on a MIPS Malta board, its packages from a private APT root, and
// runs the smoke test there, cross-built for mipsle softfloat.
//
//	host ── QEMU mipsel (malta, TCG) ── guest: agent + smoke.test (mipsle)
func TestMipsel(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	vm := qemu.Boot(t, qemu.Options{Name: "mipsel", Arch: "mipsel"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out := vm.MustRun(ctx, "uname", "-m"); !strings.HasPrefix(out, "mips") {
		t.Errorf("uname -m = %q, want mips", out)
	}
	vm.RunGoTest(t, smokePkg, "^TestGuest$")
	checkGoBuild(ctx, t, vm, "linux/mipsle")
	t.Logf("qemu: TestMipsel took %v", time.Since(t0).Round(time.Millisecond))
}

// echoReplies counts ICMPv6 echo replies in a pcap of Ethernet frames
// (libpcap format, little-endian, as tcpdump writes it here).
func echoReplies(pcap []byte) int {
	if len(pcap) < 24 || binary.LittleEndian.Uint32(pcap) != 0xa1b2c3d4 {
		return 0
	}
	n := 0
	for off := 24; off+16 <= len(pcap); {
		incl := int(binary.LittleEndian.Uint32(pcap[off+8:]))
		frame := pcap[off+16 : min(off+16+incl, len(pcap))]
		// Ethernet, IPv6 (0x86dd) with next header ICMPv6 (58), type 129.
		if len(frame) > 54 && frame[12] == 0x86 && frame[13] == 0xdd && frame[20] == 58 && frame[54] == 129 {
			n++
		}
		off += 16 + incl
	}
	return n
}

// checkGoBuild installs testdata/hello in the guest and runs it, as the
// scenarios install our daemons.
func checkGoBuild(ctx context.Context, t *testing.T, vm *qemu.VM, platform string) {
	t.Helper()
	bin, err := vm.GoBuild(ctx, "./testing/qemu/testdata/hello")
	if err != nil {
		t.Fatal(err)
	}
	if out := vm.MustRun(ctx, bin); !strings.HasPrefix(out, "hello from "+platform) {
		t.Errorf("%s printed %q, want hello from %s", bin, out, platform)
	}
}
