package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GoTest says which Go test binary to run in the guest and how.
type GoTest struct {
	// Package is the package to build with `go test -c`, as a path
	// relative to the module root: "./internal/dataplane".
	Package string
	// Run is the -test.run regexp; empty runs every test.
	Run string
	// Env is added to the guest's environment (PMIP_VM=1 is always set).
	Env []string
	// Timeout is the test binary's -test.timeout (default 5 minutes), in
	// the guest's time; the harness gives up a minute after that much
	// real time, scaled by the architecture's SlowClock, if the binary
	// does not end.
	Timeout time.Duration
	// AllowSkip names tests (as in "--- SKIP: Name") that may skip in the
	// guest. Any other skip fails the verdict: a test that skips in the
	// VM did not test what the VM is there for.
	AllowSkip []string
	// Args are passed on to the test binary.
	Args []string
}

// GoTestResult is what the test binary did in the guest.
type GoTestResult struct {
	Package  string
	Output   string
	ExitCode int
	// TimedOut is set when the binary's own -test.timeout fired or the
	// harness had to kill it.
	TimedOut bool
	// Passed, Failed and Skipped list tests and subtests by name.
	Passed, Failed, Skipped []string
	// NoTests is set when -test.run matched no test.
	NoTests bool
	// BuildTime is the host's `go test -c`; RunTime the guest's run.
	BuildTime, RunTime time.Duration

	allowSkip []string
}

// Err is the verdict: nil only if the binary exited 0, printed PASS, ran at
// least one test, none failed and none skipped except those allowed.
func (r *GoTestResult) Err() error {
	var errs []error
	if r.TimedOut {
		errs = append(errs, errors.New("timed out"))
	}
	if r.ExitCode != 0 {
		errs = append(errs, fmt.Errorf("exit status %d", r.ExitCode))
	}
	if len(r.Failed) > 0 {
		errs = append(errs, fmt.Errorf("failed: %s", strings.Join(r.Failed, ", ")))
	}
	var badSkips []string
	for _, s := range r.Skipped {
		if !contains(r.allowSkip, s) {
			badSkips = append(badSkips, s)
		}
	}
	if len(badSkips) > 0 {
		errs = append(errs, fmt.Errorf("skipped in the VM, where they must run: %s", strings.Join(badSkips, ", ")))
	}
	if r.NoTests {
		errs = append(errs, errors.New("no tests to run"))
	}
	if len(r.Passed) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no test passed"))
	}
	if len(errs) == 0 && !strings.Contains("\n"+r.Output, "\nPASS\n") {
		errs = append(errs, errors.New("the binary did not print PASS"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("qemu: go test %s in the guest: %w", r.Package, errors.Join(errs...))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseGoTestOutput reads the -test.v output of a test binary.
func parseGoTestOutput(r *GoTestResult) {
	sc := bufio.NewScanner(strings.NewReader(r.Output))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " ")
		for _, v := range []struct {
			prefix string
			list   *[]string
		}{{"--- PASS: ", &r.Passed}, {"--- FAIL: ", &r.Failed}, {"--- SKIP: ", &r.Skipped}} {
			if rest, ok := strings.CutPrefix(line, v.prefix); ok {
				name, _, _ := strings.Cut(rest, " (")
				*v.list = append(*v.list, name)
			}
		}
		switch {
		case strings.HasPrefix(line, "panic: test timed out after"):
			r.TimedOut = true
		case strings.HasPrefix(line, "testing: warning: no tests to run"):
			r.NoTests = true
		}
	}
}

// GoTest builds the test binary of g.Package for the guest (static,
// CGO_ENABLED=0), runs it there with PMIP_VM=1 and -test.v in the
// package's folder of the shared source tree, and returns what it did. The
// error is for trouble of the harness (the build failed, the guest died);
// the test's own verdict is in GoTestResult.Err.
func (vm *VM) GoTest(ctx context.Context, g GoTest) (*GoTestResult, error) {
	rel := path.Clean(strings.TrimPrefix(filepath.ToSlash(g.Package), "./"))
	if strings.HasPrefix(rel, "..") || path.IsAbs(rel) {
		return nil, fmt.Errorf("qemu: go test: package %q is not inside the module", g.Package)
	}
	res := &GoTestResult{Package: "./" + rel, allowSkip: g.AllowSkip}
	bin := strings.ReplaceAll(rel, "/", "_") + ".test"
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-trimpath", "-o", filepath.Join(vm.share, bin), "./"+rel)
	cmd.Dir = vm.root
	cmd.Env = append(os.Environ(), vm.Image.Arch.GoEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu: go test -c ./%s: %v: %s", rel, err, out)
	}
	if _, err := os.Stat(filepath.Join(vm.share, bin)); err != nil {
		return nil, fmt.Errorf("qemu: go test -c ./%s wrote no binary: the package has no test files", rel)
	}
	res.BuildTime = time.Since(t0)

	timeout := g.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	// The binary runs from the guest's tmpfs: the Malta kernel cannot
	// exec from 9p (see init.sh).
	guestBin := "/tmp/" + bin
	if out, err := vm.Run(ctx, "/bin/busybox", "cp", "/mnt/share/"+bin, guestBin); err != nil {
		return nil, fmt.Errorf("qemu: copying %s into the guest: %w\n%s", bin, err, out)
	}
	defer func() { _, _ = vm.Run(context.Background(), "/bin/busybox", "rm", "-f", guestBin) }()
	args := []string{guestBin, "-test.v", "-test.count=1", "-test.timeout=" + timeout.String()}
	if g.Run != "" {
		args = append(args, "-test.run="+g.Run)
	}
	args = append(args, g.Args...)
	logf, err := os.Create(vm.logPath(bin + ".log"))
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer logf.Close()
	var out strings.Builder
	rctx, cancel := context.WithTimeout(ctx, vm.Image.Arch.hostDeadline(timeout))
	defer cancel()
	t1 := time.Now()
	err = vm.Exec(rctx, Cmd{
		Argv:   args,
		Env:    append([]string{"PMIP_VM=1"}, g.Env...),
		Dir:    "/mnt/src/" + rel,
		Output: io.MultiWriter(&out, logf),
	})
	res.RunTime = time.Since(t1)
	res.Output = out.String()
	var ee *ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.Code
		if ee.Code == 0 {
			res.ExitCode = -1 // killed by a signal
		}
	case rctx.Err() != nil && ctx.Err() == nil:
		res.TimedOut = true
		res.ExitCode = -1
	default:
		return nil, err
	}
	parseGoTestOutput(res)
	return res, nil
}

