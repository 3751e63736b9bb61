package hostapd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openpmip/pmip/internal/clock"
)

// The Monitor is the MAG's own hook on hostapd (docs/handover.md 5.2):
//
//	hostapd BSS wlan0 ◄──ATTACH, PING────── monitor socket ──► reader ──► queue ──► worker ──► Handle(Event)
//	  ctrl_interface  ──<3>AP-STA-...─────►  (per BSS)        (bounded)   HandoffHints │ STA <mac>, STA-FIRST/NEXT,
//	  /var/run/hostapd/wlan0 ◄──────────────── command socket ◄──────────────────────────┘ DEAUTHENTICATE ... tx=0
//
// It reads the events hostapd sends an attached monitor, as
// `hostapd_cli -a` does, without a process per event: an event reaches
// the engine in well under a millisecond instead of the 0.6-1 s of the
// action-script chain under load (docs/handover.md 3.2).

// Monitor defaults.
const (
	// DefaultPingInterval is how often the monitor checks that hostapd
	// still has it attached: hostapd_cli's ping_interval (5 s). A
	// restarted hostapd recreates its socket and forgets its monitors.
	DefaultPingInterval = 5 * time.Second
	// DefaultPingTimeout is how long a PING waits for its PONG.
	DefaultPingTimeout = 2 * time.Second
	// DefaultMaxBackoff caps the wait between attach attempts.
	DefaultMaxBackoff = 10 * time.Second
	// DefaultQueueLen bounds the events queued per BSS between the
	// reader and the worker. An overflow drops events and resynchronises
	// from hostapd's station table (STA-FIRST/STA-NEXT) instead.
	DefaultQueueLen = 256
	// minBackoff is the first wait after a failed attach.
	minBackoff = 250 * time.Millisecond
	// attachTimeout bounds the wait for hostapd's OK to ATTACH.
	attachTimeout = 2 * time.Second
	// maxListed bounds a resynchronisation's station list: twice
	// hostapd's default max_num_sta (2007).
	maxListed = 4096
	// listRetries bounds the restarts of a listing the station table
	// changed under.
	listRetries = 3
	// identityQueryTimeout bounds the STA <mac> query after
	// AP-STA-CONNECTED. hostapd answers it only once it has finished the
	// association it reported (one event loop): 2.2 s in scenario 2's
	// loaded guest once (2026-11-23, AP-STA-CONNECTED -> "IEEE 802.1X:
	// authenticated"), where a 1 s bound delivered the station without
	// its identity and the LMA refused the MAC-derived one for good
	// (status 152). A late identity is better than a wrong one; hostapd_cli
	// waits 10 s. A wedged hostapd is the PING keeper's to find.
	identityQueryTimeout = 5 * time.Second
)

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// CtrlDir is hostapd's ctrl_interface directory; each BSS's socket
	// is CtrlDir/<ifname>.
	CtrlDir string
	// Interfaces are the BSS interfaces to attach to.
	Interfaces []string
	// Handle receives the station events (Connected with the identity,
	// Disconnected), Source SourceCtrl: for each BSS from one goroutine,
	// in the order hostapd reported them. It should not block for long:
	// that BSS's events queue meanwhile.
	Handle func(Event)
	// Known returns the stations the caller holds as associated with
	// BSS bss. After every (re)attach, those hostapd no longer lists are
	// reported Disconnected (events lost while the monitor was away). Nil:
	// none.
	Known func(bss string) []net.HardwareAddr
	// Logger; nil discards.
	Logger *slog.Logger
	// Clock drives the PING and backoff timers; nil is the wall clock.
	Clock clock.Clock
	// PingInterval, PingTimeout, MaxBackoff, QueueLen: zero takes the
	// defaults above.
	PingInterval time.Duration
	PingTimeout  time.Duration
	MaxBackoff   time.Duration
	QueueLen     int
}

