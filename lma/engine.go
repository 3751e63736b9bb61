package lma

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/ratelimit"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/store"
)

// Options wire an Engine. Config, Conns and Store are required.
type Options struct {
	// Config is the validated configuration (lmaconfig.Load).
	Config lmaconfig.Config
	// Conns are the signalling sockets: the raw IPv6 carrier and, when
	// MAGs signal over IPv4, the UDP/IPv4 one (RFC 5844 4). A reply
	// leaves through the Conn its request came in on.
	Conns []transport.Conn
	// Dataplane holds the tunnels and routes; the engine reconciles it
	// whole at start (Set) and changes it per binding afterwards (Change).
	// nil means none: signalling only, no tunnels or routes anywhere
	// (tests, benchmarks, a host without tunnel modules); the
	// reconciliation at start, a million routes' worth, is skipped.
	Dataplane dataplane.Dataplane
	// Store keeps bindings across restarts.
	Store store.Store
	// Clock drives every protocol timer; nil means the wall clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// ObserveLatency, when set, is called with the time from a PBU's
	// arrival to its PBA's departure (for a Prometheus histogram). It
	// runs on the engine's goroutines and must be quick.
	ObserveLatency func(time.Duration)
	// Writers bounds the store writes in flight (default 1024): each
	// waits for a group commit, so the number in flight is what lets the
	// store batch them.
	Writers int
}

// Engine is the LMA: it answers Proxy Binding Updates, keeps the Binding
// Cache, the pools and the data plane in step, persists bindings before
// acknowledging them, and talks heartbeat and revocation with the MAGs.
//
// All protocol state is owned by one goroutine (the loop); receivers,
// store writers and the data plane applier feed it events. Exported
// methods are safe for concurrent use.
type Engine struct {
	conns []transport.Conn
	// out[i] batches what the engine sends on conns[i].
	out     []*sender
	sendErr atomic.Uint64
	dp      dataplane.Dataplane
	noDP    bool // Options.Dataplane was nil
	st      store.Store
	clk     clock.Clock
	log     *slog.Logger
	observe func(time.Duration)

	events chan func() // run on the loop
	// ackScratch is the loop's reused PBA (loopPBA).
	ackScratch ackScratch
	// loopMu is "being on the loop": whoever holds it owns the protocol
	// state. The loop goroutine holds it for each event; a receiver holds
	// it while it handles the batch it read (receive), so a PBU goes from
	// the socket to its PBA on one goroutine, with no hand-over to wait
	// for (a goroutine woken on another CPU waited 0.5-1 ms for it on the
	// build host at 50,000 PBU/s: docs/lma.md).
	loopMu sync.Mutex
	// afterRead, when set (tests), runs when a receiver has read and
	// stamped a batch, before it waits for the loop.
	afterRead atomic.Pointer[func()]
	// recvMu orders receivers' batches against Close: a receiver holds it
	// for reading from its check of stopRead until its batch is handled,
	// so that once Close has set stopRead under the write lock, nothing
	// read afterwards reaches the protocol state.
	recvMu    sync.RWMutex
	stopRead  bool // guarded by recvMu
	closeOnce sync.Once
	done      chan struct{}
	loopDone  chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	writes *writes
	apply  *applier
	stats  *stats
	// handled counts received messages the loop has processed (tests
	// use it to know the engine has seen what they sent).
	handled atomic.Uint64

	// Loop-owned state below.
	dec      mh.Decoder // decodes every message handled (pbu.go)
	cfg      lmaconfig.Config
	pol      *policyIndex
	mags     map[netip.Addr]*lmaconfig.MAG
	magState map[string]*magState
	pools    *pools
	bc       *cache
	nextID   uint64
	// expiry is the one clock timer for the binding with the earliest
	// deadline; expiryAt is when it fires.
	expiry   clock.Timer
	expiryAt time.Time
	parked   map[parkKey]*parked
	revokes  map[uint16]*revocation
	briSeq   uint16
	tunnels  map[string]*tunnelRef
	// grePeers counts the keyed GRE sessions per MAG address (the
	// MAGs whose GRE the data plane checks, RFC 5845 3).
	grePeers map[netip.Addr]int
	// tunnelNames caches the point-to-point tunnel name per kind and
	// MAG address (tunnelName hashes and formats).
	tunnelNames map[tunnelKey]string
	restarts    uint32 // our RFC 5847 restart counter
	// resyncPending: a whole-state Set is scheduled after a failure.
	resyncPending bool
	hbTimer       clock.Timer
	// resyncTimer fires the periodic data plane resynchronisation.
	resyncTimer clock.Timer
	// beLimit rate-limits Binding Errors (RFC 6275 9.3.3).
	beLimit ratelimit.Bucket
	hbSeq   uint32
}

