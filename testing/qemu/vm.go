package qemu

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

// EnvEnable must be 1 for tier 3 to run: booting guests under TCG takes
// seconds each, so plain `go test ./...` skips it.
const EnvEnable = "PMIP_QEMU"

// EnvKeep set to 1 keeps the logs of passing tests too.
const EnvKeep = "PMIP_QEMU_KEEP"

// Options describe a guest.
type Options struct {
	// Name tells the guest's logs apart when a test boots several;
	// default the architecture's name.
	Name string
	// Arch is the guest architecture: "amd64" (default) or "mipsel".
	Arch string
	// Memory in MiB (default the Arch's: 512 amd64, 256 mipsel) and
	// virtual CPUs (default 1).
	Memory, CPUs int
	// Binaries, Packages, Modules and Load extend the image (see
	// ImageOptions); each distinct set is a separate cached image.
	Binaries []Binary
	Packages []string
	Modules  []string
	Load     []string
	// Shares are host folders mounted at /mnt/<Tag> in the guest, next to
	// the harness's own: "share" (the agent and test binaries, writable),
	// "src" (the module's source tree, read-only, where test binaries run
	// so they find their testdata) and "results" (results/<test>/ on the
	// host, writable: pcaps and logs a scenario writes there are kept if
	// the test fails).
	Shares []Share
	// NICs are virtio network cards backed by QEMU socket networking, to
	// link guests with each other (eth0, eth1, ... in the guest).
	NICs []NIC
	// Append is added to the kernel command line.
	Append string
	// BootTimeout bounds the time from starting QEMU to the agent's hello
	// (default 2 minutes; a boot takes ~5 s on an idle machine).
	BootTimeout time.Duration
}

// Share is a host folder shared into the guest over 9p (virtfs).
type Share struct {
	Tag      string
	Dir      string
	ReadOnly bool
}

// NIC is a guest network card on a QEMU socket backend. Netdev is the
// backend's options after "socket,": "listen=127.0.0.1:10001" on one
// guest and "connect=127.0.0.1:10001" on the other (booted after it),
// "udp=127.0.0.1:A,localaddr=127.0.0.1:B" and its mirror for guests booted
// together (LocalUDPPort), or "mcast=230.0.0.1:1234,localaddr=127.0.0.1"
// for a shared segment.
type NIC struct {
	Netdev string
	MAC    string // optional, e.g. "52:54:00:00:00:01"
	// Model is the QEMU network device (default virtio-net on the
	// machine's bus), e.g. "e1000"; the guest then needs its driver in
	// Options.Modules and Load.
	Model string
	// DeviceOptions are appended to the device's options.
	DeviceOptions string
}

// VM is a running guest.
type VM struct {
	Image   *Image
	Release string // the guest's uname -r, as the agent reported it

	tb       testing.TB
	name     string
	work     string // temporary: control socket, share
	share    string
	logs     string // results/<test>
	root     string // the Go module's root
	cmd      *exec.Cmd
	qemuDone chan struct{}
	qemuErr  error
	console  *tailWriter
	ctl      *control
	started  time.Time

	transcriptMu sync.Mutex
	transcript   *os.File

	closeOnce sync.Once
}

// Require skips the test unless PMIP_QEMU=1, saying how to run the tier,
// and fails it if PMIP_QEMU=1 but it does not run as root. Boot calls it;
// a test calls it itself to skip before costly preparations.
func Require(tb testing.TB) {
	tb.Helper()
	if os.Getenv(EnvEnable) != "1" {
		tb.Skipf("qemu: tier 3 boots a stock Debian kernel under TCG and runs only with %s=1: "+
			"as root, scripts/install-test-deps.sh && %s=1 go test -v ./testing/qemu/... (or make test)", EnvEnable, EnvEnable)
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("qemu: %s=1 but not root: the tier fetches Debian packages into %s and needs root; run it as root", EnvEnable, CacheDir())
	}
}

// Boot builds (or takes from the cache) the image for o, boots it under
// QEMU and waits until the agent in the guest answers. The guest is
// powered off when the test ends; if the test failed its console,
// transcript and test outputs stay under results/<test>/ and the path is
// printed.
//
// Without PMIP_QEMU=1 the test is skipped with a note on how to run it;
// with it, a missing QEMU or running as non-root fails the test.
func Boot(tb testing.TB, o Options) *VM {
	tb.Helper()
	return BootAll(tb, o)[0]
}

