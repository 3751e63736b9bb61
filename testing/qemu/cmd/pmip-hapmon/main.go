// Command pmip-hapmon is the roaming study's probe of how fast a station
// event can reach a MAG (testing/qemu/scenarios TestRoamMethods,
// docs/handover.md). It is a prototype of the hook path the MAG could use
// instead of one process per event:
//
//	hostapd ──ctrl socket (ATTACH)──► pmip-hapmon monitor   (no process per event)
//	hostapd ──ctrl socket──► hostapd_cli -a SCRIPT ──fork+exec──► pmip-hapmon stamp
//	                                                 (today's hook chain, minus its
//	                                                  hostapd_cli sta query)
//
// Both print one JSON object per event with the guest's wall clock in Unix
// nanoseconds, the clock of hostapd's -t log, so the study can tell how
// long each path took from hostapd's own log line.
//
//	pmip-hapmon monitor -ctrl DIR IFNAME...   attach to each BSS, print its events
//	pmip-hapmon stamp ARGS...                 print ARGS with the time (an action script)
//	pmip-hapmon forward -ctrl DIR -socket S IFNAME...
//	                                          attach, and forward AP-STA-CONNECTED (with the
//	                                          802.1X identity from STA MAC on the same socket)
//	                                          and AP-STA-DISCONNECTED to the MAG's hook socket,
//	                                          as the hostapd_cli -a hook does, without processes
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openpmip/pmip/mag/hostapd"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "monitor":
		err = monitor(os.Args[2:])
	case "stamp":
		err = stamp(os.Args[2:])
	case "forward":
		err = forward(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pmip-hapmon:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: pmip-hapmon monitor -ctrl DIR IFNAME... | stamp ARGS... | forward -ctrl DIR -socket S IFNAME...")
	os.Exit(2)
}

// record is one line of output.
type record struct {
	T      int64  `json:"t_ns"`
	Source string `json:"source"`
	Iface  string `json:"iface,omitempty"`
	Event  string `json:"event"`
	// Handoff is the Handoff Indicator the rule of mag/hostapd
	// (HandoffHints, docs/handover.md 5.3) gives an AP-STA-CONNECTED: 3
	// (fast reassociation) or 4.
	Handoff int `json:"handoff,omitempty"`
}

var outMu sync.Mutex

func emit(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func stamp(args []string) error {
	now := time.Now().UnixNano()
	if len(args) < 2 {
		return errors.New("stamp: want IFNAME EVENT [ARGS]")
	}
	emit(record{T: now, Source: "action", Iface: args[0], Event: strings.Join(args[1:], " ")})
	return nil
}

// ctrlMax is hostapd's control interface buffer (4096 octets).
const ctrlMax = 4096

func monitor(args []string) error {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	dir := fs.String("ctrl", "/var/run/hostapd", "hostapd control interface `directory`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return attachAll(fs, *dir, func(string, string, bool) {})
}

// forward is the hook path the study proposes for pmip-mag (its
// mag/hostapd package would own it): station events straight from
// hostapd's control socket to the MAG's hook socket, in the MAG's own
// event format (mag/hostapd.Event, Source action so the MAG treats them as
// the action hook's).
func forward(args []string) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	dir := fs.String("ctrl", "/var/run/hostapd", "hostapd control interface `directory`")
	sock := fs.String("socket", "", "the MAG's hook `socket` (mag hostapd_socket)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sock == "" {
		return errors.New("forward: -socket is required")
	}
	return attachAll(fs, *dir, func(ifname, ev string, fast bool) {
		name, rest, _ := strings.Cut(ev, " ")
		var kind hostapd.Kind
		switch name {
		case "AP-STA-CONNECTED":
			kind = hostapd.Connected
		case "AP-STA-DISCONNECTED":
			kind = hostapd.Disconnected
		default:
			return
		}
		macText, _, _ := strings.Cut(rest, " ")
		mac, err := net.ParseMAC(macText)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pmip-hapmon: %s: %q: %v\n", ifname, ev, err)
			return
		}
		// The handoff hint travels too (wire key fast_reassoc), so a MAG
		// fed by forward registers a fast reassociation with HI 3 as
		// its own monitor would.
		e := hostapd.Event{Kind: kind, Interface: ifname, MAC: mac, Source: hostapd.SourceAction,
			FastReassoc: kind == hostapd.Connected && fast}
		if kind == hostapd.Connected {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := hostapd.QueryStation(ctx, *dir, ifname, mac)
			cancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "pmip-hapmon: %s: identity of %v: %v\n", ifname, mac, err)
			}
			e.Identity = st.Identity
		}
		if err := e.Validate(); err != nil {
			fmt.Fprintf(os.Stderr, "pmip-hapmon: %s: %v\n", ifname, err)
			return
		}
		if err := hostapd.Send(*sock, e); err != nil {
			fmt.Fprintf(os.Stderr, "pmip-hapmon: %v\n", err)
			return
		}
		emit(record{T: time.Now().UnixNano(), Source: "forwarded", Iface: ifname, Event: e.String()})
	})
}

