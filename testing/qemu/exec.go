package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

// Cmd is a command for the guest.
type Cmd struct {
	Argv  []string
	Env   []string // added to the guest's environment (KEY=VALUE)
	Dir   string   // working directory, default /
	Stdin []byte
	// Output receives combined stdout and stderr as it arrives.
	Output io.Writer
}

// ExitError is returned for a guest command that exited non-zero or died.
type ExitError struct {
	Argv []string
	Code int
	Err  string // how it ended abnormally, if it did
}

func (e *ExitError) Error() string {
	if e.Err != "" {
		return fmt.Sprintf("qemu: guest: %s: %s", shortArgv(e.Argv), e.Err)
	}
	return fmt.Sprintf("qemu: guest: %s: exit status %d", shortArgv(e.Argv), e.Code)
}

// shortArgv renders a command for a one-line message: a script passed to
// sh -c is cut to its first line.
func shortArgv(argv []string) string {
	s := strings.Join(argv, " ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// Exec runs c in the guest and waits for it. Cancelling ctx kills its
// process group. The error is an *ExitError for a non-zero exit, another
// error if the guest or the channel failed.
func (vm *VM) Exec(ctx context.Context, c Cmd) error {
	t0 := time.Now()
	vm.logf("$ %s", strings.Join(c.Argv, " "))
	out := io.Writer(&transcriptWriter{vm: vm})
	if c.Output != nil {
		out = io.MultiWriter(out, c.Output)
	}
	id, exitc, err := vm.ctl.start(ctl.Request{Argv: c.Argv, Env: c.Env, Dir: c.Dir, Stdin: c.Stdin}, out)
	if err != nil {
		return err
	}
	var rep ctl.Reply
	var ok bool
	select {
	case rep, ok = <-exitc:
	case <-ctx.Done():
		_ = vm.ctl.kill(id)
		select {
		case <-exitc:
		case <-time.After(10 * time.Second):
			vm.logf("agent did not answer the kill of %s: stopping the guest", c.Argv[0])
			if vm.cmd != nil && vm.cmd.Process != nil {
				_ = vm.cmd.Process.Kill()
			}
		}
		vm.logf("cancelled after %v: %v", time.Since(t0).Round(time.Millisecond), ctx.Err())
		return fmt.Errorf("qemu: guest: %s: %w", shortArgv(c.Argv), ctx.Err())
	}
	if !ok {
		return fmt.Errorf("%w while running %s (%v):\n%s", errGuestGone, shortArgv(c.Argv), vm.ctl.err, vm.console.Tail())
	}
	vm.logf("exit %d %s(%v)", rep.Code, rep.Err, time.Since(t0).Round(time.Millisecond))
	if rep.Code != 0 || rep.Err != "" {
		return &ExitError{Argv: c.Argv, Code: rep.Code, Err: rep.Err}
	}
	return nil
}

// Run runs argv in the guest and returns its combined output.
func (vm *VM) Run(ctx context.Context, argv ...string) (string, error) {
	var buf bytes.Buffer
	err := vm.Exec(ctx, Cmd{Argv: argv, Output: &buf})
	return buf.String(), err
}

// MustRun runs argv in the guest and fails the test if it fails.
func (vm *VM) MustRun(ctx context.Context, argv ...string) string {
	vm.tb.Helper()
	out, err := vm.Run(ctx, argv...)
	if err != nil {
		vm.tb.Fatalf("%v\n%s", err, out)
	}
	return out
}

func (vm *VM) logf(format string, args ...any) {
	vm.transcriptMu.Lock()
	defer vm.transcriptMu.Unlock()
	fmt.Fprintf(vm.transcript, "[%8.3fs] "+format+"\n", append([]any{time.Since(vm.started).Seconds()}, args...)...)
}

type transcriptWriter struct{ vm *VM }

func (w *transcriptWriter) Write(p []byte) (int, error) {
	w.vm.transcriptMu.Lock()
	defer w.vm.transcriptMu.Unlock()
	return w.vm.transcript.Write(p)
}
