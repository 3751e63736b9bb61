package qemu

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/syncbuf"
	"github.com/openpmip/pmip/testing/qemu/internal/agent"
	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

// TestControlWithAgent runs the host side of the control channel against
// the guest agent's code over a pipe on this machine, no QEMU needed:
//
//	VM.Exec ── control ── net.Pipe ── agent.Agent ── /bin/sh ...
func TestControlWithAgent(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	host, guest := net.Pipe()
	a := &agent.Agent{Logf: t.Logf}
	served := make(chan error, 1)
	go func() { served <- a.Serve(guest, ctl.Reply{Kernel: "6.1.0-test"}) }()

	dir := t.TempDir()
	transcript, err := os.Create(filepath.Join(dir, "transcript"))
	if err != nil {
		t.Fatal(err)
	}
	defer transcript.Close()
	console, err := os.Create(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	vm := &VM{ctl: newControl(host), transcript: transcript, console: &tailWriter{f: console, max: 1024}, started: time.Now()}
	select {
	case h := <-vm.ctl.hello:
		if h.Kernel != "6.1.0-test" {
			t.Errorf("hello kernel %q", h.Kernel)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no hello")
	}
	ctx := context.Background()

	t.Run("output and exit status", func(t *testing.T) {
		out, err := vm.Run(ctx, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 3 {
			t.Errorf("err = %v, want exit status 3", err)
		}
		if out != "out\nerr\n" {
			t.Errorf("output %q", out)
		}
	})
	t.Run("env, dir and stdin", func(t *testing.T) {
		var buf strings.Builder
		err := vm.Exec(ctx, Cmd{Argv: []string{"/bin/sh", "-c", "echo $FOO; pwd; cat"}, Env: []string{"FOO=bar"}, Dir: dir, Stdin: []byte("in\n"), Output: &buf})
		if err != nil {
			t.Fatal(err)
		}
		if want := "bar\n" + dir + "\nin\n"; buf.String() != want {
			t.Errorf("output %q, want %q", buf.String(), want)
		}
	})
	t.Run("no such program", func(t *testing.T) {
		_, err := vm.Run(ctx, "/nonexistent/program")
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != -1 || ee.Err == "" {
			t.Errorf("err = %#v, want a start failure", err)
		}
	})
	t.Run("concurrent commands", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want := strings.Repeat("x", 100000+i)
				out, err := vm.Run(ctx, "/bin/sh", "-c", "printf %s \"$0\"", want)
				if err != nil || out != want {
					t.Errorf("command %d: %v, %d bytes back, want %d", i, err, len(out), len(want))
				}
			}()
		}
		wg.Wait()
	})
	t.Run("cancel kills the process group", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		pidFile := filepath.Join(dir, "bgpid")
		t0 := time.Now()
		_, err := vm.Run(cctx, "/bin/sh", "-c", "sleep 60 & echo $! >"+pidFile+"; wait")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(t0); d > 10*time.Second {
			t.Errorf("cancel took %v", d)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(string(b))
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil || strings.Contains(string(st), ") Z ") {
				break // gone, or a zombie of the killed shell
			}
			if time.Now().After(deadline) {
				t.Errorf("background sleep %s outlived the kill", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("start and kill a daemon", func(t *testing.T) {
		var buf syncbuf.Buffer
		p, err := vm.Start(Cmd{Argv: []string{"/bin/sh", "-c", "echo up; exec sleep 60"}, Output: &buf})
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(buf.String(), "up"); {
			if time.Now().After(deadline) {
				t.Fatal("the daemon never said it was up")
			}
			time.Sleep(10 * time.Millisecond)
		}
		p.Kill()
		var ee *ExitError
		if err := p.Wait(); !errors.As(err, &ee) || !strings.Contains(ee.Err, "killed") {
			t.Errorf("Wait after Kill = %v, want killed by a signal", err)
		}
	})
	t.Run("guest gone", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := vm.Run(ctx, "/bin/sh", "-c", "sleep 2")
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		guest.Close()
		select {
		case err := <-done:
			if !errors.Is(err, errGuestGone) {
				t.Errorf("err = %v, want errGuestGone", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a command pending when the channel closed never returned")
		}
		if _, err := vm.Run(ctx, "true"); !errors.Is(err, errGuestGone) {
			t.Errorf("after close: err = %v, want errGuestGone", err)
		}
	})
	if err := <-served; err == nil {
		t.Error("Serve returned nil after its connection closed")
	}
}
