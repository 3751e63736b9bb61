// Command pmip-lma is the Proxy Mobile IPv6 local mobility anchor (RFC
// 5213, RFC 5844) as a Linux appliance daemon: the lma engine wired to its
// configuration, its write-ahead store, the kernel's data plane (netlink),
// the signalling sockets, a control socket for pmipctl and Prometheus
// metrics. Run `pmip-lma -help` for how to operate it; docs/lma.md is the
// operator's guide.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/openpmip/pmip/internal/logging"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/store"
)

const usage = `pmip-lma: the Proxy Mobile IPv6 local mobility anchor (RFC 5213, RFC 5844)

Usage:
  pmip-lma [-config FILE] [-log-level LEVEL] [-log-format text|json]
  pmip-lma -check [-config FILE]

Running an appliance:
  1. Write the configuration (UCI syntax; every option is described in
     docs/configuration.md, an example is docs/lma.conf.example): the LMA's
     address, the MAGs allowed to register, the address pools and the
     policies that map mobile nodes to them.
  2. Check it: pmip-lma -check -config /etc/pmip/lma.conf
     Every mistake is reported as FILE:LINE: what is wrong; exit status 1.
  3. Start it as root (it opens a raw socket for the Mobility Header and
     programs tunnels and routes over netlink), under systemd
     (docs/pmip-lma.service) or any supervisor that restarts it.
  4. Watch it: pmipctl bindings | pools | mags (unix socket control_socket),
     and Prometheus on metrics_listen (/metrics).

State and restarts:
  Every binding acknowledged with status 0 is on disk (state_dir, a
  write-ahead log with group commit) before its PBA leaves. The LMA may be
  stopped or killed at any moment: at the next start it reads the bindings
  back, drops those whose lifetime ran out meanwhile, re-reserves their
  prefixes and addresses in the pools and rebuilds the kernel's tunnels
  and routes, removing any left stale. Keep state_dir on a local ext4 or
  xfs file system with room for about three times the live data plus
  128 MiB (about 1 GB for a million bindings).

Signals:
  SIGHUP           re-read the configuration: MAGs, pools, policies, timers
                   and lifetimes change without dropping bindings (a mobile
                   node whose policy was removed, or whose MAG is no longer
                   authorized, is revoked, RFC 5846). address, ipv4_address,
                   state_dir, metrics_listen and control_socket need a
                   restart: a reload logs them and keeps the running values.
                   A file with errors is refused as a whole; the running
                   configuration stays.
  SIGTERM, SIGINT  stop cleanly: answers in flight are sent, the store is
                   closed. Bindings stay in the kernel and in state_dir, so
                   clients keep their traffic and a restart resumes them.

Flags:
`

