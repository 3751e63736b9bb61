package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/lma"
	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/store"
	"golang.org/x/sys/unix"
)

// Socket buffers of the signalling sockets: a raw socket drops what does
// not fit, and at 50,000 PBUs a second a 200 µs stall of the reader is
// 10 messages per MAG. SO_RCVBUFFORCE (root) goes past net.core.rmem_max.
const socketBuffer = 32 << 20

// daemonOptions are what the main hands the wiring besides the
// configuration.
type daemonOptions struct {
	configPath string
	// dataplane is "netlink" or "none".
	dataplane string
	log       *slog.Logger
	// level is the logger's level, changed by a reload unless
	// levelFromFlag (the command line wins).
	level         *slog.LevelVar
	levelFromFlag bool
	// durability is what the store guarantees of a write before its PBA.
	durability store.Durability
}

// daemon is a running pmip-lma: everything start opened, closed in the
// reverse order by run's end.
type daemon struct {
	opts   daemonOptions
	log    *slog.Logger
	cfgMu  sync.Mutex
	cfg    lmaconfig.Config // guarded by cfgMu: the running configuration
	st     *store.WAL
	kernel *dataplane.Netlink // nil with -dataplane none
	dp     dataplane.Dataplane
	// rec is dp as the Reconciler, nil with -dataplane none: the control
	// socket's dump goes through its lock, never to kernel directly.
	rec     *dataplane.Reconciler
	eng     *lma.Engine
	ctl     *ctl.Server
	metrics *metrics
	httpSrv *http.Server
	httpLn  net.Listener
}

// start wires the daemon in order: store, data plane, signalling
// sockets, engine (which recovers the bindings from the store, reserves
// their pool entries and reconciles the data plane), then the control
// socket and the metrics listener. On failure it closes what it opened.
func start(cfg lmaconfig.Config, o daemonOptions) (_ *daemon, err error) {
	d := &daemon{opts: o, log: o.log, cfg: cfg}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	d.metrics = newMetrics()

	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	t0 := time.Now()
	d.st, err = store.Open(cfg.StateDir, store.Options{Logger: d.log, Durability: o.durability})
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return nil, fmt.Errorf("opening the store in %s: %w (the files are damaged where no crash can have left them: pmip-lma -salvage rebuilds what is readable, see docs/lma.md)", cfg.StateDir, err)
		}
		return nil, fmt.Errorf("opening the store in %s: %w", cfg.StateDir, err)
	}
	closers = append(closers, func() { d.st.Close() })
	d.log.Info("pmip-lma: store open", "dir", cfg.StateDir, "took", time.Since(t0).Round(time.Millisecond))

	switch o.dataplane {
	case "none":
		d.dp = nil // the engine keeps no data plane (nor rebuilds one at start)
		d.log.Warn("pmip-lma: -dataplane none: no tunnels or routes are kept; signalling only (tests, benchmarks)")
	default:
		r, k, err := dataplane.Open(dataplane.Options{Logger: d.log})
		if err != nil {
			return nil, fmt.Errorf("opening the data plane: %w", err)
		}
		d.dp, d.kernel, d.rec = r, k, r
		closers = append(closers, func() { k.Close() })
	}

	var conns []transport.Conn
	closeConns := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	closers = append(closers, closeConns)
	// RFC 5213 6.10.1 / RFC 6275 6.1: the Mobility Header, IPv6 next
	// header 135, on the LMAA.
	// Timestamps: the engine takes a PBU's arrival from the kernel
	// (RFC 5213 5.5 checks its timestamp against it; the latency
	// histogram starts there, time queued in the socket included).
	raw, err := transport.ListenRaw(cfg.Address, transport.Options{BatchSize: 256, ReadBuffer: 4 << 20, WriteBuffer: 4 << 20, Timestamps: true})
	if err != nil {
		return nil, fmt.Errorf("signalling socket on %s (is the address configured on an interface, and are we root?): %w", cfg.Address, err)
	}
	forceBuffers(raw, d.log)
	conns = append(conns, raw) // the engine batches its sends (sendmmsg)
	if cfg.IPv4Address.IsValid() {
		// RFC 5844 4: IPv4 transport, UDP port 5436.
		udp, err := transport.ListenUDP(netip.AddrPortFrom(cfg.IPv4Address, transport.Port), transport.Options{BatchSize: 256, ReadBuffer: 4 << 20, WriteBuffer: 4 << 20, Timestamps: true})
		if err != nil {
			return nil, fmt.Errorf("IPv4 signalling socket on %s:%d: %w", cfg.IPv4Address, transport.Port, err)
		}
		forceBuffers(udp, d.log)
		conns = append(conns, udp)
	}

	t0 = time.Now()
	d.eng, err = lma.New(lma.Options{
		Config:         cfg,
		Conns:          conns,
		Dataplane:      d.dp,
		Store:          timed(d.st, d.metrics.storeCommit.Observe),
		Logger:         d.log,
		ObserveLatency: d.metrics.observePBU,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the engine: %w", err)
	}
	// The engine owns the sockets from here: Close closes them.
	closers = closers[:len(closers)-1]
	closers = append(closers, func() { d.eng.Close() })
	d.log.Info("pmip-lma: engine started", "bindings", d.eng.Counters().Bindings, "took", time.Since(t0).Round(time.Millisecond))
	d.metrics.attach(d.eng, d.st)

	d.ctl = ctl.NewServer("pmip-lma", buildVersion(), d.log)
	d.registerControl()
	if err := d.ctl.Listen(cfg.ControlSocket); err != nil {
		return nil, fmt.Errorf("control_socket: %w", err)
	}
	closers = append(closers, func() { d.ctl.Close() })

	if cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("metrics_listen: %w", err)
		}
		d.httpLn = ln
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.metrics.handler())
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintln(w, "pmip-lma: metrics at /metrics")
		})
		d.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := d.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("pmip-lma: metrics listener failed", "err", err)
			}
		}()
	}
	d.log.Info("pmip-lma: running", "address", cfg.Address, "ipv4_address", cfg.IPv4Address,
		"control_socket", cfg.ControlSocket, "metrics", orOff(cfg.MetricsListen), "dataplane", o.dataplane,
		"mags", len(cfg.MAGs), "pools", len(cfg.Pools), "policies", len(cfg.Policies))
	return d, nil
}