// RunGoTest runs the tests of pkg matching run (empty: all) in the guest,
// logs their output and timings, and fails tb unless they all passed with
// no skip.
func (vm *VM) RunGoTest(tb testing.TB, pkg, run string) *GoTestResult {
	tb.Helper()
	res, err := vm.GoTest(context.Background(), GoTest{Package: pkg, Run: run})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("qemu: go test %s in the guest: built in %v, ran in %v; passed %d, failed %d, skipped %d\n%s",
		res.Package, res.BuildTime.Round(time.Millisecond), res.RunTime.Round(time.Millisecond),
		len(res.Passed), len(res.Failed), len(res.Skipped), res.Output)
	if err := res.Err(); err != nil {
		tb.Error(err)
	}
	return res
}

// GoBuild cross-builds the main package pkg (a path relative to the module
// root, like "./cmd/pmip-mag") for the guest, statically, and installs it
// in the guest at /usr/local/bin/<last element of pkg>, which it returns.
// (Installed rather than run from the share: the Malta kernel cannot exec
// from 9p.)
func (vm *VM) GoBuild(ctx context.Context, pkg string) (string, error) {
	rel := path.Clean(strings.TrimPrefix(filepath.ToSlash(pkg), "./"))
	if strings.HasPrefix(rel, "..") || path.IsAbs(rel) {
		return "", fmt.Errorf("qemu: go build: package %q is not inside the module", pkg)
	}
	name := path.Base(rel)
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(vm.share, name), "./"+rel)
	cmd.Dir = vm.root
	cmd.Env = append(os.Environ(), vm.Image.Arch.GoEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("qemu: go build ./%s: %v: %s", rel, err, out)
	}
	guest := "/usr/local/bin/" + name
	if out, err := vm.Run(ctx, "/bin/busybox", "cp", "/mnt/share/"+name, guest); err != nil {
		return "", fmt.Errorf("qemu: installing %s in the guest: %w\n%s", name, err, out)
	}
	vm.logf("go build ./%s for %s in %v", rel, vm.Image.Arch.Name, time.Since(t0).Round(time.Millisecond))
	return guest, nil
}
