package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/transport"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"-lma", "2001:db8::1", "-mag", "2001:db8::2,2001:db8::3"}, ""},
		{[]string{"-mode", "echo-server", "-lma", "2001:db8::1"}, ""},
		{[]string{"-lma", "10.0.0.1", "-mag", "2001:db8::2"}, "-lma"},
		{[]string{"-lma", "2001:db8::1", "-mag", "2001:db8::2,x"}, "-mag"},
		{[]string{"-mode", "flood", "-lma", "2001:db8::1"}, "-mode"},
		{[]string{"-lma", "2001:db8::1", "-mag", "2001:db8::2", "-window", "0"}, "positive"},
	}
	for _, tt := range tests {
		_, err := parse(tt.args, io.Discard)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.err)
		}
	}
}

// TestEchoRun drives the echo server over the real raw socket and checks
// the figures add up: every PBU answered, latencies measured, none lost.
//
//	[ns] pmip-loadgen driver 2001:db8:e::2 ──raw MH on lo── echo 2001:db8:e::1
func TestEchoRun(t *testing.T) {
	ns := nstest.New(t, "loadgen")
	ns.Run(t, "ip", "addr", "add", "2001:db8:e::1/128", "dev", "lo", "nodad")
	ns.Run(t, "ip", "addr", "add", "2001:db8:e::2/128", "dev", "lo", "nodad")
	// The kernel installs an address's local route from a workqueue
	// after `ip addr add` returns: a message exchanged before that is
	// lost (seen here as the first run's fourth window, never answered).
	for _, a := range []string{"2001:db8:e::1", "2001:db8:e::2"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := ns.Output("ip", "-6", "route", "get", a)
			if err == nil && strings.Contains(string(out), "local") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no local route to %s: %v\n%s", a, err, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var srv *transport.RawConn
	if err := ns.Do(func() (err error) {
		srv, err = transport.ListenRaw(netip.MustParseAddr("2001:db8:e::1"), transport.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go echo(srv, io.Discard)
	defer srv.Close()
	echoWorks(t, ns, netip.MustParseAddr("2001:db8:e::2"), srv.LocalAddr().Addr())
	// A PBU counts as lost after timeout: 10 s, so that only a real loss
	// fails the test, not a host too loaded to answer within a second.
	c := config{mode: "echo", lma: netip.MustParseAddr("2001:db8:e::1"), mags: []netip.Addr{netip.MustParseAddr("2001:db8:e::2")},
		realm: "example.net", n: 1000, duration: 300 * time.Millisecond, window: 16, timeout: 10 * time.Second, label: "echo", timestamps: true, perSec: true}
	var res *result
	if err := ns.Do(func() (err error) {
		res, err = drive(c)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if res.sent == 0 || res.answered != res.sent || res.lost != 0 || res.rejected != 0 || len(res.lat) != int(res.answered) || len(res.readLat) != len(res.lat) {
		t.Errorf("sent %d answered %d lost %d rejected %d latencies %d", res.sent, res.answered, res.lost, res.rejected, len(res.lat))
	}
	// Every answer is in one second's row (the run lasts 0.3 s, so
	// normally second 0 only, but a slow host may reach the next).
	n := 0
	for _, r := range res.perSec {
		n += r.n
	}
	if len(res.perSec) == 0 || n != len(res.lat) {
		t.Errorf("per-second rows %v hold %d answers of %d", res.perSec, n, len(res.lat))
	}
	var out bytes.Buffer
	out.WriteString(res.line(c))
	if f := strings.Fields(out.String()); len(f) != 11 || f[0] != "echo" {
		t.Errorf("line %q", out.String())
	}
}

// bySecond puts each latency in the row of the second it was sent in
// and reads each row's percentiles from its own latencies.
func TestBySecond(t *testing.T) {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	var lat []time.Duration
	var sec []int32
	// Second 0: 1..100 ms; second 2: 200 ms once; none in second 1.
	for v := 100; v >= 1; v-- {
		lat, sec = append(lat, ms(v)), append(sec, 0)
	}
	lat, sec = append(lat, ms(200)), append(sec, 2)
	rows := bySecond(lat, sec)
	want := []secRow{{sec: 0, n: 100, p50: ms(51), p99: ms(100), maxLat: ms(100)}, {sec: 2, n: 1, p50: ms(200), p99: ms(200), maxLat: ms(200)}}
	if len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}
	if s := rows[1].String(); !strings.Contains(s, "second   2") || !strings.Contains(s, "p99 200.00ms") {
		t.Errorf("row line %q", s)
	}
}

// echoWorks sends probes from mag to the echo server at lma until one
// comes back: in a namespace just made, a Mobility Header can vanish for
// a moment even after the local routes show (internal/transport's settle
// has the details). The probes' NAI is none of a run's, so a late echo
// reaching the driver's socket is ignored. The waits only bound a
// failure.
func echoWorks(t *testing.T, ns *nstest.NS, mag, lma netip.Addr) {
	t.Helper()
	var c *transport.RawConn
	if err := ns.Do(func() (err error) {
		c, err = transport.ListenRaw(mag, transport.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	probe, err := mh.Marshal(&mh.ProxyBindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: 4 * time.Second,
		Options: []mh.Option{mh.NewNAI("probe@settle.invalid")}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, transport.MaxMessageLen)
	start, wait := time.Now(), 100*time.Millisecond
	for time.Since(start) < 20*time.Second {
		if err := c.WriteTo(probe, netip.AddrPortFrom(lma, 0)); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		// The checksum (octets 4-5) is the kernel's.
		if n, from, err := c.ReadFrom(buf); err == nil && from.Addr() == lma && n == len(probe) &&
			bytes.Equal(buf[:4], probe[:4]) && bytes.Equal(buf[6:n], probe[6:]) {
			return
		} else if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
		wait = min(2*wait, 1500*time.Millisecond)
	}
	t.Fatalf("no probe from %v came back from the echo server at %v within 20 s", mag, lma)
}

// A PBU built from a template is byte for byte the PBU mh.Marshal makes,
// for indexes of every length, any sequence number and timestamp.
func TestTemplateMatchesMarshal(t *testing.T) {
	ts := time.Date(2026, 11, 22, 23, 30, 1, 123456789, time.UTC)
	for _, c := range []config{
		{mode: "refresh", realm: "bench.example.net", timestamps: true},
		{mode: "register", realm: "r.example", timestamps: false},
	} {
		var tm templates
		for _, mn := range []int{0, 7, 42, 999, 1000, 123456, 999999, 1000000, 4294967296} {
			for _, seq := range []uint16{0, 1, 0xa55a, 0xffff} {
				got, err := tm.build(nil, &c, mn, seq, ts)
				if err != nil {
					t.Fatal(err)
				}
				var stamp *mh.Timestamp
				if c.timestamps {
					stamp = mh.TimestampFromTime(ts)
				}
				want, err := mh.Marshal(pbuMessage(&c, "mn"+strconv.Itoa(mn)+"@"+c.realm, seq, stamp))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s mn %d seq %d:\ntemplate %x\nmarshal  %x", c.mode, mn, seq, got, want)
				}
			}
		}
	}
}

// The receiver finds a mobile node's index in its NAI without allocating
// and refuses what is not one of the run's.
func TestIndex(t *testing.T) {
	d := &driver{c: config{start: 100, n: 50}}
	for _, tt := range []struct {
		nai string
		idx int
		ok  bool
	}{
		{"mn100@x", 0, true}, {"mn149@bench.example.net", 49, true}, {"mn150@x", 0, false},
		{"mn99@x", 0, false}, {"mn@x", 0, false}, {"mn12x@x", 0, false}, {"xn120@x", 0, false},
		{"mn120", 0, false}, {"mn120@", 0, false}, {"mn99999999999999999999@x", 0, false},
	} {
		idx, ok := d.index([]byte(tt.nai))
		if ok != tt.ok || (ok && idx != tt.idx) {
			t.Errorf("index(%q) = %d, %v; want %d, %v", tt.nai, idx, ok, tt.idx, tt.ok)
		}
	}
	b := []byte("mn120@bench.example.net")
	if a := testing.AllocsPerRun(100, func() { d.index(b) }); a != 0 {
		t.Errorf("%v allocations per index", a)
	}
}
