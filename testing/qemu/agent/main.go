// Command agent runs inside the QEMU guest of test tier 3. The guest's /init
// starts it once the 9p share is mounted; it answers the harness's requests
// (run a command, kill it, power off) over the virtio-serial port named
// ctl.PortName. See package testing/qemu/internal/ctl for the protocol.
//
// It is built by the harness for the guest's architecture (CGO_ENABLED=0)
// and never runs on the host.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

// drainAfterExit bounds how long output is still read after a process
// exited: a daemon it started in the background may hold the pipe open.
const drainAfterExit = 300 * time.Millisecond

func main() {
	log.SetPrefix("pmip-agent: ")
	log.SetFlags(0)
	port, err := openPort(ctl.PortName, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	a := &agent{enc: json.NewEncoder(port), procs: make(map[uint64]*os.Process)}
	a.send(ctl.Reply{Type: ctl.TypeHello, Kernel: kernelRelease(), UptimeMS: uptimeMS()})
	r := bufio.NewReader(port)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var req ctl.Request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				log.Printf("bad request %q: %v", line, jerr)
			} else {
				a.handle(req)
			}
		}
		if err != nil {
			log.Fatalf("control port: %v", err)
		}
	}
}

// openPort finds the virtio-serial port by name (the kernel probes the
// device asynchronously, so it may take a moment to appear).
func openPort(name string, wait time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == name {
				dev := "/dev/" + filepath.Base(filepath.Dir(n))
				return os.OpenFile(dev, os.O_RDWR, 0)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no virtio-serial port named %q (is virtio_console loaded?)", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type agent struct {
	encMu sync.Mutex
	enc   *json.Encoder

	mu    sync.Mutex
	procs map[uint64]*os.Process // running requests by ID
}

func (a *agent) send(r ctl.Reply) {
	a.encMu.Lock()
	defer a.encMu.Unlock()
	if err := a.enc.Encode(r); err != nil {
		log.Fatalf("control port: %v", err)
	}
}

func (a *agent) handle(req ctl.Request) {
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
		syscall.Sync()
		if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
			log.Printf("poweroff: %v", err)
		}
	default:
		a.send(ctl.Reply{ID: req.ID, Type: ctl.TypeExit, Code: -1, Err: fmt.Sprintf("unknown op %q", req.Op)})
	}
}

func (a *agent) run(req ctl.Request) {
	code, err := a.exec(req)
	reply := ctl.Reply{ID: req.ID, Type: ctl.TypeExit, Code: code}
	if err != nil {
		reply.Err = err.Error()
	}
	a.send(reply)
}

func (a *agent) exec(req ctl.Request) (int, error) {
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
				a.send(ctl.Reply{ID: req.ID, Type: ctl.TypeOut, Data: append([]byte(nil), buf[:n]...)})
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

func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	s, _ := strconv.ParseFloat(f[0], 64)
	return int64(s * 1000)
}