// BootAll is Boot for several guests at once: the images are built one
// after the other, then the guests boot in parallel (a guest's boot is
// CPU-bound on one core under TCG). Guests linked by NICs must not
// depend on their start order: give them udp= netdevs (connectionless,
// see LocalUDPPort), not listen=/connect=. If one guest fails to boot,
// all are stopped and the test fails.
func BootAll(tb testing.TB, opts ...Options) []*VM {
	tb.Helper()
	Require(tb)
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg", "depmod", "modprobe", "xz", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("qemu: %s not found on the host: run scripts/install-test-deps.sh", tool)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	vms := make([]*VM, len(opts))
	bins := make([]string, len(opts))
	for i := range opts {
		o := &opts[i]
		arch, err := lookupArch(o.Arch)
		if err != nil {
			tb.Fatal(err)
		}
		if bins[i], err = exec.LookPath(arch.QEMU); err != nil {
			tb.Fatalf("qemu: %s not found: install it with scripts/install-test-deps.sh (apt-get install %s kmod xz-utils)", arch.QEMU, arch.QEMUPackage)
		}
		if n := 1 + len(harnessShares) + len(o.Shares) + len(o.NICs); len(arch.PCISlots) > 0 && n > len(arch.PCISlots) {
			tb.Fatalf("qemu: %d PCI devices (control port, %d shares, %d NICs), but a %s guest has interrupts for %d (slots %s)",
				n, len(harnessShares)+len(o.Shares), len(o.NICs), arch.Name, len(arch.PCISlots), strings.Join(arch.PCISlots, ", "))
		}
		if o.Name == "" {
			o.Name = arch.Name
		}
		img, err := BuildImage(ImageOptions{Arch: arch, Binaries: o.Binaries, Packages: o.Packages, Modules: o.Modules, Load: o.Load}, tb.Logf)
		if err != nil {
			tb.Fatal(err)
		}
		state := "cold: built"
		if img.Warm {
			state = "warm: from the cache"
		}
		tb.Logf("qemu: image %s for kernel %s in %v (%s)", img.Key, img.Release, img.BuildTime.Round(time.Millisecond), state)
		vms[i] = &VM{Image: img, tb: tb, name: o.Name, root: root, qemuDone: make(chan struct{})}
	}

	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Go(func() { errs[i] = vm.boot(bins[i], opts[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, vm := range vms {
			vm.shutdown()
			vm.keepLogs(true)
		}
		tb.Fatal(err)
	}
	for _, vm := range vms {
		tb.Cleanup(func() {
			vm.shutdown()
			vm.keepLogs(tb.Failed())
		})
	}
	return vms
}

func (vm *VM) boot(qemuBin string, o Options) error {
	var err error
	if vm.logs, err = claimResults(vm.root, sanitizeName(vm.tb.Name())); err != nil {
		return err
	}
	if vm.transcript, err = os.Create(vm.logPath("transcript.log")); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	con, err := os.Create(vm.logPath("console.log"))
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	vm.console = &tailWriter{f: con, max: 16 << 10}

	if vm.work, err = os.MkdirTemp("", "pmip-qemu-"); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	vm.share = filepath.Join(vm.work, "share")
	if err := os.Mkdir(vm.share, 0o755); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	if err := buildAgent(vm.root, vm.Image.Arch, filepath.Join(vm.share, "pmip-agent")); err != nil {
		return err
	}

	sock := filepath.Join(vm.work, "ctl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("qemu: control socket: %w", err)
	}
	defer ln.Close()

	args := vm.qemuArgs(o, sock)
	if err := os.WriteFile(vm.logPath("qemu-cmdline"), []byte(qemuBin+" "+strings.Join(args, " ")+"\n"), 0o644); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	vm.cmd = exec.Command(qemuBin, args...)
	vm.cmd.Stdout, vm.cmd.Stderr = vm.console, vm.console
	// If the test process dies (go test's -timeout, ^C) QEMU must not
	// live on burning a core: the kernel kills it when the thread that
	// started it exits, so that thread stays locked to the goroutine
	// waiting for QEMU, and exits with the process.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	vm.started = time.Now()
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := vm.cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		vm.qemuErr = vm.cmd.Wait()
		close(vm.qemuDone)
	}()
	if err := <-startErr; err != nil {
		vm.cmd = nil
		return fmt.Errorf("qemu: start %s: %w", qemuBin, err)
	}

	timeout := o.BootTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	connc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			connc <- c
		}
	}()
	select {
	case c := <-connc:
		vm.ctl = newControl(c)
	case <-vm.qemuDone:
		return fmt.Errorf("qemu: exited before connecting the control port (%v):\n%s", vm.qemuErr, vm.console.Tail())
	case <-deadline.C:
		return fmt.Errorf("qemu: no control connection within %v:\n%s", timeout, vm.console.Tail())
	}
	select {
	case h := <-vm.ctl.hello:
		vm.Release = h.Kernel
		vm.tb.Logf("qemu: %s booted kernel %s to the agent in %v (guest uptime %.1f s)",
			vm.name, h.Kernel, time.Since(vm.started).Round(time.Millisecond), float64(h.UptimeMS)/1000)
		return nil
	case <-vm.qemuDone:
		return fmt.Errorf("qemu: guest stopped before its agent came up (%v):\n%s", vm.qemuErr, vm.console.Tail())
	case <-deadline.C:
		return fmt.Errorf("qemu: the guest's agent did not come up within %v:\n%s", timeout, vm.console.Tail())
	}
}

