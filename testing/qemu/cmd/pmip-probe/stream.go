package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serve accepts TCP connections and sends each a paced stream until the
// peer goes away. Pacing keeps the stream far below what TCG can carry, so
// an inter-arrival gap at the receiver is the path's, not the CPU's.
//
// The kernel paces, not the process: the socket's SO_MAX_PACING_RATE is
// -chunk bytes per -interval (TCP's internal pacing, Linux 4.13+, needs
// no fq qdisc) and its send buffer small, and the process writes -write
// bytes at a time and sleeps in write(2) while the buffer drains. A
// process that woke every 5 ms per stream to write 1000 bytes took 13-48
// ms of the guest's CPU per 100 ms while the MAG under test waited for it
// (docs/handover.md 9.1); now it wakes about ten times a second. The
// kernel sends the paced stream in segments of about 2 MSS every ~14 ms
// at the default rate (200 kB/s), so an inter-arrival gap at the
// receiver keeps a resolution of about 15 ms (5 ms before).
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("l", "[::]:5001", "listen `address`")
	chunk := fs.Int("chunk", 1000, "bytes per -interval: with it, the pacing rate")
	interval := fs.Duration("interval", 5*time.Millisecond, "with -chunk, the pacing rate")
	write := fs.Int("write", 16<<10, "bytes per write (at least 16)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chunk < 1 || *chunk > 1<<20 {
		return fmt.Errorf("serve: -chunk %d out of 1..1048576", *chunk)
	}
	if *write < 16 || *write > 1<<20 {
		return fmt.Errorf("serve: -write %d out of 16..1048576", *write)
	}
	if *interval <= 0 {
		return fmt.Errorf("serve: -interval must be positive")
	}
	rate := float64(*chunk) / interval.Seconds()
	if rate < 1 || rate >= 1<<31 {
		return fmt.Errorf("serve: -chunk/-interval gives %.0f bytes/s, want 1..2^31", rate)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(map[string]any{"listening": ln.Addr().String(), "rate_bytes_per_s": int(rate)})
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		go func() {
			sent, err := pace(c.(*net.TCPConn), int(rate), *write)
			msg := map[string]any{"peer": c.RemoteAddr().String(), "sent": sent}
			if err != nil {
				msg["end"] = err.Error()
			}
			_ = enc.Encode(msg)
		}()
	}
}

// pacedSndbuf is the send buffer a paced stream asks for (the kernel
// doubles it): about 0.3 s of the default rate, so the process sleeps in
// write(2) instead of queueing seconds of data, and a paused path backs
// the stream up no more than the old 1000-byte writer's buffer did.
const pacedSndbuf = 32 << 10

// pace sends c a stream at rate bytes/s, paced by the kernel, in writes of
// size bytes, each starting with its sequence number and the time it was
// handed to the kernel.
func pace(c *net.TCPConn, rate, size int) (int64, error) {
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MAX_PACING_RATE, rate)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, pacedSndbuf)
		}
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("pacing: %w", serr)
	}
	buf := make([]byte, size)
	var sent int64
	for seq := uint64(0); ; seq++ {
		binary.BigEndian.PutUint64(buf, seq)
		binary.BigEndian.PutUint64(buf[8:], uint64(time.Now().UnixNano()))
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			return sent, err
		}
	}
}

// Gap is a pause in the received stream.
type Gap struct {
	// At is when data arrived again (Unix ns); the pause began Ms before.
	At int64   `json:"at_ns"`
	Ms float64 `json:"ms"`
	// BytesBefore is how much had arrived when the pause began.
	BytesBefore int64 `json:"bytes_before"`
}

// StreamReport is the last line `recv` prints.
type StreamReport struct {
	Connected int64   `json:"connected_ns"`
	End       int64   `json:"end_ns"`
	Bytes     int64   `json:"bytes"`
	MaxGap    Gap     `json:"max_gap"`
	Gaps      []Gap   `json:"gaps,omitempty"` // every pause over -gap
	Err       string  `json:"err,omitempty"`
	MeanMbps  float64 `json:"mean_mbps"`
}

// recv connects to a serve (retrying until the path is there), reads the
// stream and reports its progress and the pauses in it: the largest
// inter-arrival gap is a handover's interruption as the application saw
// it. It ends after -for, when -stop-file appears, or on SIGTERM/SIGINT,
// printing the report; a
// reset or an early end of the stream is an error (exit status 1).
func recv(args []string) error {
	fs := flag.NewFlagSet("recv", flag.ContinueOnError)
	addr := fs.String("c", "", "serve's `address`")
	dur := fs.Duration("for", 30*time.Second, "how long to receive")
	progress := fs.Duration("progress", 250*time.Millisecond, "progress line interval")
	gapMin := fs.Duration("gap", 50*time.Millisecond, "report every pause longer than this")
	connectTimeout := fs.Duration("connect-timeout", 20*time.Second, "how long to retry connecting")
	stopFile := fs.String("stop-file", "", "end (and report) once this `file` exists, checked at each progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("recv: -c is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()

	var c net.Conn
	var err error
	for deadline := time.Now().Add(*connectTimeout); ; {
		d := net.Dialer{Timeout: 2 * time.Second}
		if c, err = d.DialContext(ctx, "tcp", *addr); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("recv: connecting to %s: %w", *addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer c.Close()
	enc := json.NewEncoder(os.Stdout)
	rep := StreamReport{Connected: time.Now().UnixNano()}
	_ = enc.Encode(map[string]any{"connected": c.RemoteAddr().String(), "local": c.LocalAddr().String(), "t_ns": rep.Connected})

	type read struct {
		n   int
		at  int64
		err error
	}
	reads := make(chan read, 64)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			reads <- read{n, time.Now().UnixNano(), err}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(*progress)
	defer tick.Stop()
	last, maxGap := rep.Connected, int64(0)
	for {
		select {
		case r := <-reads:
			if r.n > 0 {
				if g := r.at - last; g > maxGap {
					maxGap = g
					rep.MaxGap = Gap{At: r.at, Ms: float64(g) / 1e6, BytesBefore: rep.Bytes}
				}
				if g := time.Duration(r.at - last); g > *gapMin {
					rep.Gaps = append(rep.Gaps, Gap{At: r.at, Ms: float64(g) / 1e6, BytesBefore: rep.Bytes})
				}
				rep.Bytes += int64(r.n)
				last = r.at
			}
			if r.err != nil {
				if r.err == io.EOF {
					rep.Err = "the sender ended the stream"
				} else {
					rep.Err = r.err.Error()
				}
				return finish(enc, &rep)
			}
		case now := <-tick.C:
			_ = enc.Encode(map[string]any{"t_ns": now.UnixNano(), "bytes": rep.Bytes})
			if *stopFile != "" {
				if _, err := os.Stat(*stopFile); err == nil {
					return finish(enc, &rep)
				}
			}
		case <-ctx.Done():
			return finish(enc, &rep)
		}
	}
}

func finish(enc *json.Encoder, rep *StreamReport) error {
	rep.End = time.Now().UnixNano()
	if d := rep.End - rep.Connected; d > 0 {
		rep.MeanMbps = float64(rep.Bytes*8) / (float64(d) / 1e9) / 1e6
	}
	_ = enc.Encode(rep)
	if rep.Err != "" {
		return fmt.Errorf("recv: %s after %d bytes", rep.Err, rep.Bytes)
	}
	return nil
}
