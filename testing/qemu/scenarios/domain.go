package scenarios

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/syncbuf"
	"github.com/openpmip/pmip/testing/qemu"
)

// Domain is a running emulated PMIPv6 domain in one guest.
type Domain struct {
	T   testing.TB
	VM  *qemu.VM
	Cfg Config
	APs []*AP
	// ClientMAC is the client radio's address, as the MAGs see it.
	ClientMAC string
	// APVM is the guest of the APs and the client when Config.MAGArch
	// puts them in their own (scenario 6); nil when one guest holds all.
	APVM *qemu.VM
	// LastRoamMethod is how the client (re)authenticated at its last
	// handover, for the narration.
	LastRoamMethod string

	radio string // the client's radio interface

	ctx   context.Context
	bins  map[string]string // guest paths of our binaries
	procs map[string]*proc
	logs  map[string]*syncbuf.Buffer
	// figures the scenarios measured, printed at the end and by the demo.
	figMu   sync.Mutex
	figures []Figure
}

// Figure is a measured quantity a scenario reports.
type Figure struct {
	Name  string
	Value float64
	Unit  string
}

// imageBinaries is what the domain's guest image carries besides the base.
func imageBinaries() []qemu.Binary {
	// ss: the correspondent's TCP state (RTO, RTT) around a handover.
	return slices.Concat(qemu.WiFiBinaries, qemu.ClientBinaries, qemu.CaptureBinaries,
		[]qemu.Binary{{Package: "iproute2", Path: "/bin/ss"}})
}

// ourMains are cross-built and installed in the guest.
var ourMains = []string{"./cmd/pmip-lma", "./cmd/pmip-mag", "./cmd/pmipctl", "./testing/qemu/cmd/pmip-probe"}

