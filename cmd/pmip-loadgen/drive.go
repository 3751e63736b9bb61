package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
)

// result is one run's figures.
type result struct {
	sent, answered, accepted, rejected, lost int64
	elapsed                                  time.Duration
	lat                                      []time.Duration // sorted
}

const header = "run            PBUs     answered  rate/s    p50       p99       p99.9     max       lost  rejected"

func (r *result) line(c config) string {
	pct := func(q float64) string {
		if len(r.lat) == 0 {
			return "-"
		}
		return fmtDur(r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))])
	}
	rate := float64(r.answered) / r.elapsed.Seconds()
	maxLat := "-"
	if len(r.lat) > 0 {
		maxLat = fmtDur(r.lat[len(r.lat)-1])
	}
	return fmt.Sprintf("%-14s %-8d %-9d %-9.0f %-9s %-9s %-9s %-9s %-5d %d",
		c.label, r.sent, r.answered, rate, pct(0.50), pct(0.99), pct(0.999), maxLat, r.lost, r.rejected)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
}

// driver holds one run's sockets and in-flight bookkeeping.
type driver struct {
	c     config
	conns []*transport.RawConn
	// sentAt[i-start] is when mobile node i's PBU in flight left (unix
	// ns), 0 when none is.
	sentAt []atomic.Int64
	// seq[i-start] is mobile node i's last Sequence Number.
	seq    []uint16
	tokens chan struct{}
	t0     time.Time

	mu       sync.Mutex
	lat      []time.Duration
	answered atomic.Int64
	accepted atomic.Int64
	rejected atomic.Int64
	lost     atomic.Int64
}

func drive(c config) (*result, error) {
	d := &driver{c: c, sentAt: make([]atomic.Int64, c.n), seq: make([]uint16, c.n), tokens: make(chan struct{}, c.window)}
	for range c.window {
		d.tokens <- struct{}{}
	}
	for i := range d.seq {
		// Sequence numbers only order PBUs when timestamps are off
		// (RFC 5213 5.5); with them (the default) any will do.
		d.seq[i] = 1
	}
	for _, m := range c.mags {
		conn, err := transport.ListenRaw(m, transport.Options{BatchSize: 64, ReadBuffer: 4 << 20, WriteBuffer: 4 << 20})
		if err != nil {
			return nil, fmt.Errorf("MAG socket on %s: %w", m, err)
		}
		defer conn.Close()
		d.conns = append(d.conns, conn)
	}
	var rwg sync.WaitGroup
	for _, conn := range d.conns {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			d.receive(conn)
		}()
	}
	stopReap := make(chan struct{})
	reapDone := make(chan struct{})
	go func() {
		defer close(reapDone)
		d.reap(stopReap)
	}()

	d.t0 = time.Now()
	sent, err := d.send()
	// Wait for the stragglers, then stop.
	deadline := time.Now().Add(c.timeout + 100*time.Millisecond)
	for d.answered.Load()+d.lost.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(d.t0)
	close(stopReap)
	<-reapDone
	for _, conn := range d.conns {
		conn.Close()
	}
	rwg.Wait()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	slices.Sort(d.lat)
	lost := sent - d.answered.Load()
	return &result{sent: sent, answered: d.answered.Load(), accepted: d.accepted.Load(), rejected: d.rejected.Load(),
		lost: lost, elapsed: elapsed, lat: d.lat}, nil
}

// send emits PBUs until the run is over and returns how many.
func (d *driver) send() (int64, error) {
	c := d.c
	total := int64(c.n)
	if c.mode != "register" {
		total = -1 // until the duration ends
	}
	end := d.t0.Add(c.duration)
	batches := make([][]transport.Message, len(d.conns))
	var sent int64
	var interval time.Duration
	if c.rate > 0 {
		interval = time.Second / time.Duration(c.rate)
	}
	next := d.t0
	flush := func() error {
		for i, b := range batches {
			if len(b) == 0 {
				continue
			}
			if _, err := d.conns[i].WriteBatch(b); err != nil {
				return err
			}
			batches[i] = b[:0]
		}
		return nil
	}
	for i := int64(0); total < 0 || i < total; i++ {
		if total < 0 && i%64 == 0 && time.Now().After(end) {
			break
		}
		if interval > 0 {
			next = next.Add(interval)
			if w := time.Until(next); w > 200*time.Microsecond {
				if err := flush(); err != nil {
					return sent, err
				}
				time.Sleep(w)
			}
		}
		select {
		case <-d.tokens:
		default:
			if err := flush(); err != nil {
				return sent, err
			}
			<-d.tokens
		}
		idx := int(i % int64(c.n))
		mn := c.start + idx
		data, err := d.pbu(idx)
		if err != nil {
			return sent, err
		}
		k := mn % len(d.conns)
		d.sentAt[idx].Store(time.Now().UnixNano())
		batches[k] = append(batches[k], transport.Message{Buf: data, N: len(data), Addr: netip.AddrPortFrom(c.lma, 0)})
		sent++
		if len(batches[k]) >= 64 {
			if err := flush(); err != nil {
				return sent, err
			}
		}
	}
	return sent, flush()
}