// harnessShares are the tags of the 9p shares every guest has (see
// Options.Shares).
var harnessShares = [...]string{"share", "src", "results"}

func (vm *VM) qemuArgs(o Options, sock string) []string {
	a := vm.Image.Arch
	mem, cpus := o.Memory, o.CPUs
	if mem == 0 {
		mem = a.Memory
	}
	if cpus == 0 {
		cpus = 1
	}
	cmdline := strings.TrimSpace("console=" + a.Console + " " + a.BootArgs + " " + o.Append)
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"}
	args = append(args, a.Machine...)
	args = append(args,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-kernel", vm.Image.Kernel, "-initrd", vm.Image.Initrd, "-append", cmdline,
		"-serial", "stdio",
	)
	// addr places the next PCI device in the architecture's next slot
	// (BootAll checked there are enough).
	next := 0
	addr := func() string {
		if next >= len(a.PCISlots) {
			return ""
		}
		next++
		return ",addr=" + a.PCISlots[next-1]
	}
	args = append(args,
		"-device", "virtio-serial-"+a.VirtioBus+",id=vser"+addr(),
		"-chardev", "socket,id=ctl,path="+sock,
		"-device", "virtserialport,bus=vser.0,chardev=ctl,name="+ctl.PortName,
	)
	shares := slices.Concat([]Share{
		{Tag: harnessShares[0], Dir: vm.share},
		{Tag: harnessShares[1], Dir: vm.root, ReadOnly: true},
		{Tag: harnessShares[2], Dir: vm.logs},
	}, o.Shares)
	for i, s := range shares {
		fsdev := fmt.Sprintf("local,id=fs%d,path=%s,security_model=none", i, s.Dir)
		if s.ReadOnly {
			fsdev += ",readonly=on"
		}
		args = append(args, "-fsdev", fsdev, "-device", fmt.Sprintf("virtio-9p-%s,fsdev=fs%d,mount_tag=%s", a.VirtioBus, i, s.Tag)+addr())
	}
	for i, n := range o.NICs {
		dev := fmt.Sprintf("virtio-net-%s,netdev=net%d", a.VirtioBus, i)
		if n.Model != "" {
			dev = fmt.Sprintf("%s,netdev=net%d", n.Model, i)
		}
		dev += addr()
		if n.MAC != "" {
			dev += ",mac=" + n.MAC
		}
		if n.DeviceOptions != "" {
			dev += "," + n.DeviceOptions
		}
		args = append(args, "-netdev", fmt.Sprintf("socket,id=net%d,%s", i, n.Netdev), "-device", dev)
	}
	return args
}

