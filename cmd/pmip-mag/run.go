package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/openpmip/pmip/internal/logging"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/bpf"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/mag"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/magconfig"
	"github.com/openpmip/pmip/mag/ra"
	"github.com/openpmip/pmip/mag/sniff"
)

// daemon runs the MAG until SIGTERM or SIGINT; its exit status is 0 after
// a clean shutdown, 1 when the MAG could not start or failed (procd then
// respawns it).
func daemon(o options, stdout, stderr io.Writer) int {
	setMemoryDefaults()
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "pmip-mag: %v\n", err)
		return 1
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	if o.logLevel != "" {
		l, _ := parseLevel(o.logLevel) // checked by parseFlags
		level.Set(l)
	}
	// No log call waits for its write (logwriter.go).
	lw := newAsyncWriter(stdout)
	defer lw.Close()
	log := newLogger(lw, o.logFormat, level)
	if !cfg.Enabled {
		log.Warn("the MAG is disabled in the configuration (option enabled '0'); not starting", "config", o.config)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	m, err := start(ctx, cfg, o, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	log.Info("MAG running", "config", o.config, "transport", cfg.Transport, "tunnel", cfg.Tunnel,
		"access_links", len(cfg.Access), "restart_counter", m.counter, "dataplane", o.dataplane)
	// Unmap the binary's pages only start-up used (memory_linux.go).
	releaseStartupPages(log)

	status := 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			log.Info("stopping: deregistering every client", "timeout", o.shutdownTimeout)
			done = true
		case <-hup:
			cfg = reload(cfg, o, level, log)
		case err := <-m.failed:
			log.Error("stopping after a failure", "err", err)
			status = 1
			done = true
		case err := <-m.restart:
			// procd starts the daemon again; its clients keep their
			// bindings at the LMA and are registered again from
			// hostapd's station list and their next frames.
			log.Error("restarting without deregistering the clients", "err", err)
			m.abandon()
			log.Info("MAG stopped for a restart")
			return 1
		}
	}
	if err := m.shutdown(o.shutdownTimeout); err != nil {
		log.Error("shutdown", "err", err)
		status = 1
	}
	log.Info("MAG stopped")
	return status
}

func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	return logging.New(w, format, level)
}

// magd is one running MAG: the engine and the goroutines around it.
type magd struct {
	log     *slog.Logger
	eng     *mag.Engine
	dp      dataplane.Dataplane
	kernel  io.Closer
	counter uint32

	// The goroutines stop in three groups, in this order: the attach
	// triggers (hostapd listener, sniffers, DHCP servers), then the RA
	// senders (they send the final RAs of the deregistrations), then the
	// engine (it reads the deregistrations' acknowledgements).
	stopTriggers, stopRA, stopEngine context.CancelFunc
	triggers, ras, engine            sync.WaitGroup

	failed chan error // a component that must not stop stopped
	// restart: the daemon must start again, without deregistering
	// (an access link was re-created: its packet sockets are bound to
	// an interface index that no longer exists).
	restart chan error
	// accessIndex is each access link's interface index at start.
	accessIndex map[string]int
	// mon is the monitor on hostapd's control sockets, nil unless
	// hostapd_hook is 'ctrl'.
	mon *hostapd.Monitor

	ctl *ctl.Server // nil without -control
}