// pbu marshals mobile node start+idx's next PBU: a new registration
// (RFC 5213 6.9.1.1: Handoff Indicator 1, ALL_ZERO prefix asks the LMA
// to assign) or a re-registration (Handoff Indicator 5, RFC 5213
// 5.4.1.1 finds the session by identifier and access technology).
func (d *driver) pbu(idx int) ([]byte, error) {
	hi := mh.HandoffNewInterface
	if d.c.mode != "register" {
		d.seq[idx]++
		hi = mh.HandoffStateNotChanged
	}
	opts := []mh.Option{
		mh.NewNAI("mn" + strconv.Itoa(d.c.start+idx) + "@" + d.c.realm),
		&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
		&mh.HandoffIndicatorOption{HI: hi},
		&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
	}
	if d.c.timestamps {
		// RFC 5213 5.5, 8.8: the MAG's time of sending.
		opts = append(opts, mh.TimestampFromTime(time.Now()))
	}
	return mh.Marshal(&mh.ProxyBindingUpdate{Sequence: d.seq[idx], Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: 4 * time.Hour, Options: opts})
}

// receive reads answers: PBAs from an LMA, or our own PBUs from the echo
// server, and matches them to what is in flight by identifier.
func (d *driver) receive(conn *transport.RawConn) {
	msgs := make([]transport.Message, conn.BatchSize())
	for i := range msgs {
		msgs[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	var lat []time.Duration
	for {
		k, err := conn.ReadBatch(msgs)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Printf("pmip-loadgen: read: %v\n", err)
			}
			return
		}
		now := time.Now().UnixNano()
		lat = lat[:0]
		for _, m := range msgs[:k] {
			msg, err := mh.Parse(m.Buf[:m.N])
			if err != nil {
				continue
			}
			var opts []mh.Option
			accepted := true
			switch x := msg.(type) {
			case *mh.ProxyBindingAck:
				opts, accepted = x.Options, x.Status.Accepted()
			case *mh.ProxyBindingUpdate:
				opts = x.Options // echoed
			default:
				continue // heartbeats
			}
			id, ok := mh.FirstOption[*mh.MobileNodeIdentifier](opts)
			if !ok {
				continue
			}
			idx, ok := d.index(string(id.Identifier))
			if !ok {
				continue
			}
			t := d.sentAt[idx].Swap(0)
			if t == 0 {
				continue // already counted lost, or a duplicate
			}
			lat = append(lat, time.Duration(now-t))
			d.answered.Add(1)
			if accepted {
				d.accepted.Add(1)
			} else {
				d.rejected.Add(1)
			}
			d.tokens <- struct{}{}
		}
		d.mu.Lock()
		d.lat = append(d.lat, lat...)
		d.mu.Unlock()
	}
}

func (d *driver) index(nai string) (int, bool) {
	s, ok := strings.CutPrefix(nai, "mn")
	if !ok {
		return 0, false
	}
	s, _, ok = strings.Cut(s, "@")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < d.c.start || i >= d.c.start+d.c.n {
		return 0, false
	}
	return i - d.c.start, true
}

// reap counts as lost what stays unanswered past the timeout and returns
// its window token.
func (d *driver) reap(stop <-chan struct{}) {
	tick := time.NewTicker(d.c.timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		cut := time.Now().Add(-d.c.timeout).UnixNano()
		for i := range d.sentAt {
			if t := d.sentAt[i].Load(); t != 0 && t < cut && d.sentAt[i].CompareAndSwap(t, 0) {
				d.lost.Add(1)
				d.tokens <- struct{}{}
			}
		}
	}
}