// MonitorStats counts a Monitor's work, over all its BSSs.
type MonitorStats struct {
	Attached       int    // BSSs attached now, of Interfaces
	Attaches       uint64 // successful ATTACHes, the first included
	AttachFailures uint64 // attach attempts that failed
	Lost           uint64 // attachments ended: PING unanswered or failed, socket gone
	Events         uint64 // event datagrams read
	Malformed      uint64 // datagrams that were neither an event nor an expected reply
	Dropped        uint64 // station events dropped on a full queue (a resync follows)
	Delivered      uint64 // Events handed to Handle
	FastReassoc    uint64 // Connected events with the fast-reassociation hint
	Resyncs        uint64 // station tables listed
	ResyncFailures uint64
	QueryFailures  uint64 // STA <mac> queries that failed
	// RememberedIdentity counts fast reassociations hostapd reported
	// without an identity that got the one the station authenticated
	// with here before (identities.go).
	RememberedIdentity uint64
	Deauths            uint64 // DEAUTHENTICATE tx=0 sent and acknowledged
}

// Monitor attaches to the control socket of each configured BSS and
// turns hostapd's station events into Events.
type Monitor struct {
	cfg MonitorConfig
	log *slog.Logger
	clk clock.Clock
	bss map[string]*bssMonitor
	ids identities // identities.go

	mu    sync.Mutex
	stats MonitorStats
}

// bssMonitor is the monitor of one BSS.
type bssMonitor struct {
	m      *Monitor
	ifname string
	log    *slog.Logger
	cmd    *ctrlConn     // STA, STA-FIRST/NEXT, DEAUTHENTICATE
	queue  chan queued   // reader -> worker
	lost   atomic.Bool   // events were dropped: resync before the next
	pong   chan struct{} // reader -> keeper: a PONG arrived
	hints  HandoffHints  // the worker's
	// attached: an attachment is up (for MonitorStats.Attached).
	attached atomic.Bool
}

// queued is one item of a BSS's queue: a station event, or a resync
// request.
type queued struct {
	ev     CtrlEvent
	at     time.Time // when the reader read it (Event.Seen)
	resync bool
}

// NewMonitor checks cfg and returns a Monitor; Run starts it.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.CtrlDir == "" {
		return nil, errors.New("hostapd: monitor needs hostapd's control directory")
	}
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("hostapd: monitor needs at least one BSS interface")
	}
	if cfg.Handle == nil {
		return nil, errors.New("hostapd: monitor needs a Handle function")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	m := &Monitor{cfg: cfg, log: cfg.Logger, clk: cfg.Clock, bss: map[string]*bssMonitor{}}
	for _, ifname := range cfg.Interfaces {
		if err := checkInterface(ifname); err != nil {
			return nil, err
		}
		if _, dup := m.bss[ifname]; dup {
			return nil, fmt.Errorf("hostapd: monitor: BSS %q twice", ifname)
		}
		m.bss[ifname] = &bssMonitor{
			m: m, ifname: ifname, log: m.log.With("bss", ifname),
			cmd:   &ctrlConn{dir: cfg.CtrlDir, ifname: ifname},
			queue: make(chan queued, cfg.QueueLen),
			pong:  make(chan struct{}, 1),
		}
	}
	return m, nil
}