// start builds and starts the whole MAG. On error everything already
// opened is closed again.
func start(ctx context.Context, cfg magconfig.Config, o options, log *slog.Logger) (m *magd, err error) {
	m = &magd{log: log, failed: make(chan error, 8), restart: make(chan error, 1), accessIndex: map[string]int{}}
	var closers []io.Closer
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i].Close()
			}
		}
	}()

	// The restart counter of RFC 5847 5.2: incremented and persisted at
	// every start, so the LMA learns from our heartbeat answers that we
	// restarted and lost the Binding Update List.
	m.counter, err = nextRestartCounter(o.counterFile, time.Now())
	if err != nil {
		log.Warn("restart counter not persisted; using one derived from the clock", "file", o.counterFile, "err", err)
	}

	// The data plane: the only code that changes the kernel.
	dpLog := log.With("component", "dataplane")
	rec, kernel, err := dataplane.Open(dataplane.Options{Logger: dpLog})
	if err != nil {
		return nil, fmt.Errorf("data plane: %w", err)
	}
	closers = append(closers, kernel)
	m.kernel = kernel
	m.dp = rec
	if o.dataplane == dataplaneNoTunnel {
		log.Warn("reduced data plane: no tunnel to the LMA and no routes or rules into it; clients are registered and served but their traffic is not forwarded")
		m.dp = noTunnel{rec}
	}

	// The signalling transport (RFC 5213 6.9, RFC 5844 4).
	conn, err := listenTransport(cfg)
	if err != nil {
		return nil, err
	}
	closers = append(closers, conn)

	opts := mag.Options{RestartCounter: m.counter}
	if dir := cfg.HostapdCtrlDir; dir != "" && cfg.IdentityWait > 0 && hostapdTriggers(cfg) {
		// A client heard before its hook event: hostapd's control
		// socket usually knows its identity already (mag/identity.go).
		opts.StationQuery = func(ctx context.Context, bss string, mac net.HardwareAddr) (hostapd.Station, error) {
			return hostapd.QueryStation(ctx, dir, bss, mac)
		}
	}
	// hostapd_hook 'ctrl': the daemon's own monitor on hostapd's control
	// sockets (docs/handover.md 5.2), feeding the engine as the hook
	// listener does; it also drops a station that moved to another MAG
	// (5.5).
	var mon *hostapd.Monitor
	if ifaces := monitoredBSS(cfg); len(ifaces) > 0 {
		mon, err = hostapd.NewMonitor(hostapd.MonitorConfig{
			CtrlDir: cfg.HostapdCtrlDir, Interfaces: ifaces,
			Handle: func(ev hostapd.Event) { m.eng.OnStation(ev) },
			Known:  func(bss string) []net.HardwareAddr { return m.eng.StationsOn(bss) },
			Logger: log.With("component", "hostapd-monitor"),
		})
		if err != nil {
			return nil, err
		}
		opts.StationRemove = mon.Deauthenticate
		m.mon = mon
	}
	m.eng, err = mag.New(cfg, opts, log.With("component", "engine"), clock.Real{}, conn, m.dp)
	if err != nil {
		return nil, err
	}

	// The access side of every link, each component reporting to the
	// engine. None runs before SetAccess has seen them all.
	trigCtx, stopTriggers := context.WithCancel(ctx)
	raCtx, stopRA := context.WithCancel(context.Background())
	var runs []func()
	for _, a := range cfg.Access {
		side, run, cl, err := accessSide(trigCtx, raCtx, cfg, a, m, log)
		closers = append(closers, cl...)
		if err != nil {
			stopTriggers()
			stopRA()
			return nil, fmt.Errorf("access link %s (%s): %w", a.Name, a.Interface, err)
		}
		if err := m.eng.SetAccess(a.Interface, side); err != nil {
			stopTriggers()
			stopRA()
			return nil, err
		}
		runs = append(runs, run...)
	}
	var hl *hostapd.Listener
	if hostapdTriggers(cfg) {
		hl, err = hostapd.Listen(cfg.HostapdSocket, log.With("component", "hostapd"))
		if err != nil {
			stopTriggers()
			stopRA()
			return nil, err
		}
	}

	if o.control != "" {
		m.ctl = controlServer(m.eng, m)
		if err := m.ctl.Listen(o.control); err != nil {
			stopTriggers()
			stopRA()
			if hl != nil {
				hl.Close()
			}
			return nil, err
		}
	}

	m.stopTriggers, m.stopRA = stopTriggers, stopRA
	engCtx, stopEngine := context.WithCancel(context.Background())
	m.stopEngine = stopEngine
	m.engine.Add(1)
	go func() {
		defer m.engine.Done()
		// Run installs the base data plane, then reads the LMA.
		if err := m.eng.Run(engCtx); err != nil {
			m.failed <- err
		} else if engCtx.Err() == nil {
			m.failed <- errors.New("engine stopped")
		}
	}()
	for _, r := range runs {
		r()
	}
	if hl != nil {
		m.triggers.Add(1)
		go func() {
			defer m.triggers.Done()
			if err := hl.Run(trigCtx, m.eng.OnStation); err != nil && trigCtx.Err() == nil {
				m.failed <- fmt.Errorf("hostapd listener: %w", err)
			}
		}()
	}
	// An access link set down and up (or rebuilt by netifd) loses the
	// fixed link-local address, the clients' routes and its MAC: the
	// data plane is resynchronised when it comes back.
	m.triggers.Add(1)
	go func() {
		defer m.triggers.Done()
		names := make([]string, 0, len(cfg.Access))
		for _, a := range cfg.Access {
			names = append(names, a.Interface)
		}
		wlog := log.With("component", "linkwatch")
		err := dataplane.WatchLinks(trigCtx, names, func(name string, index int) {
			if was := m.accessIndex[name]; index != was {
				// Re-created (netifd rebuilds its bridges on a
				// network restart): the DHCP server's, RA sender's
				// and sniffer's packet sockets are bound to the old
				// index and hear nothing any more.
				select {
				case m.restart <- fmt.Errorf("access link %s was re-created (interface index %d, was %d)", name, index, was):
				default:
				}
				return
			}
			wlog.Info("access link up again: resynchronising the data plane", "iface", name)
			if err := m.eng.ResyncDataplane(); err != nil {
				wlog.Error("data plane resynchronisation failed", "iface", name, "err", err)
			}
		})
		if err != nil && trigCtx.Err() == nil {
			wlog.Error("access link state not watched: a link that goes down and up keeps what it lost until the next change", "err", err)
		}
	}()
	if mon != nil {
		m.triggers.Add(1)
		go func() {
			defer m.triggers.Done()
			mon.Run(trigCtx) // retries for ever; returns when trigCtx ends
		}()
	}
	return m, nil
}

