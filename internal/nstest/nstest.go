// Package nstest gives privileged tests throwaway network namespaces, so
// each test owns its links, addresses, routes and sockets (test tier 2).
//
// Namespaces are created natively (unshare plus a bind mount under
// /run/netns), so they also work inside the QEMU guest where every exec of
// a dynamically linked tool costs ~95 ms. A goroutine that entered a
// namespace keeps its OS thread locked until it exits, so the thread dies
// rather than return to the pool in the wrong namespace.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Dir is where named namespaces are bind-mounted, as iproute2 expects, so
// `ip netns exec NAME` works on them too.
const Dir = "/run/netns"

// RequireRoot skips the test, saying why, unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("nstest: needs root to create network namespaces (run `make test` as root)")
	}
}

// NS is a named network namespace.
type NS struct {
	Name string
	Path string
}

// New creates a namespace named after the test with a random suffix and
// removes it when the test ends. It skips the test without root.
func New(tb testing.TB, label string) *NS {
	tb.Helper()
	RequireRoot(tb)
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("pt-%s-%s", sanitize(label), hex.EncodeToString(b[:]))
	ns, err := Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			tb.Errorf("nstest: %v", err)
		}
	})
	return ns
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

// Create makes a new named namespace with its loopback up.
func Create(name string) (*NS, error) {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return nil, fmt.Errorf("nstest: %w", err)
	}
	path := filepath.Join(Dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return nil, fmt.Errorf("nstest: create %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's namespace changes
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount %s: %w", path, err)
			return
		}
		errc <- setLoopbackUp()
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("nstest: namespace %s: %w", name, err)
	}
	return &NS{Name: name, Path: path}, nil
}

func setLoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// Delete unmounts and removes the namespace. Processes still inside keep it
// alive until they exit.
func (ns *NS) Delete() error {
	if err := unix.Unmount(ns.Path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", ns.Path, err)
	}
	if err := os.Remove(ns.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Do runs fn on a fresh OS thread inside the namespace and returns its
// error. Sockets and netlink connections opened by fn stay bound to the
// namespace after Do returns and may be used from any goroutine.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("nstest: open %s: %w", ns.Path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("nstest: setns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Start starts cmd inside the namespace (the child inherits the namespace
// of the thread that forks it).
func (ns *NS) Start(cmd *exec.Cmd) error {
	return ns.Do(cmd.Start)
}

// Run runs the command inside the namespace and returns its combined output,
// failing the test with that output if it exits non-zero.
func (ns *NS) Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := ns.Output(name, args...)
	if err != nil {
		tb.Fatalf("nstest: in %s: %s %s: %v\n%s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// Output runs the command inside the namespace and returns its combined
// output and error.
func (ns *NS) Output(name string, args ...string) (string, error) {
	var buf strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := ns.Start(cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	return buf.String(), err
}

// NoIPv6 turns IPv6 off in the namespace, on its links and on those made
// after, so that the kernel sends nothing of its own on them. A link that
// comes up with IPv6 sends MLD reports, a DAD probe and, about 1-2 s
// later, a Router Solicitation: a test reading raw frames (an RS filter,
// a frame count) sees those as well as its own unless it filters them
// out, and on a loaded host it lasts long enough to meet them.
func (ns *NS) NoIPv6(tb testing.TB) {
	tb.Helper()
	if err := ns.Do(func() error {
		for _, conf := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatalf("nstest: IPv6 off in %s: %v", ns.Name, err)
	}
}

// Veth joins namespaces a and b with a veth pair, aIf in a and bIf in b,
// both set up. It uses iproute2's ip, which tier 2 and the QEMU image carry.
func Veth(tb testing.TB, a *NS, aIf string, b *NS, bIf string) {
	tb.Helper()
	a.Run(tb, "ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.Run(tb, "ip", "link", "set", aIf, "up")
	b.Run(tb, "ip", "link", "set", bIf, "up")
}

// VMEnv is set to 1 by the QEMU harness inside the guest (test tier 3).
const VMEnv = "PMIP_VM"

// InVM reports whether the test runs inside the QEMU guest.
func InVM() bool { return os.Getenv(VMEnv) == "1" }

// RequireVM skips a test that needs a stock Debian kernel (real ip6tnl, GRE,
// mac80211_hwsim ...) unless it runs in the QEMU guest, where the harness
// in testing/qemu builds it into a test binary and runs it.
func RequireVM(tb testing.TB) {
	tb.Helper()
	if !InVM() {
		tb.Skip("nstest: needs the stock kernel of the QEMU tier (testing/qemu runs it there; PMIP_VM=1)")
	}
	RequireRoot(tb)
}