// Run attaches to every BSS and keeps the attachments until ctx ends.
// It returns nil then, after its goroutines have stopped. hostapd being
// absent is no error: the monitor retries with backoff, for ever.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, b := range m.bss {
		wg.Add(2)
		go func() { defer wg.Done(); b.keep(ctx) }()
		go func() { defer wg.Done(); b.work(ctx) }()
	}
	wg.Wait()
	for _, b := range m.bss {
		b.cmd.Close()
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (m *Monitor) Stats() MonitorStats {
	m.mu.Lock()
	st := m.stats
	m.mu.Unlock()
	for _, b := range m.bss {
		if b.attached.Load() {
			st.Attached++
		}
	}
	return st
}

func (m *Monitor) count(f func(*MonitorStats)) {
	m.mu.Lock()
	f(&m.stats)
	m.mu.Unlock()
}

// Deauthenticate has hostapd drop station mac from BSS bss without
// sending it a frame (DEAUTHENTICATE <mac> tx=0): the MAG's cleanup
// after the LMA revoked the station's binding because it moved to
// another MAG (docs/handover.md 5.5), so that hostapd's stale entry
// neither lingers until ap_max_inactivity nor colours the station's
// return.
func (m *Monitor) Deauthenticate(ctx context.Context, bss string, mac net.HardwareAddr) error {
	b := m.bss[bss]
	if b == nil {
		return fmt.Errorf("hostapd: %q is not a monitored BSS", bss)
	}
	if err := checkMAC(mac); err != nil {
		return err
	}
	if err := b.cmd.deauthenticate(ctx, mac); err != nil {
		return err
	}
	m.count(func(s *MonitorStats) { s.Deauths++ })
	return nil
}

// keep attaches, keeps the attachment alive with PING, and attaches
// again with backoff when it is lost, until ctx ends.
func (b *bssMonitor) keep(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 && !b.sleep(ctx, backoff) {
			return
		}
		conn, local, err := b.attach(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.m.count(func(s *MonitorStats) { s.AttachFailures++ })
			if backoff == 0 {
				b.log.Warn("hostapd: cannot attach to the control socket; retrying with backoff", "err", err)
				backoff = minBackoff
			} else {
				b.log.Debug("hostapd: attach failed", "err", err, "backoff", backoff)
				backoff = min(2*backoff, b.m.cfg.MaxBackoff)
			}
			continue
		}
		backoff = 0
		b.m.count(func(s *MonitorStats) { s.Attaches++ })
		b.log.Info("hostapd: attached to the control socket", "socket", b.m.cfg.CtrlDir+"/"+b.ifname)
		b.attached.Store(true)
		why := b.attachment(ctx, conn)
		b.attached.Store(false)
		conn.Close()
		os.Remove(local)
		if ctx.Err() != nil {
			return
		}
		// A restarted hostapd usually has its socket back by now:
		// the next attempt is at once, the backoff starts after it.
		b.m.count(func(s *MonitorStats) { s.Lost++ })
		b.log.Warn("hostapd: control socket attachment lost; attaching again", "why", why)
	}
}