// run serves until ctx ends, then stops everything: the metrics and
// control listeners first (no new requests), then the engine (PBAs of
// writes in flight still leave), the data plane's sockets and the store.
// The kernel state and the store's files stay.
func (d *daemon) run(ctx context.Context) error {
	err := d.eng.Run(ctx)
	if d.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.httpSrv.Shutdown(sctx)
		cancel()
	}
	errs := []error{err, d.ctl.Close(), d.eng.Close()}
	if d.kernel != nil {
		errs = append(errs, d.kernel.Close())
	}
	errs = append(errs, d.st.Close())
	return errors.Join(errs...)
}

// reload is SIGHUP: re-read the file, keep the running values of what
// needs a restart (and say so), apply the rest to the engine.
func (d *daemon) reload(ctx context.Context) {
	cfg, err := lmaconfig.Load(d.opts.configPath)
	if err != nil {
		d.log.Error("pmip-lma: reload refused, the running configuration stays", "err", err)
		d.metrics.reloads.WithLabelValues("refused").Inc()
		return
	}
	d.cfgMu.Lock()
	old := d.cfg
	d.cfgMu.Unlock()
	if r := cfg.RestartNeeded(old); len(r) > 0 {
		d.log.Warn("pmip-lma: reload: these settings need a restart; the running values stay until then", "settings", r)
		cfg.Address, cfg.IPv4Address = old.Address, old.IPv4Address
		cfg.StateDir, cfg.MetricsListen, cfg.ControlSocket = old.StateDir, old.MetricsListen, old.ControlSocket
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.eng.Reload(rctx, cfg); err != nil {
		d.log.Error("pmip-lma: reload refused by the engine, the running configuration stays", "err", err)
		d.metrics.reloads.WithLabelValues("refused").Inc()
		return
	}
	d.cfgMu.Lock()
	d.cfg = cfg
	d.cfgMu.Unlock()
	if !d.opts.levelFromFlag {
		d.opts.level.Set(cfg.LogLevel)
	}
	d.metrics.reloads.WithLabelValues("applied").Inc()
	d.log.Info("pmip-lma: reloaded", "file", d.opts.configPath)
}

// forceBuffers raises a signalling socket's buffers past
// net.core.rmem_max/wmem_max when we may (CAP_NET_ADMIN); otherwise the
// kernel's cap stays and a warning says how to raise it.
func forceBuffers(c interface {
	SyscallConn() (syscall.RawConn, error)
}, log *slog.Logger) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var serr error
	_ = rc.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer))
	})
	if serr != nil {
		log.Warn("pmip-lma: could not enlarge the signalling socket buffers; under heavy load raise net.core.rmem_max and wmem_max", "err", serr)
	}
}

// timed wraps st to measure its writes for the metrics, keeping its
// store.Submitter (the engine's batched way to the WAL) when it has one.
func timed(st store.Store, observe func(float64)) store.Store {
	t := &timedStore{Store: st, observe: observe}
	if sub, ok := st.(store.Submitter); ok {
		return &timedSubmitter{timedStore: t, sub: sub}
	}
	return t
}

// timedSubmitter is timedStore over a store.Submitter: a submitted batch
// (a loop turn's writes) is timed from Submit to its callback.
type timedSubmitter struct {
	*timedStore
	sub store.Submitter
}

func (s *timedSubmitter) Submit(b *store.Batch, done func(error)) error {
	t := time.Now()
	return s.sub.Submit(b, func(err error) {
		s.observe(time.Since(t).Seconds())
		if done != nil {
			done(err)
		}
	})
}

// timedStore measures every Put and Delete, from the call to durability
// (the group commit's wait and fdatasync), for the metrics.
type timedStore struct {
	store.Store
	observe func(float64)
}

func (s *timedStore) Put(ctx context.Context, k, v []byte) error {
	t := time.Now()
	err := s.Store.Put(ctx, k, v)
	s.observe(time.Since(t).Seconds())
	return err
}

func (s *timedStore) Delete(ctx context.Context, k []byte) error {
	t := time.Now()
	err := s.Store.Delete(ctx, k)
	s.observe(time.Since(t).Seconds())
	return err
}
