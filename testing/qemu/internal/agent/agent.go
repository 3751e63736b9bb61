// Package agent is the guest side of the control protocol of package
// testing/qemu/internal/ctl: it runs the host's commands and streams their
// output back. The guest's command testing/qemu/agent serves it on the
// virtio-serial port; tests serve it on a pipe.
package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

// drainAfterExit bounds how long output is still read after a process
// exited: a daemon it started in the background may hold the pipe open.
const drainAfterExit = 300 * time.Millisecond

// Agent answers requests on one connection.
type Agent struct {
	// Poweroff is called for ctl.OpPoweroff.
	Poweroff func()
	// Logf reports what cannot go back to the host.
	Logf func(format string, args ...any)

	encMu sync.Mutex
	enc   *json.Encoder

	mu    sync.Mutex
	procs map[uint64]*os.Process // running requests by ID
}

// Serve sends hello, then answers the requests read from rw until reading
// fails, and returns that error (io.EOF when the host closed).
func (a *Agent) Serve(rw io.ReadWriter, hello ctl.Reply) error {
	a.enc = json.NewEncoder(rw)
	a.procs = make(map[uint64]*os.Process)
	hello.Type = ctl.TypeHello
	if err := a.send(hello); err != nil {
		return err
	}
	r := bufio.NewReader(rw)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var req ctl.Request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				a.logf("bad request %q: %v", line, jerr)
			} else {
				a.handle(req)
			}
		}
		if err != nil {
			return err
		}
	}
}

func (a *Agent) logf(format string, args ...any) {
	if a.Logf != nil {
		a.Logf(format, args...)
	}
}

func (a *Agent) send(r ctl.Reply) error {
	a.encMu.Lock()
	defer a.encMu.Unlock()
	if err := a.enc.Encode(r); err != nil {
		a.logf("control channel: %v", err)
		return err
	}
	return nil
}

func (a *Agent) handle(req ctl.Request) {
	switch req.Op {
	case ctl.OpRun:
		go a.run(req)
	case ctl.OpKill:
		a.mu.Lock()
		p := a.procs[req.ID]
		a.mu.Unlock()
		if p != nil {
			// The process leads its own group: end everything it started.
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	case ctl.OpPoweroff:
		if a.Poweroff != nil {
			a.Poweroff()
		}
	default:
		_ = a.send(ctl.Reply{ID: req.ID, Type: ctl.TypeExit, Code: -1, Err: fmt.Sprintf("unknown op %q", req.Op)})
	}
}

func (a *Agent) run(req ctl.Request) {
	code, err := a.exec(req)
	reply := ctl.Reply{ID: req.ID, Type: ctl.TypeExit, Code: code}
	if err != nil {
		reply.Err = err.Error()
	}
	_ = a.send(reply)
}

func (a *Agent) exec(req ctl.Request) (int, error) {
	if len(req.Argv) == 0 {
		return -1, errors.New("empty argv")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	defer pr.Close()
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Env = append(os.Environ(), req.Env...)
	cmd.Dir = req.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if req.Stdin != nil {
		cmd.Stdin = bytes.NewReader(req.Stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return -1, err
	}
	pw.Close() // the child holds its own copy
	a.mu.Lock()
	a.procs[req.ID] = cmd.Process
	a.mu.Unlock()

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 32<<10)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				_ = a.send(ctl.Reply{ID: req.ID, Type: ctl.TypeOut, Data: append([]byte(nil), buf[:n]...)})
			}
			if err != nil {
				return
			}
		}
	}()
	werr := cmd.Wait()
	a.mu.Lock()
	delete(a.procs, req.ID)
	a.mu.Unlock()
	_ = pr.SetReadDeadline(time.Now().Add(drainAfterExit))
	<-copied

	var ee *exec.ExitError
	switch {
	case werr == nil:
		return 0, nil
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, fmt.Errorf("killed by signal %v", ws.Signal())
		}
		return ee.ExitCode(), nil
	default:
		return -1, werr
	}
}
