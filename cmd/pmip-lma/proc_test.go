package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/syncbuf"
	"github.com/openpmip/pmip/internal/transport"
)

// execEnv makes the test binary run pmip-lma's main instead of its tests:
// in the QEMU guest there is no Go toolchain to build the binary, so the
// tier-3 run of TestKill9 starts its own test binary in this mode (the
// same run function as the binary's main).
const execEnv = "PMIP_LMA_TEST_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// lmaBinary returns the command that runs pmip-lma: the real binary built
// from this package with the go tool when there is one (tier 2 on the
// host), else this test binary in execEnv mode (tier 3 in the guest).
func lmaBinary(t *testing.T) (path string, env []string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = "/usr/local/go/bin/go"
	}
	if _, err := os.Stat(gobin); err == nil && !nstest.InVM() {
		out := filepath.Join(t.TempDir(), "pmip-lma")
		cmd := exec.Command(gobin, "build", "-o", out, ".")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building pmip-lma: %v\n%s", err, b)
		}
		return out, nil
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self, []string{execEnv + "=1"}
}

// lmaProc is one pmip-lma process in a namespace.
type lmaProc struct {
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	done   chan error
	reaped bool
}

// startLMA starts the binary in ns and waits until its control socket
// answers (the engine has recovered by then: the socket opens after it).
func startLMA(t *testing.T, ns *nstest.NS, bin string, env []string, args []string, sock string) *lmaProc {
	t.Helper()
	p := &lmaProc{log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := ns.Start(p.cmd); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.reaped {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("pmip-lma output:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.reaped = true
			t.Fatalf("pmip-lma exited at start: %v\n%s", err, p.log.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := ctl.Dial(ctx, sock)
		if err == nil {
			var info ctl.Info
			err = c.Call(ctx, ctl.MethodInfo, nil, &info)
			c.Close()
		}
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmip-lma's control socket did not answer: %v\n%s", err, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 sends SIGKILL and reaps the process.
func (p *lmaProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-p.done
	p.reaped = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("pmip-lma after SIGKILL: %v", err)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *lmaProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.reaped = true
		if err != nil {
			t.Fatalf("pmip-lma after SIGTERM: %v\n%s", err, p.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pmip-lma did not stop on SIGTERM\n%s", p.log.String())
	}
}

// testMAG sends PBUs from one raw socket and collects the PBAs.
type testMAG struct {
	name string
	addr netip.Addr
	conn *transport.RawConn

	mu   sync.Mutex
	pbas map[string]chan *mh.ProxyBindingAck // by mobile node and sequence
}

func newTestMAG(t *testing.T, ns *nstest.NS, name string, addr netip.Addr) *testMAG {
	t.Helper()
	m := &testMAG{name: name, addr: addr, pbas: map[string]chan *mh.ProxyBindingAck{}}
	err := ns.Do(func() error {
		c, err := transport.ListenRaw(addr, transport.Options{})
		m.conn = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.conn.Close() })
	go m.read()
	return m
}

func pbaKey(mn string, seq uint16) string { return fmt.Sprintf("%s/%d", mn, seq) }

func (m *testMAG) read() {
	buf := make([]byte, transport.MaxMessageLen)
	for {
		n, _, err := m.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := mh.Parse(buf[:n])
		if err != nil {
			continue
		}
		pba, ok := msg.(*mh.ProxyBindingAck)
		if !ok {
			continue // heartbeats, revocations
		}
		id, ok := mh.FirstOption[*mh.MobileNodeIdentifier](pba.Options)
		if !ok {
			continue
		}
		m.mu.Lock()
		ch := m.pbas[pbaKey(string(id.Identifier), pba.Sequence)]
		m.mu.Unlock()
		if ch != nil {
			select {
			case ch <- pba:
			default:
			}
		}
	}
}

// send sends a PBU (lifetime 0 deregisters) for mn and returns the
// channel its PBA arrives on.
// hnp and hoa are the session's for a deregistration (RFC 5213 6.9.1.3),
// zero for a new registration (RFC 5213 6.9.1.1: ALL_ZERO asks the LMA
// to assign; RFC 5844 3.1.1: 0.0.0.0 likewise).
func (m *testMAG) send(lma netip.Addr, mn string, seq uint16, lifetime time.Duration, hnp, hoa netip.Prefix) (<-chan *mh.ProxyBindingAck, error) {
	hi := mh.HandoffNewInterface
	if lifetime == 0 {
		hi = mh.HandoffStateNotChanged
	}
	if !hnp.IsValid() {
		hnp = netip.MustParsePrefix("::/0")
	}
	if !hoa.IsValid() {
		hoa = netip.MustParsePrefix("0.0.0.0/0")
	}
	pbu := &mh.ProxyBindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: lifetime, Options: []mh.Option{
		mh.NewNAI(mn),
		&mh.HomeNetworkPrefix{Prefix: hnp},
		&mh.HandoffIndicatorOption{HI: hi},
		&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
		&mh.IPv4HomeAddressRequest{Prefix: hoa},
	}}
	data, err := mh.Marshal(pbu)
	if err != nil {
		return nil, err
	}
	ch := make(chan *mh.ProxyBindingAck, 1)
	m.mu.Lock()
	m.pbas[pbaKey(mn, seq)] = ch
	m.mu.Unlock()
	return ch, m.conn.WriteTo(data, netip.AddrPortFrom(lma, 0))
}

// bindingsOf asks the LMA for its whole Binding Cache, pools and data
// plane.
func snapshot(t *testing.T, sock string) (ctl.BindingsResult, ctl.PoolsResult, ctl.DataplaneResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ctl.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Sessions expire while we ask (the test's 4 s lifetimes): retry
	// until the pools and the data plane read the same before and after
	// the bindings, so that the three describe one moment.
	for try := 0; ; try++ {
		var b ctl.BindingsResult
		var p0, p1 ctl.PoolsResult
		var d0, d1 ctl.DataplaneResult
		for _, call := range []struct {
			method string
			res    any
		}{{ctl.MethodPools, &p0}, {ctl.MethodDataplane, &d0}, {ctl.MethodBindings, &b}, {ctl.MethodPools, &p1}, {ctl.MethodDataplane, &d1}} {
			if err := c.Call(ctx, call.method, nil, call.res); err != nil {
				t.Fatal(err)
			}
		}
		if (slices.Equal(p0.Pools, p1.Pools) && d0 == d1) || try == 10 {
			return b, p1, d1
		}
	}
}
