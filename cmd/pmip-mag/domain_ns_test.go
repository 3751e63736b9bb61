package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/syncbuf"
)

// The domain every namespace test of the daemon runs in: the real
// pmip-mag process in its own namespace, a test LMA (peer_test.go) in
// another, and a client namespace on the MAG's access bridge.
//
//	 ns lma                ns mag: pmip-mag -dataplane no-tunnel           ns client
//	+-----------------+   +------------------------------------------+   +---------------+
//	| peer (mh, raw)  |   | u0 2001:db8:ffff::2/64 (Proxy-CoA)       |   | c0            |
//	| l0 2001:db8:    |===| acc0 bridge: 00:00:5e:00:52:13,          |   | udhcpc, SLAAC |
//	|  ffff::1/64     |   |   fe80::200:5eff:fe00:5213 (set by the   |   | or emulated   |
//	+-----------------+   |   daemon's data plane), port m0 ---------|===| clients       |
//	                      | hostapd hook socket in the test's tmpdir |   +---------------+
//	                      +------------------------------------------+
//
// The host kernel has no ip6_tunnel (NOTES.md), so the daemon runs its
// reduced data plane: everything but the tunnel and the routes into it.
// Tunnels are exercised in the QEMU tier.

var (
	lmaAddr = netip.MustParseAddr("2001:db8:ffff::1")
	coaAddr = netip.MustParseAddr("2001:db8:ffff::2")
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// magBinary builds cmd/pmip-mag once per test binary run, as `make
// cross` builds it for an AP (static, stripped), into a temporary folder
// under $PMIP_MAG_BINDIR if set (scripts/bench-mag.sh puts it on tmpfs:
// see the memory section of docs/mag.md).
func magBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp(os.Getenv("PMIP_MAG_BINDIR"), "pmip-mag-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "pmip-mag")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type domain struct {
	lma, mag, client *nstest.NS
	peer             *peer
	dir              string
	config           string
	socket           string
	bin              string

	proc   *exec.Cmd
	out    *syncbuf.Buffer
	exited chan struct{}
	status error
}

// domainConfig is the MAG's /etc/config/pmip in the tests; extra is
// appended to `config mag`.
func domainConfig(socket, extra string) string {
	return fmt.Sprintf(`config mag 'main'
	option lma_address '%s'
	list proxy_coa '%s'
	option heartbeat_interval '0'
	option hostapd_socket '%s'
	option log_level 'debug'
%s
config access 'lan'
	option interface 'acc0'
	option att '802.11'
	list hostapd_iface 'phy0-ap0'

config policy
	option mac_identifier 'nai'
	option realm 'test.example'
	option ipv6 '1'
	option ipv4 '1'
`, lmaAddr, coaAddr, socket, extra)
}

func newDomain(t testing.TB, extraConfig string) *domain {
	t.Helper()
	nstest.RequireRoot(t)
	bin := magBinary(t)
	d := &domain{
		lma: nstest.New(t, "lma"), mag: nstest.New(t, "mag"), client: nstest.New(t, "client"),
		dir: t.TempDir(), bin: bin, out: &syncbuf.Buffer{}, exited: make(chan struct{}),
	}
	d.socket = filepath.Join(d.dir, "hostapd.sock")
	d.config = filepath.Join(d.dir, "pmip")
	if err := os.WriteFile(d.config, []byte(domainConfig(d.socket, extraConfig)), 0o600); err != nil {
		t.Fatal(err)
	}

	nstest.Veth(t, d.lma, "l0", d.mag, "u0")
	d.lma.Run(t, "ip", "addr", "add", lmaAddr.String()+"/64", "dev", "l0", "nodad")
	d.mag.Run(t, "ip", "addr", "add", coaAddr.String()+"/64", "dev", "u0", "nodad")

	nstest.Veth(t, d.mag, "m0", d.client, "c0")
	d.client.Run(t, "ip", "link", "set", "c0", "down")
	d.mag.Run(t, "ip", "link", "add", "acc0", "type", "bridge")
	d.mag.Run(t, "ip", "link", "set", "m0", "addrgenmode", "none")
	d.mag.Run(t, "ip", "link", "set", "m0", "master", "acc0")
	writeSysctl(t, d.mag, "net.ipv6.conf.all.forwarding", "1", "net.ipv4.ip_forward", "1",
		"net.ipv6.conf.acc0.accept_ra", "0")
	d.mag.Run(t, "ip", "link", "set", "acc0", "addrgenmode", "none")
	d.mag.Run(t, "ip", "link", "set", "acc0", "up")

	d.peer = startPeer(t, d.lma, lmaAddr)
	return d
}

// start runs the daemon and waits until it serves.
func (d *domain) start(t testing.TB, args ...string) {
	t.Helper()
	args = append([]string{"-config", d.config, "-dataplane", "no-tunnel",
		"-restart-counter", filepath.Join(d.dir, "restart_counter"), "-control", filepath.Join(d.dir, "ctl.sock")}, args...)
	d.proc = exec.Command(d.bin, args...)
	// PMIP_MAG_GOENV="GOGC=.. GOMEMLIMIT=.." reaches the daemon only,
	// to compare the runtime's settings with the main's defaults.
	d.proc.Env = append(os.Environ(), strings.Fields(os.Getenv("PMIP_MAG_GOENV"))...)
	d.proc.Stdout = d.out
	d.proc.Stderr = d.out
	if err := d.mag.Start(d.proc); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.status = d.proc.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.proc.Process.Kill()
			<-d.exited
		}
		if t.Failed() || os.Getenv("PMIP_MAG_LOG") != "" {
			t.Logf("pmip-mag output:\n%s", d.out.String())
		}
	})
	d.waitLog(t, "MAG running", 10*time.Second)
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (d *domain) stop(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	if err := d.proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("pmip-mag did not exit within 15 s of SIGTERM")
	}
	if d.status != nil {
		t.Errorf("pmip-mag exit: %v", d.status)
	}
	return time.Since(start)
}

func (d *domain) pid() int { return d.proc.Process.Pid }

// waitLog waits for a line of the daemon's output containing want.
func (d *domain) waitLog(t testing.TB, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range strings.Split(d.out.String(), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("pmip-mag exited (%v) before logging %q", d.status, want)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmip-mag did not log %q within %v", want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hook runs `pmip-mag hook action phy0-ap0 EVENT MAC` as hostapd_cli -a
// would, with a hostapd_cli that knows no identity.
func (d *domain) hook(t testing.TB, event, mac string) {
	t.Helper()
	cmd := exec.Command(d.bin, "hook", "-socket", d.socket, "-hostapd-cli", "/bin/false",
		"action", "phy0-ap0", event, mac)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pmip-mag hook action %s %s: %v\n%s", event, mac, err, out)
	}
}

// procStatus reads a kB field of /proc/PID/status.
func procStatus(t testing.TB, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s: %q", field, l)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func writeSysctl(t testing.TB, ns *nstest.NS, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		path := "/proc/sys/" + strings.ReplaceAll(kv[i], ".", "/")
		if err := ns.Do(func() error { return os.WriteFile(path, []byte(kv[i+1]), 0o644) }); err != nil {
			t.Fatalf("sysctl %s=%s in %s: %v", kv[i], kv[i+1], ns.Name, err)
		}
	}
}

// TestMain removes the binary magBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}