// loadConfig reads the configuration file with the command line's
// overrides applied (-hostapd-ctrl-dir).
func loadConfig(o options) (magconfig.Config, error) {
	cfg, err := magconfig.Load(o.config)
	if err != nil {
		return cfg, err
	}
	if o.hostapdCtrlDir != "" {
		cfg.HostapdCtrlDir = o.hostapdCtrlDir
	}
	return cfg, nil
}

// monitoredBSS lists the hostapd BSS interfaces the daemon's monitor
// attaches to: with hostapd_hook 'ctrl', those of every access link with
// the hostapd trigger.
func monitoredBSS(cfg magconfig.Config) []string {
	if cfg.HostapdHook != magconfig.HookCtrl || cfg.HostapdCtrlDir == "" {
		return nil
	}
	var out []string
	for _, a := range cfg.Access {
		if a.Triggers.Hostapd {
			out = append(out, a.HostapdInterfaces...)
		}
	}
	return out
}

func listenTransport(cfg magconfig.Config) (transport.Conn, error) {
	if cfg.Transport == magconfig.TransportIPv4 {
		// RFC 5844 4: UDP/IPv4 from the IPv4 Proxy-CoA, port 5436.
		c, err := transport.ListenUDP(netip.AddrPortFrom(cfg.IPv4ProxyCoA, transport.Port), transport.Options{})
		if err != nil {
			return nil, fmt.Errorf("signalling over UDP/IPv4 from %s (is it an address of this AP?): %w", cfg.IPv4ProxyCoA, err)
		}
		return c, nil
	}
	// RFC 5213 6.10.1: the Proxy-CoA is the source of PBUs and the MAG's
	// end of the tunnel.
	c, err := transport.ListenRaw(cfg.ProxyCoA, transport.Options{})
	if err != nil {
		return nil, fmt.Errorf("signalling over IPv6 from %s (is it an address of this AP?): %w", cfg.ProxyCoA, err)
	}
	return c, nil
}

func hostapdTriggers(cfg magconfig.Config) bool {
	for _, a := range cfg.Access {
		if a.Triggers.Hostapd && len(a.HostapdInterfaces) > 0 {
			return true
		}
	}
	return false
}