// sleep waits d on the monitor's clock; false if ctx ended first.
func (b *bssMonitor) sleep(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	t := b.m.clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// attach opens a monitor socket and sends ATTACH (hostapd
// ctrl_iface.c: the sender's address joins the monitors, which receive
// every event of level MSG_INFO and above).
func (b *bssMonitor) attach(ctx context.Context) (*net.UnixConn, string, error) {
	conn, local, err := dialCtrl(b.m.cfg.CtrlDir, b.ifname, "mon")
	if err != nil {
		return nil, "", err
	}
	fail := func(err error) (*net.UnixConn, string, error) {
		conn.Close()
		os.Remove(local)
		return nil, "", err
	}
	// Events may come in bursts (a flood of associations): room for
	// them while the reader is scheduled. The kernel caps it.
	_ = conn.SetReadBuffer(256 << 10)
	deadline := time.Now().Add(attachTimeout)
	if err := conn.SetDeadline(deadline); err != nil {
		return fail(err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write([]byte("ATTACH")); err != nil {
		return fail(fmt.Errorf("hostapd: ATTACH on %s: %w", b.ifname, err))
	}
	buf := make([]byte, ctrlReplyMax+1)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return fail(fmt.Errorf("hostapd: ATTACH on %s: %w", b.ifname, err))
		}
		switch reply := string(bytes.TrimSpace(buf[:n])); {
		case reply == "OK":
			if err := conn.SetDeadline(time.Time{}); err != nil {
				return fail(err)
			}
			return conn, local, nil
		case reply == "FAIL":
			return fail(fmt.Errorf("hostapd: %s refused ATTACH", b.ifname))
		case n > 0 && buf[0] == '<':
			// An event before our OK: not ours yet.
		default:
			return fail(fmt.Errorf("%w: ATTACH on %s answered %q", ErrSyntax, b.ifname, clip(buf[:n])))
		}
	}
}

// attachment runs one attachment: the reader, a resync of the station
// table, and PINGs until the attachment is lost or ctx ends. It
// returns why it ended.
func (b *bssMonitor) attachment(ctx context.Context, conn *net.UnixConn) string {
	// After every (re)attach the station table is listed, ahead of the
	// events that follow: what happened while away is recovered.
	b.enqueue(queued{resync: true})
	readerDone := make(chan string, 1)
	go func() { readerDone <- b.read(conn) }()
	defer func() {
		conn.SetDeadline(time.Now())
		<-readerDone
	}()

	// One timer at a time: the next PING, or the PONG's deadline. A
	// signal before due is a timer stopped too late; signals coalesce,
	// and one after due is the current timer's (or stands for it).
	fired := make(chan struct{}, 1)
	var due time.Time
	var timer clock.Timer
	arm := func(d time.Duration) {
		if timer != nil {
			timer.Stop()
		}
		due = b.m.clk.Now().Add(d)
		timer = b.m.clk.AfterFunc(d, func() {
			select {
			case fired <- struct{}{}:
			default:
			}
		})
	}
	defer func() { timer.Stop() }()
	arm(b.m.cfg.PingInterval)
	select { // a PONG of an earlier attachment is no answer
	case <-b.pong:
	default:
	}
	waiting := false
	for {
		select {
		case <-ctx.Done():
			// Leave politely: hostapd drops us at once instead of
			// failing to send us events.
			conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			conn.Write([]byte("DETACH"))
			return "stopping"
		case why := <-readerDone:
			readerDone <- why // for the deferred wait
			return why
		case <-b.pong:
			if waiting {
				waiting = false
				arm(b.m.cfg.PingInterval)
			}
		case <-fired:
			if b.m.clk.Now().Before(due) {
				continue // a timer stopped too late
			}
			if waiting {
				return fmt.Sprintf("no PONG within %v", b.m.cfg.PingTimeout)
			}
			conn.SetWriteDeadline(time.Now().Add(b.m.cfg.PingTimeout))
			if _, err := conn.Write([]byte("PING")); err != nil {
				// ECONNREFUSED: hostapd closed the socket we are
				// connected to (it stopped or restarted).
				return "PING: " + err.Error()
			}
			waiting = true
			arm(b.m.cfg.PingTimeout)
		}
	}
}

// read reads one attachment's datagrams until the socket fails. It only
// parses and queues: the worker applies the handoff rule and talks to
// hostapd, so reading never waits.
func (b *bssMonitor) read(conn *net.UnixConn) string {
	buf := make([]byte, maxCtrlEvent+1) // one more octet to detect oversize
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return "read: " + err.Error()
		}
		d := buf[:n]
		if n > 0 && d[0] != '<' && !bytes.HasPrefix(d, []byte("IFNAME=")) {
			switch string(bytes.TrimSpace(d)) {
			case "PONG":
				select {
				case b.pong <- struct{}{}:
				default:
				}
				continue
			case "OK":
				continue // DETACH's answer, or a late ATTACH's
			}
		}
		ev, err := ParseCtrlEvent(d)
		if err == nil && ev.MAC == nil && isStationEventName(ev.Name) {
			err = fmt.Errorf("%w: %s without a valid station address", ErrSyntax, ev.Name)
		}
		if err != nil {
			b.malformed(n, err)
			continue
		}
		b.m.count(func(s *MonitorStats) { s.Events++ })
		switch ev.Name {
		case CtrlEventConnected, CtrlEventDisconnected, CtrlEventEAPStarted:
			// What the engine and the handoff rule need; the
			// other events (EAP-SUCCESS, 4-way handshake done)
			// add nothing to AP-STA-CONNECTED.
			b.enqueue(queued{ev: ev, at: b.m.clk.Now()})
		}
	}
}

