package dhcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/ratelimit"
)

// Server is the MAG's collocated DHCPv4 server (RFC 5844 3.4.1, DHCP
// server mode) and the ARP responder for its clients' default router.
type Server struct {
	cfg       Config
	log       *slog.Logger
	warn      *logLimiter
	routerMAC mac
	dhcpConn  net.PacketConn
	arpConn   net.PacketConn // nil: no ARP responder
	stats     counters

	// mu guards the four fields below.
	mu      sync.Mutex
	pending map[mac]*pendingTxn
	bucket  ratelimit.Bucket
	queue   []mac       // new clients waiting for a token, oldest first
	release clock.Timer // armed while the queue is not empty

	closeOnce sync.Once
	closed    atomic.Bool
}

// pendingTxn is a transaction from a client with no lease yet, waiting
// for LeaseReady: the last DHCPDISCOVER or DHCPREQUEST it sent.
type pendingTxn struct {
	req       *dhcpv4.DHCPv4
	unicast   bool // the client sent it to a unicast IP address
	seen      time.Time
	triggered time.Time
	// queued: the engine has not been told yet; client is what it will
	// be told when a token of the trigger rate accrues.
	queued bool
	client Client
}

// New returns a server that reads DHCP frames from dhcpConn and ARP
// requests from arpConn (nil disables the ARP responder, for a data plane
// that answers ARP itself). Both carry whole Ethernet frames; replies are
// written to a *packet.Addr naming the destination MAC. Listen opens
// suitable packet sockets; dhcpservertest has in-memory ones.
func New(cfg Config, dhcpConn, arpConn net.PacketConn) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if dhcpConn == nil {
		return nil, fmt.Errorf("%w: no DHCP conn", errConfig)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		routerMAC: mac(cfg.RouterMAC),
		dhcpConn:  dhcpConn,
		arpConn:   arpConn,
		pending:   make(map[mac]*pendingTxn),
		bucket:    ratelimit.NewBucket(cfg.TriggerRate, cfg.TriggerBurst, cfg.Clock.Now()),
	}
	s.warn = &logLimiter{log: cfg.Logger, clock: cfg.Clock, interval: cfg.LogInterval, burst: cfg.LogBurst}
	return s, nil
}

// Serve reads and answers frames until ctx is done or Close is called,
// then returns nil; it returns a read error that is not the end of the
// connection.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	loop := func(c net.PacketConn, handle func([]byte)) {
		defer wg.Done()
		buf := make([]byte, 4096) // above any Ethernet MTU we serve
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil || s.closed.Load() || errors.Is(err, net.ErrClosed) {
					errc <- nil
				} else {
					errc <- fmt.Errorf("dhcpserver: read: %w", err)
				}
				cancel()
				return
			}
			handle(buf[:n])
		}
	}
	wg.Add(1)
	go loop(s.dhcpConn, s.handleDHCPFrame)
	if s.arpConn != nil {
		wg.Add(1)
		go loop(s.arpConn, s.handleARPFrame)
	}
	wg.Wait()
	close(errc)
	var first error
	for err := range errc {
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close closes the connections; Serve returns.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.mu.Lock()
		if s.release != nil {
			s.release.Stop()
		}
		s.mu.Unlock()
		err = s.dhcpConn.Close()
		if s.arpConn != nil {
			err = errors.Join(err, s.arpConn.Close())
		}
	})
	return err
}

// Stats returns the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Pending returns how many clients wait for a lease.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// LeaseReady tells the server that the engine now holds a lease for hw
// (the PBA has arrived). If the client's DHCPDISCOVER or DHCPREQUEST is
// waiting, the server answers it at once, from the caller's goroutine,
// with the transaction ID the client is listening for, rather than
// waiting for the client to retransmit (up to 64 s, RFC 2131 4.1).
func (s *Server) LeaseReady(hw net.HardwareAddr) {
	s.leaseReady(hw, false)
}

// LeaseReadyFrame is LeaseReady for a caller that sends the router
// announcement itself, in one burst with its own frames (mag's
// AnnouncingAdvertiser: the ARP request, the Neighbor Advertisement and
// the RA in one system call, docs/handover.md 9.6). A waiting transaction
// is answered as LeaseReady answers it, and nil returned; with none, the
// announcement (the ARP request of announceRouter, a whole Ethernet frame
// unicast to the client, for the same access link) is returned instead of
// written, or nil if there is nothing to announce. It is counted as an
// announcement when handed over.
func (s *Server) LeaseReadyFrame(hw net.HardwareAddr) []byte {
	return s.leaseReady(hw, true)
}

// leaseReady is LeaseReady; with hand, the router announcement is
// returned instead of written.
func (s *Server) leaseReady(hw net.HardwareAddr, hand bool) []byte {
	if len(hw) != 6 {
		s.log.Error("LeaseReady: not an Ethernet address", "hw", hw)
		return nil
	}
	k := mac(hw)
	s.mu.Lock()
	p := s.pending[k]
	delete(s.pending, k)
	s.mu.Unlock()
	if p == nil {
		// The announcement first, the log line after: the client's
		// traffic waits for the one, nobody for the other.
		var frame []byte
		if lease, ok := s.lookup(k); ok {
			if hand {
				frame = s.announcement(k, lease)
			} else {
				s.announceRouter(k, lease)
			}
		}
		s.log.Debug("lease ready, no transaction waiting", "mac", k)
		return frame
	}
	if s.cfg.Clock.Now().Sub(p.seen) > s.cfg.PendingTimeout {
		s.stats.expired.Add(1)
		s.log.Info("lease ready after the client's transaction expired; answering its next message", "mac", k)
		return nil
	}
	lease, ok := s.lookup(k)
	if !ok {
		s.log.Warn("LeaseReady but the engine has no usable lease", "mac", k)
		return nil
	}
	s.stats.answered.Add(1)
	s.answer(k, p.req, p.unicast, lease)
	return nil
}