// New opens an engine: it reads the bindings back from the store (dropping
// those whose lifetime ran out while the LMA was down), reserves what they
// hold in the pools, bumps the restart counter (RFC 5847 5.2) and
// reconciles the data plane with them, removing anything stale. It does
// not read the sockets yet: call Run.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("lma: Store is required")
	}
	noDP := opts.Dataplane == nil
	if noDP {
		opts.Dataplane = noDataplane{}
	}
	if len(opts.Conns) == 0 {
		return nil, errors.New("lma: at least one signalling Conn is required")
	}
	if !opts.Config.Address.IsValid() {
		return nil, errors.New("lma: the configuration has no LMA address")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Writers <= 0 {
		opts.Writers = 1024
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		// Full at the first Binding Error (a zero start).
		beLimit:     ratelimit.NewBucket(bindingErrorRate, bindingErrorBurst, time.Time{}),
		conns:       opts.Conns,
		dp:          opts.Dataplane,
		noDP:        noDP,
		st:          opts.Store,
		clk:         opts.Clock,
		log:         opts.Logger,
		observe:     opts.ObserveLatency,
		events:      make(chan func(), 4096),
		done:        make(chan struct{}),
		loopDone:    make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		stats:       newStats(),
		bc:          newCache(),
		parked:      map[parkKey]*parked{},
		revokes:     map[uint16]*revocation{},
		tunnels:     map[string]*tunnelRef{},
		grePeers:    map[netip.Addr]int{},
		tunnelNames: map[tunnelKey]string{},
		magState:    map[string]*magState{},
		nextID:      1,
	}
	if err := e.setConfig(opts.Config); err != nil {
		cancel()
		return nil, err
	}
	for _, c := range e.conns {
		e.out = append(e.out, newSender(c, e.log, &e.sendErr))
	}
	closeSenders := func() {
		for _, s := range e.out {
			s.close()
		}
	}
	e.writes = newWrites(e, e.st, opts.Writers)
	e.apply = newApplier(ctx, e.dp, e.clk, e.log, e.stats, func() { e.post(e.scheduleResync) })
	if err := e.recover(ctx); err != nil {
		e.writes.close()
		e.apply.close()
		closeSenders()
		cancel()
		return nil, err
	}
	e.armExpiry()
	e.scheduleHeartbeat()
	e.schedulePeriodicResync()
	go e.loop()
	return e, nil
}

// Run reads the sockets until ctx ends or Close is called, then closes
// the engine. The protocol (timers, the operations API) runs from New on;
// Run only adds the sockets. It returns nil after Close or the context's
// end.
func (e *Engine) Run(ctx context.Context) error {
	// Under recvMu, against Close: a Run that comes after Close has
	// begun starts no receivers (their wg.Add would race with Close's
	// wg.Wait).
	e.recvMu.Lock()
	if !e.stopRead {
		for _, c := range e.conns {
			e.wg.Add(1)
			go e.receive(c)
		}
	}
	e.recvMu.Unlock()
	select {
	case <-ctx.Done():
		return e.Close()
	case <-e.done:
		return nil
	}
}

// loop runs every event; it owns the protocol state.
func (e *Engine) loop() {
	defer close(e.loopDone)
	for {
		select {
		case f := <-e.events:
			e.loopMu.Lock()
			f()
			// What the event wrote goes to the store as one batch.
			e.writes.flush()
			e.loopMu.Unlock()
		case <-e.ctx.Done():
			return
		}
	}
}

