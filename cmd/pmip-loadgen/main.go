// Command pmip-loadgen drives an LMA with Proxy Binding Updates from one
// or more MAG addresses over the real raw Mobility Header socket, and
// measures PBU-to-PBA throughput and latency (issue 3, "Benchmark";
// scripts/bench-lma.sh runs it). It also measures the socket path's own
// limit: in echo mode it sends the same PBUs to a trivial echo server
// (pmip-loadgen -mode echo-server) that returns every message untouched.
//
//	pmip-loadgen -mag A1,A2 ──raw IPv6 proto 135──► pmip-lma -lma L
//	             (one socket per MAG address)      (or -mode echo-server)
//
// Modes:
//
//	register      new mobile nodes [start, start+n), sequence 1
//	refresh       re-registrations of mobile nodes [start, start+n), cycling,
//	              for -duration (RFC 5213 5.3.3, Handoff Indicator 5)
//	echo          refresh's messages to an echo server
//	echo-server   answer every message with itself (run it as the "LMA")
//
// Load is closed-loop with -window PBUs in flight, or open-loop at -rate
// PBUs a second (then -window only bounds what is outstanding). Mobile
// node i is "mn<i>@<realm>" and registers through MAG address i mod the
// number of MAG addresses, so separate runs agree on who is where.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/openpmip/pmip/internal/transport"
)

type config struct {
	mode       string
	lma        netip.Addr
	mags       []netip.Addr
	realm      string
	start, n   int
	duration   time.Duration
	window     int
	rate       int
	timeout    time.Duration
	header     bool
	label      string
	timestamps bool
	perSec     bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pmip-loadgen: %v\n", err)
		return 2
	}
	if c.mode == "echo-server" {
		if err := echoServer(c.lma, stderr); err != nil {
			fmt.Fprintf(stderr, "pmip-loadgen: %v\n", err)
			return 1
		}
		return 0
	}
	res, err := drive(c)
	if err != nil {
		fmt.Fprintf(stderr, "pmip-loadgen: %v\n", err)
		return 1
	}
	if c.header {
		fmt.Fprintln(stdout, header)
	}
	fmt.Fprintln(stdout, res.line(c))
	for _, r := range res.perSec {
		fmt.Fprintf(stderr, "pmip-loadgen: %s: %s\n", c.label, r)
	}
	if res.rejected > 0 {
		fmt.Fprintf(stderr, "pmip-loadgen: %d of %d answers were rejections\n", res.rejected, res.answered)
	}
	if res.answered == 0 {
		fmt.Fprintln(stderr, "pmip-loadgen: nothing answered")
		return 1
	}
	return 0
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	var lma, mags string
	fs := flag.NewFlagSet("pmip-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.mode, "mode", "refresh", "register, refresh, echo or echo-server")
	fs.StringVar(&lma, "lma", "", "the LMA's (or echo server's) IPv6 address")
	fs.StringVar(&mags, "mag", "", "comma-separated MAG addresses to send from (configured on this host and authorized by the LMA)")
	fs.StringVar(&c.realm, "realm", "bench.example.net", "realm of the mobile nodes' NAIs")
	fs.IntVar(&c.start, "start", 0, "first mobile node index")
	fs.IntVar(&c.n, "n", 100000, "mobile nodes")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long refresh and echo run")
	fs.IntVar(&c.window, "window", 128, "PBUs in flight (closed loop), or the most outstanding (with -rate)")
	fs.IntVar(&c.rate, "rate", 0, "PBUs a second, open loop (0: closed loop)")
	fs.DurationVar(&c.timeout, "timeout", time.Second, "a PBU unanswered this long is counted lost")
	fs.BoolVar(&c.timestamps, "timestamps", true, "send Timestamp options (the LMA's timestamps option must match)")
	fs.BoolVar(&c.header, "header", false, "print the column header first")
	fs.BoolVar(&c.perSec, "persec", false, "also print each second's p50, p99 and max to stderr (by the second a PBU was sent in)")
	fs.StringVar(&c.label, "label", "", "first column of the output line (default: the mode)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch c.mode {
	case "register", "refresh", "echo", "echo-server":
	default:
		return c, fmt.Errorf("-mode %q: want register, refresh, echo or echo-server", c.mode)
	}
	a, err := netip.ParseAddr(lma)
	if err != nil || !a.Is6() {
		return c, fmt.Errorf("-lma %q: want an IPv6 address", lma)
	}
	c.lma = a
	if c.mode == "echo-server" {
		return c, nil
	}
	for _, s := range strings.Split(mags, ",") {
		m, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !m.Is6() {
			return c, fmt.Errorf("-mag %q: want IPv6 addresses separated by commas", mags)
		}
		c.mags = append(c.mags, m)
	}
	if c.n <= 0 || c.start < 0 || c.window <= 0 || c.rate < 0 {
		return c, errors.New("-n and -window must be positive, -start and -rate not negative")
	}
	if c.label == "" {
		c.label = c.mode
	}
	return c, nil
}

// echoServer returns every message to its sender, in batches: the
// fastest anything can answer over this socket path.
func echoServer(addr netip.Addr, stderr io.Writer) error {
	conn, err := transport.ListenRaw(addr, transport.Options{BatchSize: 256, ReadBuffer: 4 << 20, WriteBuffer: 4 << 20})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pmip-loadgen: echoing on %s\n", addr)
	return echo(conn, stderr)
}

// echo answers on conn until it is closed.
func echo(conn transport.Conn, stderr io.Writer) error {
	msgs := make([]transport.Message, conn.BatchSize())
	for i := range msgs {
		msgs[i].Buf = make([]byte, transport.MaxMessageLen)
	}
	out := make([]transport.Message, 0, len(msgs))
	for {
		k, err := conn.ReadBatch(msgs)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		out = out[:0]
		for _, m := range msgs[:k] {
			if !m.Truncated {
				out = append(out, m)
			}
		}
		if _, err := conn.WriteBatch(out); err != nil {
			fmt.Fprintf(stderr, "pmip-loadgen: echo: %v\n", err)
		}
	}
}