// malformed logs a datagram that is neither an event nor an expected
// reply, rate-limited: the first, then at every power of two.
func (b *bssMonitor) malformed(n int, err error) {
	var count uint64
	b.m.count(func(s *MonitorStats) { s.Malformed++; count = s.Malformed })
	if count&(count-1) == 0 {
		b.log.Warn("hostapd: malformed control datagram dropped", "len", n, "err", err, "malformed", count)
	}
}

// enqueue hands an item to the worker without ever blocking the reader.
// On a full queue the item is dropped and a resync is owed: the worker
// lists hostapd's station table once the queue has room again.
func (b *bssMonitor) enqueue(q queued) {
	if b.lost.Load() {
		select {
		case b.queue <- queued{resync: true}:
			b.lost.Store(false)
		default:
		}
	}
	if !q.resync && b.lost.Load() {
		b.drop()
		return
	}
	select {
	case b.queue <- q:
	default:
		b.lost.Store(true)
		b.drop()
	}
}

func (b *bssMonitor) drop() {
	var count uint64
	b.m.count(func(s *MonitorStats) { s.Dropped++; count = s.Dropped })
	if count&(count-1) == 0 {
		b.log.Warn("hostapd: station event queue full: dropping events, resynchronising afterwards",
			"queue", cap(b.queue), "dropped", count)
	}
}

// work handles the queued items in order, until ctx ends.
func (b *bssMonitor) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-b.queue:
			if q.resync {
				b.resync(ctx)
			} else {
				b.handle(ctx, q)
			}
		}
		// Events were dropped and no later event brought the owed
		// resync: list the table now that the queue is drained.
		if len(b.queue) == 0 && b.lost.CompareAndSwap(true, false) {
			b.resync(ctx)
		}
	}
}

// handle applies the handoff rule to one station event and delivers
// AP-STA-CONNECTED (with the identity) and AP-STA-DISCONNECTED. What it
// logs about the event it writes after the delivery: the engine sends
// the PBU from Handle, and a log write is a system call it would wait
// for. The line keeps the instant the event was ready (its record time),
// which is what a handover's timeline reads.
func (b *bssMonitor) handle(ctx context.Context, q queued) {
	ce := q.ev
	connected, fast := b.hints.Observe(ce)
	var ev Event
	var logs []func()
	switch {
	case connected:
		ev = Event{Kind: Connected, Interface: b.ifname, MAC: ce.MAC, Source: SourceCtrl, FastReassoc: fast, Seen: q.at}
		logs = b.addIdentity(ctx, &ev)
	case ce.Name == CtrlEventDisconnected:
		ev = Event{Kind: Disconnected, Interface: b.ifname, MAC: ce.MAC, Source: SourceCtrl, Seen: q.at}
	default:
		return
	}
	b.deliver(ev)
	for _, l := range logs {
		l()
	}
}

func (b *bssMonitor) deliver(ev Event) {
	if err := ev.Validate(); err != nil {
		b.log.Warn("hostapd: station event dropped", "event", ev, "err", err)
		return
	}
	b.m.count(func(s *MonitorStats) {
		s.Delivered++
		if ev.FastReassoc {
			s.FastReassoc++
		}
	})
	b.m.cfg.Handle(ev)
}

// logAt writes a log record stamped at, not at the time of the write.
func logAt(l *slog.Logger, at time.Time, level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	h := l.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(at, level, msg, 0)
	r.Add(args...)
	_ = h.Handle(ctx, r)
}