// Close stops the engine, in an order that loses no answer: it stops
// taking messages from the sockets, lets the loop finish the messages
// already read, waits for the store writes in flight and sends their PBAs
// (a binding made durable is acknowledged), then closes the sockets and
// stops the timers. The store and data plane stay as they are: a restart
// picks them up.
func (e *Engine) Close() error {
	first := false
	e.closeOnce.Do(func() { first = true })
	if !first {
		<-e.loopDone
		return nil
	}
	// 1. Stop reading: what receivers read from now on is dropped (the
	// MAGs retransmit to the restarted LMA).
	e.recvMu.Lock()
	e.stopRead = true
	e.recvMu.Unlock()
	// 2. Finish what was read: setting stopRead waited for the batches
	// receivers were handling; a round trip through the loop covers the
	// events posted before.
	_ = e.call(context.Background(), func() {})
	// 3. Finish the writes; each durable one queues its PBA.
	e.writes.close()
	// Failed writes posted their follow-ups to the loop.
	_ = e.call(context.Background(), func() {})
	// A handoff's PBA leaves when its route switch is applied too
	// (handoff.go): let the applier finish what is queued.
	_ = e.apply.wait(context.Background())
	// 4. Send what is queued, then close the sockets.
	for _, s := range e.out {
		s.close()
	}
	close(e.done)
	var errs []error
	for _, c := range e.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	e.wg.Wait()
	e.apply.close()
	e.cancel()
	<-e.loopDone
	return errors.Join(errs...)
}

// post hands f to the loop. After Close it is dropped.
func (e *Engine) post(f func()) {
	select {
	case e.events <- f:
	case <-e.done:
	case <-e.ctx.Done():
	}
}

// call runs f on the loop and waits for it.
func (e *Engine) call(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case e.events <- func() { f(); close(ran) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.ctx.Done():
		return errClosed
	}
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.ctx.Done():
		return errClosed
	}
}

var errClosed = errors.New("lma: engine closed")

// flushEvery is how many PBUs of a received batch are handled before
// their writes are submitted (the rest go when the batch is done).
const flushEvery = 32

