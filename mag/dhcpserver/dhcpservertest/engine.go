package dhcpservertest

import (
	"net"
	"net/netip"
	"sync"

	"github.com/openpmip/pmip/mag/dhcpserver"
)

// Engine is a recording dhcpserver.Engine whose leases the test sets.
type Engine struct {
	mu       sync.Mutex
	leases   map[string]dhcpserver.Lease
	seen     []dhcpserver.Client
	releases []Event
	declines []Event
	lookups  int

	// SeenC receives every OnClientSeen report (buffered; extra reports
	// are dropped from the channel but still recorded).
	SeenC chan dhcpserver.Client
	// OnSeen, if set before use, is called from OnClientSeen, e.g. to
	// call Server.LeaseReady synchronously.
	OnSeen func(dhcpserver.Client)
}

// Event is a recorded release or decline.
type Event struct {
	HardwareAddr net.HardwareAddr
	Addr         netip.Addr
}

var _ dhcpserver.Engine = (*Engine)(nil)

// NewEngine returns an Engine without leases.
func NewEngine() *Engine {
	return &Engine{leases: make(map[string]dhcpserver.Lease), SeenC: make(chan dhcpserver.Client, 64)}
}

// SetLease makes Lookup return l for hw, as after a PBA.
func (e *Engine) SetLease(hw net.HardwareAddr, l dhcpserver.Lease) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leases[hw.String()] = l
}

// RemoveLease makes Lookup fail for hw, as after deregistration.
func (e *Engine) RemoveLease(hw net.HardwareAddr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.leases, hw.String())
}

// Lookup implements dhcpserver.Engine.
func (e *Engine) Lookup(hw net.HardwareAddr) (dhcpserver.Lease, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lookups++
	l, ok := e.leases[hw.String()]
	return l, ok
}

// OnClientSeen implements dhcpserver.Engine.
func (e *Engine) OnClientSeen(c dhcpserver.Client) {
	e.mu.Lock()
	e.seen = append(e.seen, c)
	f := e.OnSeen
	e.mu.Unlock()
	select {
	case e.SeenC <- c:
	default:
	}
	if f != nil {
		f(c)
	}
}

// OnRelease implements dhcpserver.Engine.
func (e *Engine) OnRelease(hw net.HardwareAddr, addr netip.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.releases = append(e.releases, Event{hw, addr})
}

// OnDecline implements dhcpserver.Engine.
func (e *Engine) OnDecline(hw net.HardwareAddr, addr netip.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.declines = append(e.declines, Event{hw, addr})
}

// Seen returns the OnClientSeen reports so far.
func (e *Engine) Seen() []dhcpserver.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]dhcpserver.Client(nil), e.seen...)
}

// Releases returns the OnRelease reports so far.
func (e *Engine) Releases() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.releases...)
}

// Declines returns the OnDecline reports so far.
func (e *Engine) Declines() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.declines...)
}