// accessSide opens one access link's DHCPv4 server, RA sender and attach
// sniffer. It returns them for SetAccess, the functions that start their
// goroutines, and what to close if starting fails.
func accessSide(trigCtx, raCtx context.Context, cfg magconfig.Config, a magconfig.Access, m *magd, log *slog.Logger) (mag.AccessSide, []func(), []io.Closer, error) {
	var side mag.AccessSide
	var closers []io.Closer
	ifi, err := net.InterfaceByName(a.Interface)
	if err != nil {
		return side, nil, nil, err
	}
	m.accessIndex[a.Interface] = ifi.Index
	llog := log.With("access", a.Interface)

	// RFC 5844 3.4.1: the DHCP server collocated with the MAG hands out
	// exactly the IPv4 home address of the PBA.
	dconn, aconn, err := dhcpserver.Listen(ifi)
	if err != nil {
		return side, nil, closers, err
	}
	closers = append(closers, dconn, aconn)
	srv, err := dhcpserver.New(dhcpserver.Config{
		Engine: m.eng.DHCPEngine(a.Interface), RouterMAC: cfg.LinkLayerAddress,
		LeaseTime: cfg.DHCPLeaseTime, MaxPending: cfg.MaxPendingClients,
		Logger: llog.With("component", "dhcp"),
	}, linkDownPacketConn{dconn}, linkDownPacketConn{aconn})
	if err != nil {
		return side, nil, closers, err
	}

	// RFC 5213 6.7, 6.9.3: unicast RAs with the client's home network
	// prefix, from the fixed router link-local and link-layer addresses.
	// Each packet socket opens dropping everything; New installs the
	// component's own filter.
	raConn, err := l2.Listen(a.Interface, l2.EtherTypeIPv6, dropAll)
	if err != nil {
		return side, nil, closers, err
	}
	closers = append(closers, raConn)
	adv, err := ra.New(ra.Config{Interface: a.Interface, Conn: linkDownL2{raConn}, Logger: llog.With("component", "ra"),
		RouterMAC: cfg.LinkLayerAddress, RouterLinkLocal: cfg.LinkLocalAddress})
	if err != nil {
		return side, nil, closers, err
	}

	// Attach by RS, DAD NS and DHCP where no server reports them; detach
	// by silence.
	snConn, err := l2.Listen(a.Interface, 0, dropAll)
	if err != nil {
		return side, nil, closers, err
	}
	closers = append(closers, snConn)
	ignore := []net.HardwareAddr{cfg.LinkLayerAddress}
	if len(ifi.HardwareAddr) == 6 {
		ignore = append(ignore, ifi.HardwareAddr)
	}
	sn, err := sniff.New(sniff.Config{Interface: a.Interface, Conn: linkDownL2{snConn}, Logger: llog.With("component", "sniff"),
		OnAttach: m.eng.OnSniffAttach, OnDetach: m.eng.OnSniffDetach, Ignore: ignore,
		DetachTimeout: cfg.SilenceTimeout, MaxPending: cfg.MaxPendingClients,
		RouterMAC: cfg.LinkLayerAddress, RouterLinkLocal: cfg.LinkLocalAddress})
	if err != nil {
		return side, nil, closers, err
	}
	side = mag.AccessSide{RA: adv, DHCP: srv, Sniff: sn}

	runs := []func(){
		m.goTrigger(trigCtx, "dhcp server on "+a.Interface, srv.Serve),
		m.goTrigger(trigCtx, "sniffer on "+a.Interface, sn.Run),
		func() {
			m.ras.Add(1)
			go func() {
				defer m.ras.Done()
				if err := adv.Run(raCtx); err != nil && raCtx.Err() == nil {
					m.failed <- fmt.Errorf("RA sender on %s: %w", a.Interface, err)
				}
			}()
		},
	}
	return side, runs, closers, nil
}

// dropAll is the filter a packet socket opens with, so that no frame is
// queued before its component sets the filter it needs.
var dropAll = []bpf.Instruction{bpf.RetConstant{Val: 0}}

// goTrigger returns the starter of one attach-trigger goroutine.
func (m *magd) goTrigger(ctx context.Context, what string, run func(context.Context) error) func() {
	return func() {
		m.triggers.Add(1)
		go func() {
			defer m.triggers.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				m.failed <- fmt.Errorf("%s: %w", what, err)
			}
		}()
	}
}

// abandon stops the MAG's goroutines for a restart: no deregistration
// and no data plane teardown, so the clients' traffic flows while procd
// starts the daemon again, and the LMA keeps their bindings.
func (m *magd) abandon() {
	if m.ctl != nil {
		m.ctl.Close()
	}
	m.stopTriggers()
	m.triggers.Wait()
	m.stopRA()
	m.ras.Wait()
	m.stopEngine()
	m.engine.Wait()
	m.kernel.Close()
}

// shutdown stops the MAG in order: no new attachments, every client
// deregistered (RFC 5213 6.9.1.4) within timeout, the engine stopped,
// then the data plane torn down (Set(nil) removes the tunnel, routes,
// rules, addresses and filters of ours; the access interfaces keep the
// fixed MAC, see dataplane.LinkMAC).
func (m *magd) shutdown(timeout time.Duration) error {
	if m.ctl != nil {
		m.ctl.Close()
	}
	m.stopTriggers()
	m.triggers.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	left := m.eng.DeregisterAll(ctx)
	cancel()
	if left > 0 {
		m.log.Warn("deregistrations unanswered at shutdown; the LMA expires them with their lifetime", "clients", left)
	}

	m.stopRA()
	m.ras.Wait()
	m.stopEngine()
	m.engine.Wait()

	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer tcancel()
	err := m.dp.Set(tctx, nil)
	if err != nil {
		err = fmt.Errorf("data plane teardown: %w", err)
	}
	return errors.Join(err, m.kernel.Close())
}