// Sync waits until every message received so far has been processed,
// its store write is durable and its PBA handed to the socket, and its
// data plane changes applied. Tests and the operations API use it to observe a
// settled engine.
func (e *Engine) Sync(ctx context.Context) error {
	// A receiver handles each batch, under recvMu, before it reads the
	// next: taking the lock waits for the batches in hand. Then a round
	// trip through the loop covers the events posted before.
	e.recvMu.Lock()
	//lint:ignore SA2001 an empty critical section on purpose: a barrier
	e.recvMu.Unlock()
	if err := e.call(ctx, func() {}); err != nil {
		return err
	}
	if err := e.writes.wait(ctx); err != nil {
		return err
	}
	// Completed writes may have posted follow-ups (failures) to the loop.
	if err := e.call(ctx, func() {}); err != nil {
		return err
	}
	if err := e.apply.wait(ctx); err != nil {
		return err
	}
	// A failed change posted its resynchronisation to the loop.
	if err := e.call(ctx, func() {}); err != nil {
		return err
	}
	// What the loop and the writes queued has left.
	for _, s := range e.out {
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// packet is one received message.
type packet struct {
	conn transport.Conn
	from netip.AddrPort
	data []byte
	// recv is the message's arrival, against which RFC 5213 5.5 checks
	// the PBU's timestamp, and the start of its processing latency: the
	// kernel's receive timestamp when the Conn has one (time queued in
	// the socket counts) and the engine runs on the wall clock, else the
	// engine's clock when the batch holding it was read.
	recv time.Time
}

// receive reads batches from c and hands them to the loop. A packet's
// data is the read buffer itself, which the next read overwrites, and the
// batch's packets are reused: what the loop keeps of a message past its
// handling it copies (pendingAck, handoffAck, request.own). At 50,000
// PBUs a second a copy of each batch was a quarter of the LMA's garbage.
func (e *Engine) receive(c transport.Conn) {
	defer e.wg.Done()
	n := c.BatchSize()
	msgs := make([]transport.Message, n)
	for i := range msgs {
		msgs[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	// Kernel timestamps are wall-clock times: usable only when the
	// engine's clock is the wall clock too (not a test's fake).
	_, kernelTime := e.clk.(clock.Real)
	batch := make([]packet, 0, n)
	for {
		k, err := c.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.recvMu.RLock()
			stopped := e.stopRead
			e.recvMu.RUnlock()
			if stopped {
				return
			}
			e.log.Warn("lma: reading the signalling socket", "local", c.LocalAddr(), "err", err)
			continue
		}
		now := e.clk.Now()
		batch = batch[:0]
		for i := range msgs[:k] {
			m := &msgs[i]
			if m.Truncated {
				// A message longer than any Mobility Header: not ours.
				e.stats.dropped.Add(1)
				e.handled.Add(1)
				continue
			}
			recv := now
			if kernelTime && !m.Time.IsZero() {
				recv = m.Time
			}
			batch = append(batch, packet{conn: c, from: m.Addr, data: m.Buf[:m.N:m.N], recv: recv})
		}
		e.recvMu.RLock()
		if e.stopRead {
			e.recvMu.RUnlock()
			continue // closing: keep reading until the socket closes
		}
		if f := e.afterRead.Load(); f != nil {
			(*f)()
		}
		// On the loop (loopMu), from this goroutine: see loopMu.
		e.loopMu.Lock()
		for i := range batch {
			e.handle(&batch[i])
			e.handled.Add(1)
			if i%flushEvery == flushEvery-1 {
				// Hand the store what is ready rather than hold the
				// first PBUs' writes until the last of a large batch
				// is handled: the commit under way picks them up
				// sooner (latency, not throughput: writes still share
				// one fdatasync).
				e.writes.flush()
			}
		}
		e.writes.flush()
		e.loopMu.Unlock()
		e.recvMu.RUnlock()
	}
}

// send queues data for the peer on conn, batched with what else is
// leaving (sender). data must not change afterwards.
func (e *Engine) send(conn transport.Conn, to netip.AddrPort, data []byte) {
	for i, c := range e.conns {
		if c == conn {
			e.out[i].send(data, to)
			return
		}
	}
	if err := conn.WriteTo(data, to); err != nil && !errors.Is(err, net.ErrClosed) {
		e.log.Warn("lma: sending", "to", to, "err", err)
	}
}

// connFor returns the Conn to reach a MAG at a (the UDP/IPv4 one for IPv4
// MAGs, RFC 5844 4), and the address with the port to use.
func (e *Engine) connFor(a netip.Addr) (transport.Conn, netip.AddrPort, bool) {
	for _, c := range e.conns {
		l := c.LocalAddr()
		if l.Addr().Unmap().Is4() == a.Is4() {
			port := uint16(0)
			if a.Is4() {
				port = transport.Port
			}
			return c, netip.AddrPortFrom(a, port), true
		}
	}
	return nil, netip.AddrPort{}, false
}

// setConfig installs a configuration on the loop (or before it starts).
func (e *Engine) setConfig(cfg lmaconfig.Config) error {
	pl, err := newPools(cfg, e.pools)
	if err != nil {
		return err
	}
	e.cfg = cfg
	e.pol = newPolicyIndex(&e.cfg)
	e.mags = map[netip.Addr]*lmaconfig.MAG{}
	for i := range e.cfg.MAGs {
		m := &e.cfg.MAGs[i]
		for _, a := range m.Addresses {
			e.mags[a.Unmap()] = m
		}
		if e.magState[m.Name] == nil {
			e.magState[m.Name] = &magState{}
		}
	}
	e.pools = pl
	return nil
}

// debug reports whether debug lines are wanted, so that the per-PBU ones
// cost nothing otherwise. Per-session events (registration, refresh,
// handoff, deregistration, removal) log at debug level: at 50,000 PBUs a
// second an info line each would flood the journal; Counters and metrics
// carry them instead.
func (e *Engine) debug() bool { return e.log.Enabled(context.Background(), slog.LevelDebug) }

func (e *Engine) String() string { return fmt.Sprintf("lma %s", e.cfg.Address) }

// noDataplane stands for Options.Dataplane nil: it holds nothing.
type noDataplane struct{}

func (noDataplane) Set(context.Context, *dataplane.State) error   { return nil }
func (noDataplane) Change(context.Context, ...dataplane.Op) error { return nil }