// LocalPort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for the listen= and connect= of a NIC pair.
func LocalPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("qemu: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// LocalUDPPort returns a UDP port on 127.0.0.1 that was free a moment
// ago, for a NIC pair on udp= netdevs: one guest's
// "udp=127.0.0.1:B,localaddr=127.0.0.1:A", the other's
// "udp=127.0.0.1:A,localaddr=127.0.0.1:B". Unlike listen=/connect=, the
// guests may start in any order (BootAll starts them together).
func LocalUDPPort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("qemu: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// ShareDir is the host folder mounted at /mnt/share in the guest.
func (vm *VM) ShareDir() string { return vm.share }

// LogDir is where the guest's logs are written (kept if the test fails).
func (vm *VM) LogDir() string { return vm.logs }

// Console returns the end of the guest's serial console so far.
func (vm *VM) Console() string { return vm.console.Tail() }

func (vm *VM) logPath(name string) string { return filepath.Join(vm.logs, vm.name+"."+name) }

// shutdown powers the guest off, killing QEMU if it does not stop.
func (vm *VM) shutdown() {
	vm.closeOnce.Do(func() {
		if vm.cmd != nil && vm.cmd.Process != nil {
			if vm.ctl != nil {
				_ = vm.ctl.poweroff()
			}
			select {
			case <-vm.qemuDone:
			case <-time.After(10 * time.Second):
				_ = vm.cmd.Process.Kill()
				<-vm.qemuDone
			}
		}
		if vm.ctl != nil {
			vm.ctl.conn.Close()
		}
		if vm.transcript != nil {
			vm.transcript.Close()
		}
		if vm.console != nil {
			vm.console.f.Close()
		}
		if vm.work != "" {
			os.RemoveAll(vm.work)
		}
	})
}

func (vm *VM) keepLogs(failed bool) {
	if vm.logs == "" {
		return
	}
	if failed || os.Getenv(EnvKeep) == "1" {
		vm.tb.Logf("qemu: logs of guest %s kept in %s", vm.name, vm.logs)
		return
	}
	// The test passed: its results folder goes, with what the guests
	// wrote into /mnt/results.
	os.RemoveAll(vm.logs)
}

// tailWriter writes to a file and keeps the last max bytes in memory.
type tailWriter struct {
	mu   sync.Mutex
	f    *os.File
	max  int
	tail []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tail = append(w.tail, p...)
	if len(w.tail) > w.max {
		w.tail = append([]byte(nil), w.tail[len(w.tail)-w.max:]...)
	}
	return w.f.Write(p)
}

func (w *tailWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.tail)
}

// moduleRoot finds the folder of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("qemu: no go.mod above the working directory")
		}
		dir = parent
	}
}

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// resultsDirs maps results/<test> to the folder this process claimed for
// the test.
var (
	resultsMu   sync.Mutex
	resultsDirs = map[string]string{}
)

// claimResults returns the folder for a test's logs: results/<test>,
// emptied of an earlier run's files when the test's first guest boots (its
// other guests share it). The process holds an flock on it until it exits,
// so a concurrent run of a test of the same name (another package, or
// another run in the same tree) neither empties nor writes into it: that
// run gets results/<test>.<pid>.
func claimResults(root, test string) (string, error) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results := filepath.Join(root, "results")
	key := filepath.Join(results, test)
	if dir, ok := resultsDirs[key]; ok {
		return dir, os.MkdirAll(dir, 0o755)
	}
	if err := os.MkdirAll(filepath.Join(results, ".locks"), 0o755); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	for _, name := range []string{test, fmt.Sprintf("%s.%d", test, os.Getpid())} {
		f, err := os.OpenFile(filepath.Join(results, ".locks", name), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return "", fmt.Errorf("qemu: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another process has it
		}
		// f stays open, and the lock held, for the life of the process.
		dir := filepath.Join(results, name)
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("qemu: %w", err)
		}
		resultsDirs[key] = dir
		return dir, nil
	}
	return "", fmt.Errorf("qemu: results folder for %s is in use by other processes", test)
}

// buildAgent cross-builds the guest agent into out (the VM's share, so it
// goes with the VM; Go's build cache makes a rebuild a link step).
func buildAgent(root string, a Arch, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testing/qemu/agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), a.GoEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu: building the guest agent: %v: %s", err, b)
	}
	return nil
}