// New boots a guest, installs the daemons and the probe, builds the
// topology of doc.go and writes every configuration. Nothing runs yet:
// StartLMA, StartAP and Associate start the pieces, so a scenario can
// narrate and time each step.
func New(t testing.TB, cfg Config) *Domain {
	t.Helper()
	qemu.Require(t)
	cfg.defaults()
	t0 := time.Now()
	// nft_meta_bridge: iifname/oifname in the bridge family, for the ds
	// link's filter; tcp_diag: ss's socket details (RTO, RTT), which it
	// otherwise cannot read (it falls back to /proc/net/tcp).
	opts := qemu.Options{Name: "domain", Binaries: imageBinaries(), Memory: 768,
		Modules: []string{"nft_meta_bridge", "tcp_diag"}, Load: []string{"tcp_diag"}}
	var edgeOpts qemu.Options
	if cfg.MAGArch != "" {
		// Two guests on one QEMU socket link (UDP, so they boot
		// together in any order): its NIC joins each guest's backhaul
		// bridge.
		core, edge := qemu.LocalUDPPort(t), qemu.LocalUDPPort(t)
		opts.Name = "core"
		opts.NICs = []qemu.NIC{{Netdev: fmt.Sprintf("udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", edge, core), MAC: linkMAC(roleCore)}}
		edgeOpts = qemu.Options{Name: "ap-" + cfg.MAGArch, Arch: cfg.MAGArch, Binaries: imageBinaries(),
			NICs: []qemu.NIC{{Netdev: fmt.Sprintf("udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", core, edge), MAC: linkMAC(roleEdge)}}}
	}
	var vm, apVM *qemu.VM
	if cfg.MAGArch != "" {
		vms := qemu.BootAll(t, opts, edgeOpts)
		vm, apVM = vms[0], vms[1]
	} else {
		vm = qemu.Boot(t, opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &Domain{T: t, VM: vm, APVM: apVM, Cfg: cfg, APs: apsOf(cfg.APs), ctx: ctx, radio: fmt.Sprintf("wlan%d", cfg.APs),
		bins: map[string]string{}, procs: map[string]*proc{}, logs: map[string]*syncbuf.Buffer{}}
	// Cleanups run last registered first: the dumps while the daemons
	// still run, then the processes end, then (Boot's) the guests.
	t.Cleanup(d.killAll)
	t.Cleanup(d.dumpOnFailure)

	// Our binaries, built in parallel on the host while nothing else runs.
	type build struct {
		vm  *qemu.VM
		pkg string
	}
	var builds []build
	for _, pkg := range ourMains {
		builds = append(builds, build{vm, pkg})
		if d.APVM != nil && (strings.HasSuffix(pkg, "pmip-mag") || strings.HasSuffix(pkg, "pmip-probe") || strings.HasSuffix(pkg, "pmipctl")) {
			builds = append(builds, build{d.APVM, pkg})
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := b.vm.GoBuild(ctx, b.pkg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			// The same path in every guest: /usr/local/bin/<name>.
			d.bins[filepath.Base(b.pkg)] = p
		}()
	}
	d.writeShare(vm)
	if d.APVM != nil {
		d.writeShare(d.APVM)
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if d.APVM == nil {
		d.sh(setupScript(cfg, d.APs, roleAll))
	} else {
		d.sh(setupScript(cfg, d.APs, roleCore))
		d.shOn(d.APVM, setupScript(cfg, d.APs, roleEdge))
	}
	edge := d.vmFor("client")
	for _, ap := range d.APs {
		ap.BSSID = strings.TrimSpace(d.shOn(edge, "cat /tmp/pmip/"+ap.Radio+".mac"))
	}
	d.ClientMAC = strings.TrimSpace(d.shOn(edge, "cat /tmp/pmip/"+d.radio+".mac"))
	// hostapd's configurations name every AP's BSSID (FT's key holders).
	for _, ap := range d.APs {
		d.writeFiles(edge, map[string]string{"hostapd-" + ap.Name + ".conf": hostapdConfig(cfg, ap, d.APs)})
	}
	d.Logf("domain ready in %v: guest kernel %s, %d APs (%s), %s transport, %s tunnels",
		time.Since(t0).Round(time.Millisecond), vm.Release, len(d.APs), edge.Image.Arch.Name, cfg.Transport, cfg.Tunnel)
	return d
}

// writeShare writes the configurations into a guest's share.
func (d *Domain) writeShare(vm *qemu.VM) {
	files := map[string]string{
		"lma.conf":         lmaConfig(d.Cfg, d.APs),
		"eap_users":        eapUsers(),
		"client-action.sh": clientAction,
		"udhcpc.sh":        udhcpcScript,
		"ap-action.sh":     apAction,
		"ds.nft":           dsFilter,
		"aaa.conf":         radiusServerConfig(aaaCtrl, shareDir),
		// Every MAG's backhaul address may ask (RFC 2865 3: clients by
		// source address, with the shared secret).
		"radius_clients": radiusClients(backhaul4),
	}
	for _, ap := range d.APs {
		files["mag-"+ap.Name+".conf"] = magConfig(d.Cfg, ap)
	}
	d.writeFiles(vm, files)
}

// writeFiles writes files into a guest's share (and a copy into the
// results).
func (d *Domain) writeFiles(vm *qemu.VM, files map[string]string) {
	dir := filepath.Join(vm.ShareDir(), "pmip")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.T.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			d.T.Fatal(err)
		}
		// Kept with the results, so a failed run shows what it ran with.
		_ = os.WriteFile(filepath.Join(vm.LogDir(), "conf."+name), []byte(body), 0o644)
	}
}

// apAction is the hostapd_cli -a script of each AP: the project's own
// hook (hostapd-hooks/pmip-hostapd-action), copied to tmpfs because the
// Malta kernel cannot exec from 9p, and logging what it forwards.
var apAction = func() string {
	b, err := os.ReadFile(filepath.Join(moduleRoot(), "hostapd-hooks", "pmip-hostapd-action"))
	if err != nil {
		return "#!/bin/sh\necho 'hostapd-hooks/pmip-hostapd-action not found' >&2\nexit 1\n"
	}
	return string(b)
}()

func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// Logf logs a line of the test's own.
func (d *Domain) Logf(format string, args ...any) {
	d.T.Helper()
	d.T.Logf(format, args...)
}

// Say narrates a step for the demo: the demo command prints these lines.
func (d *Domain) Say(format string, args ...any) {
	d.T.Helper()
	d.T.Logf("demo: "+format, args...)
}

// Record keeps a figure and narrates it.
func (d *Domain) Record(name string, v float64, unit string) {
	d.T.Helper()
	d.figMu.Lock()
	d.figures = append(d.figures, Figure{name, v, unit})
	d.figMu.Unlock()
	d.T.Logf("figure: %s = %.1f %s", name, v, unit)
}

// Figures returns what the scenarios measured so far.
func (d *Domain) Figures() []Figure {
	d.figMu.Lock()
	defer d.figMu.Unlock()
	return slices.Clone(d.figures)
}

// vmFor is the guest that holds namespace ns.
func (d *Domain) vmFor(ns string) *qemu.VM {
	if d.APVM != nil && (ns == "client" || strings.HasPrefix(ns, "ap")) {
		return d.APVM
	}
	return d.VM
}

// sh runs a dash script in the (first) guest's root namespace and fails
// the test if it fails.
func (d *Domain) sh(script string) string {
	d.T.Helper()
	return d.shOn(d.VM, script)
}

// shOn is sh in a given guest.
func (d *Domain) shOn(vm *qemu.VM, script string) string {
	d.T.Helper()
	out, err := vm.Run(d.ctx, "/bin/sh", "-c", script)
	if err != nil {
		d.T.Fatalf("%v\n%s", err, out)
	}
	return out
}

// trySh is sh without failing.
func (d *Domain) trySh(script string) (string, error) {
	return d.VM.Run(d.ctx, "/bin/sh", "-c", script)
}

// nsSh runs a dash script in namespace ns.
func (d *Domain) nsSh(ns, script string) string {
	d.T.Helper()
	return d.shOn(d.vmFor(ns), "exec ip netns exec "+ns+" /bin/sh -c '"+strings.ReplaceAll(script, "'", `'\''`)+"'")
}

// start runs a long-lived process in namespace ns ("" for the root one),
// its output in results/<test>/<name>.log and kept in memory for
// WaitLog. It is killed when the test ends.
func (d *Domain) start(name, ns string, env []string, argv ...string) *qemu.Process {
	d.T.Helper()
	return d.startOn(d.vmFor(ns), name, ns, env, argv...)
}

// startOn is start in a given guest.
func (d *Domain) startOn(vm *qemu.VM, name, ns string, env []string, argv ...string) *qemu.Process {
	d.T.Helper()
	if ns != "" {
		argv = append([]string{"/bin/ip", "netns", "exec", ns}, argv...)
	}
	f, err := os.Create(filepath.Join(d.VM.LogDir(), name+".log"))
	if err != nil {
		d.T.Fatal(err)
	}
	lb := &syncbuf.Buffer{}
	p, err := vm.Start(qemu.Cmd{Argv: argv, Env: env, Output: io.MultiWriter(f, lb)})
	if err != nil {
		f.Close()
		d.T.Fatal(err)
	}
	pr := &proc{Process: p, done: make(chan struct{}), log: f}
	go func() {
		pr.err = p.Wait()
		close(pr.done)
	}()
	d.procs[name], d.logs[name] = pr, lb
	return p
}

// killAll ends every process still running.
func (d *Domain) killAll() {
	var all []*proc
	for _, p := range d.procs {
		all = append(all, p)
	}
	for _, p := range all {
		p.Kill()
		p.log.Close()
	}
}

// proc is a process started by start, with a channel closed when it ends.
type proc struct {
	*qemu.Process
	done chan struct{}
	err  error
	log  *os.File
}

// exited reports whether the named process has ended, and how.
func (d *Domain) exited(name string) (bool, error) {
	p, ok := d.procs[name]
	if !ok {
		return true, nil
	}
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop kills a process started with start.
func (d *Domain) stop(name string) {
	if p, ok := d.procs[name]; ok {
		p.Kill()
		p.log.Close()
		delete(d.procs, name)
	}
}

// Log returns what the named process printed so far.
func (d *Domain) Log(name string) string {
	if lb, ok := d.logs[name]; ok {
		return lb.String()
	}
	return ""
}

// WaitLog waits until the named process has printed a line containing
// substr (after the first skip bytes), and returns the output from there.
func (d *Domain) WaitLog(name, substr string, skip int, timeout time.Duration) string {
	d.T.Helper()
	lb := d.logs[name]
	if lb == nil {
		d.T.Fatalf("no process %q", name)
	}
	deadline := time.Now().Add(timeout)
	for {
		s := lb.String()
		if skip > len(s) {
			skip = len(s)
		}
		if i := strings.Index(s[skip:], substr); i >= 0 {
			return s[skip+i:]
		}
		if ended, err := d.exited(name); ended {
			d.T.Fatalf("%s ended (%v) before printing %q:\n%s", name, err, substr, tail(s, 3000))
		}
		if time.Now().After(deadline) {
			d.T.Fatalf("%s did not print %q within %v:\n%s", name, substr, timeout, tail(s, 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eventually polls check every interval until it returns nil or timeout
// passes, then fails the test with its last error.
func (d *Domain) Eventually(what string, timeout, interval time.Duration, check func() error) {
	d.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.T.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// mark is the current length of a process's output, to wait for what it
// prints next.
func (d *Domain) mark(name string) int {
	if lb, ok := d.logs[name]; ok {
		return lb.Len()
	}
	return 0
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