// attachAll attaches to every interface named in fs's arguments and calls
// on (after printing it) for each event, with the handoff rule's answer
// for an AP-STA-CONNECTED, until SIGTERM.
func attachAll(fs *flag.FlagSet, dir string, on func(ifname, event string, fast bool)) error {
	if fs.NArg() == 0 {
		return errors.New("monitor: name at least one interface")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, fs.NArg())
	for _, ifname := range fs.Args() {
		if strings.ContainsAny(ifname, "/\x00") || ifname == "" || len(ifname) > 15 {
			return fmt.Errorf("monitor: bad interface name %q", ifname)
		}
		go func() { errc <- attach(ctx, filepath.Join(dir, ifname), ifname, on) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// attach registers with one BSS's control socket (ATTACH, as hostapd_cli
// does) and prints every unsolicited event it sends ("<level>TEXT").
func attach(ctx context.Context, path, ifname string, on func(ifname, event string, fast bool)) error {
	local := &net.UnixAddr{Name: fmt.Sprintf("@pmip-hapmon-%d-%s", os.Getpid(), ifname), Net: "unixgram"}
	var c *net.UnixConn
	var err error
	// hostapd may still be starting: its socket appears when it is up.
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err = net.DialUnix("unixgram", local, &net.UnixAddr{Name: path, Net: "unixgram"})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("monitor: %s: %w", path, err)
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	if _, err := c.Write([]byte("ATTACH")); err != nil {
		return fmt.Errorf("monitor: ATTACH %s: %w", path, err)
	}
	buf := make([]byte, ctrlMax)
	attached := false
	var hints hostapd.HandoffHints
	for {
		n, err := c.Read(buf)
		now := time.Now().UnixNano()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("monitor: %s: %w", path, err)
		}
		msg := strings.TrimSpace(string(buf[:n]))
		switch {
		case !attached && msg == "OK":
			attached = true
			emit(record{T: now, Source: "monitor", Iface: ifname, Event: "ATTACHED"})
		case !attached && msg == "FAIL":
			return fmt.Errorf("monitor: %s refused ATTACH", path)
		case len(msg) > 3 && msg[0] == '<' && msg[2] == '>':
			// An event: "<3>AP-STA-CONNECTED 02:00:00:00:02:00".
			hi, fast := 0, false
			if ev, err := hostapd.ParseCtrlEvent([]byte(msg)); err == nil {
				var connected bool
				if connected, fast = hints.Observe(ev); connected {
					hi = 4
					if fast {
						hi = 3
					}
				}
			}
			emit(record{T: now, Source: "monitor", Iface: ifname, Event: msg[3:], Handoff: hi})
			on(ifname, msg[3:], fast)
		}
	}
}