// addIdentity asks hostapd for the station's 802.1X identity (STA <mac>
// on the command socket) and sets ev.Query to the time that took.
// Failing that, the event goes without one: the MAG then identifies the
// station as its policy says, rather than not at all (as the action hook
// does). It returns its log lines, to be written after the delivery.
//
// The query is answered only once hostapd has finished the work it was
// doing when it sent AP-STA-CONNECTED (hostapd runs one event loop: the
// rest of the association, 802.1X and accounting state, a RADIUS
// Accounting-Request), plus a round trip of scheduling on each side;
// hostapd 2.10 puts no identity in the event text itself
// (docs/mag.md, "Handover timing").
func (b *bssMonitor) addIdentity(ctx context.Context, ev *Event) []func() {
	qctx, cancel := context.WithTimeout(ctx, identityQueryTimeout)
	defer cancel()
	start := b.m.clk.Now()
	st, err := b.cmd.station(qctx, ev.MAC)
	ready := b.m.clk.Now()
	ev.Query = ready.Sub(start)
	mac := ev.MAC.String()
	if err != nil {
		b.m.count(func(s *MonitorStats) { s.QueryFailures++ })
		return []func(){func() {
			logAt(b.log, ready, slog.LevelWarn, "hostapd: no 802.1X identity for a connected station", "station", mac, "err", err)
		}}
	}
	ev.Identity = st.Identity
	var logs []func()
	switch {
	case st.Identity != "":
		b.m.ids.remember(ev.MAC, st.Identity, ready)
	case ev.FastReassoc:
		// hostapd has none after FT or a PMKSA-cache resumption: the
		// one of the authentication the station resumed, if it was
		// here (identities.go).
		if id, ok := b.m.ids.lookup(ev.MAC, ready); ok {
			ev.Identity = id
			b.m.count(func(s *MonitorStats) { s.RememberedIdentity++ })
			logs = append(logs, func() {
				logAt(b.log, ready, slog.LevelInfo, "hostapd: fast reassociation without an identity: the one the station authenticated with here",
					"station", mac, "identity", id)
			})
		}
	}
	identity, fast, query := ev.Identity, ev.FastReassoc, ev.Query
	return append(logs, func() {
		logAt(b.log, ready, slog.LevelDebug, "hostapd: station connected", "station", mac, "identity", identity,
			"akm", st.AKM, "fast_reassoc", fast, "query", query)
	})
}

// resync lists hostapd's station table: every authorized station is
// reported Connected (the caller deduplicates those it has), and every
// station Known holds on this BSS that hostapd no longer lists is
// reported Disconnected (only after a complete listing).
func (b *bssMonitor) resync(ctx context.Context) {
	var list []ListedStation
	var complete bool
	var err error
	for try := 0; try < listRetries; try++ {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, complete, err = b.cmd.stations(qctx, maxListed)
		cancel()
		if !errors.Is(err, errListChanged) {
			break
		}
	}
	if err != nil {
		b.m.count(func(s *MonitorStats) { s.ResyncFailures++ })
		if ctx.Err() == nil {
			b.log.Warn("hostapd: station table not listed; events lost meanwhile stay unknown", "err", err)
		}
		return
	}
	b.m.count(func(s *MonitorStats) { s.Resyncs++ })
	// The handoff rule starts again from the table: a station in it may
	// have begun its EAP exchange while the monitor was away (or its
	// events were dropped), so its next AP-STA-CONNECTED gets no hint.
	// A station that associates from now on is seen from its first
	// event.
	b.hints = HandoffHints{}
	listed := make(map[macKey]bool, len(list))
	for _, st := range list {
		var k macKey
		copy(k[:], st.MAC)
		listed[k] = true
		b.hints.Unsure(st.MAC)
		if !st.Authorized {
			continue // its AP-STA-CONNECTED is still to come
		}
		b.m.ids.remember(st.MAC, st.Identity, b.m.clk.Now())
		b.deliver(Event{Kind: Connected, Interface: b.ifname, MAC: st.MAC, Identity: st.Identity, Source: SourceCtrl})
	}
	if !complete {
		b.log.Warn("hostapd: station table longer than the monitor lists; stations beyond it not resynchronised", "max", maxListed)
		return
	}
	gone := 0
	if b.m.cfg.Known != nil {
		for _, mac := range b.m.cfg.Known(b.ifname) {
			var k macKey
			copy(k[:], mac)
			if len(mac) != 6 || listed[k] {
				continue
			}
			gone++
			b.deliver(Event{Kind: Disconnected, Interface: b.ifname, MAC: mac, Source: SourceCtrl})
		}
	}
	b.log.Debug("hostapd: station table resynchronised", "listed", len(list), "gone", gone)
}
