// Package transporttest is an in-memory signalling network for engine unit
// tests: endpoints implementing transport.Conn exchange messages through a
// Network without sockets or root, in the manner of wireguard-go's
// conn/bindtest.
//
//	mag := net.Listen(mag6)  ──WriteTo(lma6)──►  Network  ──►  lma.ReadFrom
//	                                  │
//	                       filter (drop/inspect), log of every packet
//
// Addresses work as on the real carriers: an endpoint listening on port 0
// behaves like the raw IPv6 carrier (it receives whatever is sent to its
// address, whatever the port, and its packets carry port 0); one listening
// on a non-zero port behaves like UDP. Messages are copied on send, never
// reordered, and never lost unless a filter drops them or the destination
// does not exist (then they are logged as undelivered, as a real network
// would silently lose them).
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/openpmip/pmip/internal/transport"
)

// Packet is one message written to the network.
type Packet struct {
	From, To  netip.AddrPort
	Data      []byte
	Delivered bool // false when dropped by the filter or unaddressable
}

// Network is an in-memory switch between endpoints. The zero value is not
// usable; call NewNetwork.
type Network struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled on every send, for WaitSent
	ends    map[netip.AddrPort]*Conn
	filter  func(Packet) bool
	packets []Packet
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	n := &Network{ends: make(map[netip.AddrPort]*Conn)}
	n.cond = sync.NewCond(&n.mu)
	return n
}

// Listen attaches an endpoint at addr. Port 0 makes it raw-carrier-like.
// It fails if addr is invalid or taken.
func (n *Network) Listen(addr netip.AddrPort) (*Conn, error) {
	if !addr.Addr().IsValid() {
		return nil, errors.New("transporttest: listen on an invalid address")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.ends[addr]; ok {
		return nil, fmt.Errorf("transporttest: %v already in use", addr)
	}
	c := &Conn{net: n, local: addr}
	c.cond = sync.NewCond(&c.mu)
	n.ends[addr] = c
	return c, nil
}

// MustListen is Listen that panics on error, for test set-up.
func (n *Network) MustListen(addr string) *Conn {
	c, err := n.Listen(netip.MustParseAddrPort(addr))
	if err != nil {
		panic(err)
	}
	return c
}

// Pipe returns two endpoints on a fresh network, a at addrA and b at addrB.
func Pipe(addrA, addrB string) (a, b *Conn) {
	n := NewNetwork()
	return n.MustListen(addrA), n.MustListen(addrB)
}

// SetFilter installs f, called for every packet sent; returning false
// drops the packet (loss, or a test that intercepts it). nil removes it.
func (n *Network) SetFilter(f func(Packet) bool) {
	n.mu.Lock()
	n.filter = f
	n.mu.Unlock()
}

// Packets returns a copy of the log of every packet sent, delivered or not.
func (n *Network) Packets() []Packet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.packets)
}

// WaitSent blocks until at least count packets have been sent in total,
// or ctx ends, and returns the log.
func (n *Network) WaitSent(ctx context.Context, count int) ([]Packet, error) {
	stop := context.AfterFunc(ctx, func() {
		n.mu.Lock()
		n.cond.Broadcast()
		n.mu.Unlock()
	})
	defer stop()
	n.mu.Lock()
	defer n.mu.Unlock()
	for len(n.packets) < count {
		if err := ctx.Err(); err != nil {
			return slices.Clone(n.packets), fmt.Errorf("transporttest: %d of %d packets sent: %w", len(n.packets), count, err)
		}
		n.cond.Wait()
	}
	return slices.Clone(n.packets), nil
}

func (n *Network) send(from, to netip.AddrPort, b []byte) {
	p := Packet{From: from, To: to, Data: slices.Clone(b)}
	n.mu.Lock()
	dst := n.ends[to]
	if dst == nil {
		// Raw-carrier-like endpoints receive whatever port is addressed.
		dst = n.ends[netip.AddrPortFrom(to.Addr(), 0)]
	}
	if dst != nil && (n.filter == nil || n.filter(p)) {
		p.Delivered = true
	}
	n.packets = append(n.packets, p)
	n.cond.Broadcast()
	n.mu.Unlock()
	if p.Delivered {
		dst.deliver(p)
	}
}

func (n *Network) remove(c *Conn) {
	n.mu.Lock()
	if n.ends[c.local] == c {
		delete(n.ends, c.local)
	}
	n.mu.Unlock()
}

// Conn is an endpoint of a Network. It implements transport.Conn.
type Conn struct {
	net   *Network
	local netip.AddrPort

	mu     sync.Mutex
	cond   *sync.Cond // signalled when queue grows or closed is set
	queue  []Packet
	closed bool
}

var _ transport.Conn = (*Conn)(nil)

func (c *Conn) deliver(p Packet) {
	c.mu.Lock()
	if !c.closed {
		c.queue = append(c.queue, p)
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// next blocks for the next packet.
func (c *Conn) next() (Packet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) == 0 && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		return Packet{}, fmt.Errorf("transporttest: read: %w", net.ErrClosed)
	}
	p := c.queue[0]
	c.queue[0] = Packet{}
	c.queue = c.queue[1:]
	return p, nil
}

// Pending reports how many messages wait to be read.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// ReadFrom implements transport.Conn.
func (c *Conn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	p, err := c.next()
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	n := copy(b, p.Data)
	if n < len(p.Data) {
		return n, p.From, fmt.Errorf("transporttest: read from %v: %w", p.From, transport.ErrTruncated)
	}
	return n, p.From, nil
}

// WriteTo implements transport.Conn.
func (c *Conn) WriteTo(b []byte, to netip.AddrPort) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if len(b) > transport.MaxMessageLen {
		return fmt.Errorf("transporttest: send %d bytes: %w", len(b), transport.ErrMessageTooLong)
	}
	if !to.Addr().IsValid() {
		return errors.New("transporttest: send to an invalid address")
	}
	if c.local.Port() == 0 {
		to = netip.AddrPortFrom(to.Addr(), 0) // the raw carrier has no ports
	}
	c.net.send(c.local, to, b)
	return nil
}

// ReadBatch implements transport.Conn: it blocks for one message, then
// takes whatever else is queued, up to len(msgs) and BatchSize.
func (c *Conn) ReadBatch(msgs []transport.Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if len(msgs) > c.BatchSize() {
		msgs = msgs[:c.BatchSize()]
	}
	p, err := c.next()
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		m := &msgs[n]
		m.N = copy(m.Buf, p.Data)
		m.Truncated = m.N < len(p.Data)
		m.Addr = p.From
		n++
		if n == len(msgs) {
			return n, nil
		}
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.mu.Unlock()
			return n, nil
		}
		p = c.queue[0]
		c.queue[0] = Packet{}
		c.queue = c.queue[1:]
		c.mu.Unlock()
	}
}

// WriteBatch implements transport.Conn.
func (c *Conn) WriteBatch(msgs []transport.Message) (int, error) {
	for i, m := range msgs {
		if m.N < 0 || m.N > len(m.Buf) {
			return i, fmt.Errorf("transporttest: batch entry %d: %w", i, transport.ErrMessageTooLong)
		}
		if err := c.WriteTo(m.Buf[:m.N], m.Addr); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

// BatchSize implements transport.Conn.
func (c *Conn) BatchSize() int { return transport.DefaultBatchSize }

// LocalAddr implements transport.Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Close implements transport.Conn: pending and later reads fail with
// net.ErrClosed, and the address is free again.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	c.net.remove(c)
	return nil
}

func (c *Conn) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("transporttest: write: %w", net.ErrClosed)
	}
	return nil
}
