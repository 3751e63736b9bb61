package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
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
	// lat is from the PBU's hand-over to the kernel to the PBA's arrival
	// in the MAG socket (the kernel's receive timestamp); readLat to the
	// moment the load generator read it, which adds its own scheduling.
	lat, readLat []time.Duration // sorted
	// perSec (with -persec) has one row per second of sending, by the
	// second a PBU left in: where in a run the tail came from.
	perSec []secRow
}

// secRow is the latency of the PBUs sent in one second of a run.
type secRow struct {
	sec              int
	n                int
	p50, p99, maxLat time.Duration
	// lag (open loop) is how late the load generator itself was, at
	// worst, in building a PBU of this second: a lag of 20 ms means a
	// burst of 20 ms worth of PBUs, its own stall, not the LMA's.
	lag time.Duration
}

// bySecond groups lat by the second (since the run's start) of sent,
// its parallel slice, and returns each second's figures.
func bySecond(lat []time.Duration, sent []int32) []secRow {
	var groups [][]time.Duration
	for i, l := range lat {
		s := int(sent[i])
		for len(groups) <= s {
			groups = append(groups, nil)
		}
		groups[s] = append(groups[s], l)
	}
	rows := make([]secRow, 0, len(groups))
	for s, g := range groups {
		if len(g) == 0 {
			continue
		}
		slices.Sort(g)
		rows = append(rows, secRow{sec: s, n: len(g), p50: g[len(g)/2], p99: g[min(len(g)-1, int(0.99*float64(len(g))))], maxLat: g[len(g)-1]})
	}
	return rows
}

func (s secRow) String() string {
	return fmt.Sprintf("second %3d: %7d answered  p50 %-9s p99 %-9s max %-9s send lag %s", s.sec, s.n, fmtDur(s.p50), fmtDur(s.p99), fmtDur(s.maxLat), fmtDur(s.lag))
}

const header = "run                    PBUs     answered  rate/s    p50       p99       p99.9     max       lost  rejected  p99@read"

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
	readP99 := "-"
	if len(r.readLat) > 0 {
		readP99 = fmtDur(r.readLat[min(len(r.readLat)-1, int(0.99*float64(len(r.readLat))))])
	}
	return fmt.Sprintf("%-22s %-8d %-9d %-9.0f %-9s %-9s %-9s %-9s %-5d %-9d %s",
		c.label, r.sent, r.answered, rate, pct(0.50), pct(0.99), pct(0.999), maxLat, r.lost, r.rejected, readP99)
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
	tmpl   templates

	mu      sync.Mutex
	lat     []time.Duration // guarded by mu
	readLat []time.Duration // guarded by mu
	sentSec []int32         // guarded by mu: with -persec, lat's sending second
	// sendLag[s] (open loop, -persec) is the sender's worst lateness in
	// second s; written by the sender alone, read once it has returned.
	sendLag  []time.Duration
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
	expect := c.n
	if c.rate > 0 && c.mode != "register" {
		expect = min(int(int64(c.rate)*int64(c.duration)/int64(time.Second))+c.window, 1<<24)
	}
	d.lat = make([]time.Duration, 0, expect)
	d.readLat = make([]time.Duration, 0, expect)
	if c.perSec {
		d.sentSec = make([]int32, 0, expect)
	}
	for _, m := range c.mags {
		conn, err := transport.ListenRaw(m, transport.Options{BatchSize: 64, ReadBuffer: 4 << 20, WriteBuffer: 4 << 20, Timestamps: true})
		if err != nil {
			return nil, fmt.Errorf("MAG socket on %s: %w", m, err)
		}
		defer conn.Close()
		d.conns = append(d.conns, conn)
	}
	// The run's clock starts before the receivers, which read it.
	d.t0 = time.Now()
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
	var perSec []secRow
	if c.perSec {
		perSec = bySecond(d.lat, d.sentSec)
		for i := range perSec {
			if s := perSec[i].sec; s < len(d.sendLag) {
				perSec[i].lag = d.sendLag[s]
			}
		}
	}
	slices.Sort(d.lat)
	slices.Sort(d.readLat)
	lost := sent - d.answered.Load()
	return &result{sent: sent, answered: d.answered.Load(), accepted: d.accepted.Load(), rejected: d.rejected.Load(),
		lost: lost, elapsed: elapsed, lat: d.lat, readLat: d.readLat, perSec: perSec}, nil
}

// batchSize is how many PBUs go out per sendmmsg on one socket at most.
const batchSize = 64

// outBatch is what waits to be sent on one socket: messages in buffers
// of its own, reused after each send, and whose PBUs they are.
type outBatch struct {
	msgs []transport.Message
	idx  []int
}