// Forget drops a waiting transaction, e.g. when the LMA rejected the
// registration; the client's next message triggers again.
func (s *Server) Forget(hw net.HardwareAddr) {
	if len(hw) != 6 {
		return
	}
	s.dropPending(mac(hw))
}

// lookup asks the engine for a lease and checks it is servable.
func (s *Server) lookup(k mac) (Lease, bool) {
	lease, ok := s.cfg.Engine.Lookup(net.HardwareAddr(k[:]))
	if !ok {
		return Lease{}, false
	}
	if err := lease.validate(); err != nil {
		s.stats.badLeases.Add(1)
		s.warn.warn("engine lease not served", "mac", k, "err", err)
		return Lease{}, false
	}
	return lease, true
}

// remember records a transaction from a client without a lease and, at
// most once per TriggerInterval per client, tells the engine (the DHCP
// attach trigger, RFC 5844 3.4.1: the server must not offer before the
// PBA). It bounds what a flood from random MACs can cost: MaxPending
// entries (beyond them new clients are dropped and counted), and engine
// calls for new clients paced by the trigger rate. A new client without a
// token queues, in arrival order, and the engine hears of it when one
// accrues: a burst of legitimate clients (an AP rebooting, a classroom)
// is registered in full rather than waiting for its retransmissions.
func (s *Server) remember(k mac, m *dhcpv4.DHCPv4, unicast bool, c Client) {
	now := s.cfg.Clock.Now()
	trigger := false
	s.mu.Lock()
	p := s.pending[k]
	switch {
	case p != nil:
		p.req, p.unicast, p.seen = m, unicast, now
		if p.queued {
			p.client = c // still waiting for its turn: newest details
		} else if now.Sub(p.triggered) >= s.cfg.TriggerInterval {
			p.triggered = now
			trigger = true
		}
	case len(s.pending) >= s.cfg.MaxPending && s.evictExpiredLocked(now) == 0:
		s.mu.Unlock()
		s.stats.pendingFull.Add(1)
		s.warn.warn("client dropped: too many clients waiting for a lease", "mac", k, "max_pending", s.cfg.MaxPending)
		return
	case len(s.queue) > 0 || !s.bucket.Allow(now):
		s.stats.newClients.Add(1)
		s.pending[k] = &pendingTxn{req: m, unicast: unicast, seen: now, queued: true, client: c}
		s.queue = append(s.queue, k)
		s.stats.queued.Add(1)
		s.armReleaseLocked(now)
		s.mu.Unlock()
		return
	default:
		s.stats.newClients.Add(1)
		s.pending[k] = &pendingTxn{req: m, unicast: unicast, seen: now, triggered: now}
		trigger = true
	}
	s.mu.Unlock()

	// Look again now that the transaction is recorded: a LeaseReady that
	// ran between the caller's lookup and here found nothing to answer.
	if lease, ok := s.lookup(k); ok {
		s.mu.Lock()
		p := s.pending[k]
		delete(s.pending, k)
		s.mu.Unlock()
		if p != nil {
			s.answer(k, p.req, p.unicast, lease)
		}
		return
	}
	if trigger {
		s.tell(c)
	}
}

// tell passes one client to the engine.
func (s *Server) tell(c Client) {
	s.stats.triggers.Add(1)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("client without lease, asking the engine to register it",
			"mac", c.HardwareAddr, "msg", c.MessageType, "requested", c.Requested, "hostname", c.Hostname)
	}
	s.cfg.Engine.OnClientSeen(c)
}

// armReleaseLocked arms the pacer for the head of the queue.
func (s *Server) armReleaseLocked(now time.Time) {
	if s.release == nil && !s.closed.Load() {
		s.release = s.cfg.Clock.AfterFunc(s.bucket.Wait(now), s.releaseQueued)
	}
}

// releaseQueued tells the engine of queued clients, oldest first, as far
// as the trigger rate allows, and re-arms for the rest. A client answered
// (LeaseReady), forgotten or expired meanwhile is skipped.
func (s *Server) releaseQueued() {
	now := s.cfg.Clock.Now()
	var out []Client
	s.mu.Lock()
	s.release = nil
	if s.closed.Load() {
		s.mu.Unlock()
		return
	}
	for len(s.queue) > 0 {
		p := s.pending[s.queue[0]]
		if p == nil || !p.queued {
			s.queue = s.queue[1:]
			continue
		}
		if !s.bucket.Allow(now) {
			break
		}
		s.queue = s.queue[1:]
		out = append(out, p.client)
		p.queued, p.client, p.triggered = false, Client{}, now
	}
	if len(s.queue) == 0 {
		s.queue = nil
	} else {
		s.armReleaseLocked(now)
	}
	s.mu.Unlock()
	for _, c := range out {
		s.tell(c)
	}
}

// evictExpiredLocked removes transactions older than PendingTimeout and
// returns how many. s.mu must be held.
func (s *Server) evictExpiredLocked(now time.Time) int {
	n := 0
	for k, p := range s.pending {
		if now.Sub(p.seen) > s.cfg.PendingTimeout {
			delete(s.pending, k)
			n++
		}
	}
	s.stats.expired.Add(uint64(n))
	return n
}

// dropPending forgets k's transaction: the client finished or abandoned
// it, or chose another server.
func (s *Server) dropPending(k mac) {
	s.mu.Lock()
	delete(s.pending, k)
	s.mu.Unlock()
}