// options are the command line.
type options struct {
	config    string
	logLevel  string
	logFormat string
	check     bool
	dataplane string
	pprof     string
	salvage   bool
	// durability: when a PBA may leave (store.Durability).
	durability string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("pmip-lma", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "/etc/pmip/lma.conf", "configuration `file`")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (default: the file's log_level)")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json (one JSON object a line, for log shippers)")
	fs.BoolVar(&o.check, "check", false, "validate the configuration, print a summary and exit (status 1 on errors)")
	fs.StringVar(&o.dataplane, "dataplane", "netlink", "netlink (the kernel's tunnels and routes), or none: keep no data plane at all,\nfor benchmarks and tests on hosts without tunnel modules; never in production")
	fs.BoolVar(&o.salvage, "salvage", false, "rebuild a damaged store (state_dir) from every record still readable, report what was lost, and exit;\nonly when pmip-lma refuses to start with \"store: corrupt\", and with the daemon stopped")
	fs.StringVar(&o.pprof, "pprof", "", "serve Go's profiler (net/http/pprof) on this `host:port`; keep it on loopback")
	fs.StringVar(&o.durability, "durability", "disk", "when an accepting PBA may leave: disk (its binding fdatasynced: survives power loss)\nor kernel (written to the kernel: survives kill -9 and crashes of the daemon, not power loss;\nthe log is synced behind, every 10 ms at most; a PBA does not wait for the disk, see docs/lma.md)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return o, fmt.Errorf("-log-format %q: want text or json", o.logFormat)
	}
	if o.logLevel != "" {
		if _, err := parseLevel(o.logLevel); err != nil {
			return o, err
		}
	}
	switch o.dataplane {
	case "netlink", "none":
	default:
		return o, fmt.Errorf("-dataplane %q: want netlink or none", o.dataplane)
	}
	if _, err := parseDurability(o.durability); err != nil {
		return o, err
	}
	return o, nil
}

func parseDurability(s string) (store.Durability, error) {
	for _, d := range []store.Durability{store.OnDisk, store.InKernel} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, fmt.Errorf("-durability %q: want disk or kernel", s)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pmip-lma: %v (see pmip-lma -help)\n", err)
		return 2
	}
	cfg, err := lmaconfig.Load(o.config)
	if err != nil {
		// lmaconfig names the file and line of every problem.
		fmt.Fprintf(stderr, "pmip-lma: configuration refused:\n%v\n", err)
		return 1
	}
	if o.check {
		fmt.Fprint(stdout, summary(cfg))
		return 0
	}
	if o.salvage {
		return salvage(cfg, stdout, stderr)
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	if o.logLevel != "" {
		l, _ := parseLevel(o.logLevel)
		level.Set(l)
	}
	log := logging.New(stderr, o.logFormat, level)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if o.pprof != "" {
		// Before start, so that recovery can be profiled too.
		if err := servePprof(o.pprof, log); err != nil {
			log.Error("pmip-lma: -pprof", "err", err)
		}
	}
	durability, _ := parseDurability(o.durability) // checked by parseFlags
	d, err := start(cfg, daemonOptions{configPath: o.config, dataplane: o.dataplane, log: log,
		level: level, levelFromFlag: o.logLevel != "", durability: durability})
	if err != nil {
		log.Error("pmip-lma: not started", "err", err)
		return 1
	}
	go func() {
		for {
			select {
			case <-hup:
				d.reload(ctx)
			case <-ctx.Done():
				return
			}
		}
	}()
	err = d.run(ctx)
	if err != nil {
		log.Error("pmip-lma: stopped on error", "err", err)
		return 1
	}
	log.Info("pmip-lma: stopped; bindings stay in the kernel and the store for the next start")
	return 0
}

// servePprof serves the profiler on its own listener, never on
// metrics_listen, so that turning it on is a deliberate act.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil {
			log.Warn("pmip-lma: pprof listener stopped", "err", err)
		}
	}()
	log.Info("pmip-lma: profiler listening", "addr", ln.Addr())
	return nil
}

// salvage is -salvage: the operator's way out of store.ErrCorrupt. It is
// lossy by nature and says so.
func salvage(cfg lmaconfig.Config, stdout, stderr io.Writer) int {
	rep, err := store.Salvage(cfg.StateDir, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		fmt.Fprintf(stderr, "pmip-lma: salvage of %s failed: %v\n", cfg.StateDir, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s salvaged: %d keys kept (bindings, their refresh records, the restart counter) from %d readable records; %d damaged bytes skipped in %d file(s)\n",
		cfg.StateDir, rep.Keys, rep.Records, rep.SkippedBytes, len(rep.Damaged))
	for _, f := range rep.Damaged {
		fmt.Fprintf(stdout, "  damaged: %s\n", f)
	}
	if rep.MovedTo != "" {
		fmt.Fprintf(stdout, "the old files are in %s; a binding written in a damaged record is lost (its MAG re-registers it)\n", rep.MovedTo)
	}
	return 0
}

// summary is what -check prints about a valid configuration.
func summary(c lmaconfig.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: valid\n", c.Path)
	fmt.Fprintf(&b, "  LMA address %s", c.Address)
	if c.IPv4Address.IsValid() {
		fmt.Fprintf(&b, ", IPv4 %s (UDP %d)", c.IPv4Address, 5436)
	}
	fmt.Fprintf(&b, "\n  state_dir %s, control_socket %s, metrics %s\n", c.StateDir, c.ControlSocket, orOff(c.MetricsListen))
	fmt.Fprintf(&b, "  %d MAG(s), %d pool(s), %d policy(ies)\n", len(c.MAGs), len(c.Pools), len(c.Policies))
	for _, p := range c.Pools {
		fmt.Fprintf(&b, "  pool %s: %s %s, %d entries\n", p.Name, p.Family, p.Prefix, p.Size())
	}
	return b.String()
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
