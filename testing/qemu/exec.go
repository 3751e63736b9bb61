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

// Process is a command running in the guest, started with Start.
type Process struct {
	vm   *VM
	argv []string
	id   uint64
	done chan struct{}
	err  error // set before done closes
}

// Start starts c in the guest and returns once the agent has the request:
// for daemons (the LMA, the MAGs, hostapd) that a scenario runs alongside
// its checks. End it with Kill, or collect it with Wait.
func (vm *VM) Start(c Cmd) (*Process, error) {
	t0 := time.Now()
	vm.logf("$ %s", strings.Join(c.Argv, " "))
	out := io.Writer(&transcriptWriter{vm: vm})
	if c.Output != nil {
		out = io.MultiWriter(out, c.Output)
	}
	id, exitc, err := vm.ctl.start(ctl.Request{Argv: c.Argv, Env: c.Env, Dir: c.Dir, Stdin: c.Stdin}, out)
	if err != nil {
		return nil, err
	}
	p := &Process{vm: vm, argv: c.Argv, id: id, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		rep, ok := <-exitc
		switch {
		case !ok:
			p.err = fmt.Errorf("%w while running %s (%v):\n%s", errGuestGone, shortArgv(c.Argv), vm.ctl.err, vm.console.Tail())
		case rep.Code != 0 || rep.Err != "":
			p.err = &ExitError{Argv: c.Argv, Code: rep.Code, Err: rep.Err}
		}
		vm.logf("exit of %s: %d %s(%v)", shortArgv(c.Argv), rep.Code, rep.Err, time.Since(t0).Round(time.Millisecond))
	}()
	return p, nil
}

// Wait waits for the process to end. The error is an *ExitError for a
// non-zero exit or a death by signal, another error if the guest or the
// channel failed.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Kill ends the process and everything it started (its process group) and
// waits for it. If the agent does not answer, the guest is stopped.
func (p *Process) Kill() {
	_ = p.vm.ctl.kill(p.id)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.vm.logf("agent did not answer the kill of %s: stopping the guest", p.argv[0])
		if p.vm.cmd != nil && p.vm.cmd.Process != nil {
			_ = p.vm.cmd.Process.Kill()
		}
		<-p.done
	}
}

// Exec runs c in the guest and waits for it. Cancelling ctx kills its
// process group. The error is as Process.Wait's, or wraps ctx.Err().
func (vm *VM) Exec(ctx context.Context, c Cmd) error {
	p, err := vm.Start(c)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.Kill()
		vm.logf("cancelled %s: %v", shortArgv(c.Argv), ctx.Err())
		return fmt.Errorf("qemu: guest: %s: %w", shortArgv(c.Argv), ctx.Err())
	}
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