// send emits PBUs until the run is over and returns how many.
//
// Open loop (-rate): every time it wakes it sends, in one burst per
// socket, every PBU due by then, so it keeps the rate even though the
// runtime's sleeps last a millisecond or so. A PBU's latency counts from
// just before the sendmmsg that carries it, not from when it was built.
func (d *driver) send() (int64, error) {
	c := d.c
	total := int64(c.n)
	if c.mode != "register" {
		total = -1 // until the duration ends
	}
	end := d.t0.Add(c.duration)
	batches := make([]outBatch, len(d.conns))
	for i := range batches {
		batches[i].msgs = make([]transport.Message, 0, batchSize)
		batches[i].idx = make([]int, 0, batchSize)
	}
	bufs := make([][]byte, len(d.conns)*batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 0, transport.MaxMessageLen)
	}
	var sent int64
	flush := func() error {
		for k := range batches {
			b := &batches[k]
			if len(b.msgs) == 0 {
				continue
			}
			now := time.Now().UnixNano()
			for _, idx := range b.idx {
				d.sentAt[idx].Store(now)
			}
			if _, err := d.conns[k].WriteBatch(b.msgs); err != nil {
				return err
			}
			b.msgs, b.idx = b.msgs[:0], b.idx[:0]
		}
		return nil
	}
	for i := int64(0); total < 0 || i < total; i++ {
		if total < 0 && i%64 == 0 && time.Now().After(end) {
			break
		}
		if c.rate > 0 {
			// PBU i is due at t0 + i/rate; sleep until it is, sending
			// what is built first.
			due := d.t0.Add(time.Duration(i * int64(time.Second) / int64(c.rate)))
			if w := time.Until(due); w > 0 {
				if err := flush(); err != nil {
					return sent, err
				}
				time.Sleep(w)
			}
			if c.perSec {
				d.noteLag(due)
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
		k := mn % len(d.conns)
		b := &batches[k]
		buf := bufs[k*batchSize+len(b.msgs)]
		data, err := d.pbu(buf[:0], idx)
		if err != nil {
			return sent, err
		}
		b.msgs = append(b.msgs, transport.Message{Buf: data, N: len(data), Addr: netip.AddrPortFrom(c.lma, 0)})
		b.idx = append(b.idx, idx)
		sent++
		if len(b.msgs) == batchSize {
			if err := flush(); err != nil {
				return sent, err
			}
		}
	}
	return sent, flush()
}

// noteLag records how late the sender is for a PBU due at due, by the
// second of the run it was due in.
func (d *driver) noteLag(due time.Time) {
	s := int(due.Sub(d.t0) / time.Second)
	for len(d.sendLag) <= s {
		d.sendLag = append(d.sendLag, 0)
	}
	d.sendLag[s] = max(d.sendLag[s], time.Since(due))
}

// pbu appends mobile node start+idx's next PBU to buf: a new
// registration (RFC 5213 6.9.1.1: Handoff Indicator 1, ALL_ZERO prefix
// asks the LMA to assign) or a re-registration (Handoff Indicator 5,
// RFC 5213 5.4.1.1 finds the session by identifier and access
// technology).
func (d *driver) pbu(buf []byte, idx int) ([]byte, error) {
	if d.c.mode != "register" {
		d.seq[idx]++
	}
	var ts time.Time
	if d.c.timestamps {
		// RFC 5213 5.5, 8.8: the MAG's time of sending.
		ts = time.Now()
	}
	return d.tmpl.build(buf, &d.c, d.c.start+idx, d.seq[idx], ts)
}

// receive reads answers: PBAs from an LMA, or our own PBUs from the echo
// server, and matches them to what is in flight by identifier. It
// allocates nothing per message (a reused mh.Decoder), so that the load
// generator's own garbage collection stays out of the figures.
func (d *driver) receive(conn *transport.RawConn) {
	msgs := make([]transport.Message, conn.BatchSize())
	for i := range msgs {
		msgs[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	var dec mh.Decoder
	lat := make([]time.Duration, 0, len(msgs))
	readLat := make([]time.Duration, 0, len(msgs))
	secs := make([]int32, 0, len(msgs))
	t0 := d.t0.UnixNano()
	for {
		k, err := conn.ReadBatch(msgs)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Printf("pmip-loadgen: read: %v\n", err)
			}
			return
		}
		now := time.Now().UnixNano()
		lat, readLat, secs = lat[:0], readLat[:0], secs[:0]
		for _, m := range msgs[:k] {
			msg, err := dec.Decode(m.Buf[:m.N])
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
			idx, ok := d.index(id.Identifier)
			if !ok {
				continue
			}
			t := d.sentAt[idx].Swap(0)
			if t == 0 {
				continue // already counted lost, or a duplicate
			}
			arrived := now
			if !m.Time.IsZero() {
				arrived = m.Time.UnixNano()
			}
			lat = append(lat, time.Duration(arrived-t))
			readLat = append(readLat, time.Duration(now-t))
			if d.c.perSec {
				secs = append(secs, int32(max(0, t-t0)/int64(time.Second)))
			}
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
		d.readLat = append(d.readLat, readLat...)
		d.sentSec = append(d.sentSec, secs...)
		d.mu.Unlock()
	}
}

// index returns the index of the mobile node "mn<i>@<realm>" within the
// run, without allocating.
func (d *driver) index(nai []byte) (int, bool) {
	if len(nai) < 4 || nai[0] != 'm' || nai[1] != 'n' {
		return 0, false
	}
	i, n := 0, 0
	for _, c := range nai[2:] {
		if c == '@' {
			break
		}
		if c < '0' || c > '9' || n >= 10 {
			return 0, false
		}
		i = i*10 + int(c-'0')
		n++
	}
	// Digits, then "@" and a realm.
	if n == 0 || len(nai) <= 3+n || nai[2+n] != '@' || i < d.c.start || i >= d.c.start+d.c.n {
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
