// Command pmipctl shows and changes a running PMIPv6 daemon's state over
// its control socket (internal/ctl): the LMA's bindings, pools and MAGs,
// as tables or JSON, and revokes a mobile node's sessions. It speaks the
// same protocol to any daemon that serves it (-socket).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
)

const usage = `pmipctl: look at and steer a running pmip-lma (or any daemon serving the
pmip control protocol) through its control socket.

Usage:
  pmipctl [-socket PATH] [-json] [-timeout D] COMMAND [ARGS]

Commands:
  bindings [-mn ID] [-mag NAME] [-prefix P] [-limit N]
                      Binding Cache entries; -mn takes a NAI or a MAC address,
                      -prefix an IPv6 or IPv4 prefix or address (sessions with a
                      home prefix or IPv4 home address inside it)
  pools               address pools: size, used, free
  mags                authorized MAGs: addresses, heartbeat state, bindings
  counters            the daemon's counters and PBAs by status
  dataplane           the tunnels and routes the daemon holds in the kernel
  revoke ID           end every session of mobile node ID and tell its MAG
                      (RFC 5846 Binding Revocation, Administrative Reason)
  info                which daemon answers and what it offers
  hostapd             pmip-mag only: its hostapd control-socket monitor's
                      counters (BSSs attached, events, fast reassociations,
                      resyncs, DEAUTHENTICATE tx=0 sent)
  call METHOD [JSON]  any method, params as JSON, result printed as JSON

Global flags:
`

const defaultSocket = "/run/pmip-lma/control.sock"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type globals struct {
	socket  string
	json    bool
	timeout time.Duration
}

func run(args []string, stdout, stderr io.Writer) int {
	var g globals
	fs := flag.NewFlagSet("pmipctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.socket, "socket", defaultSocket, "the daemon's control socket (pmip-lma's control_socket)")
	fs.BoolVar(&g.json, "json", false, "print JSON instead of tables")
	fs.DurationVar(&g.timeout, "timeout", 30*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	err := dispatch(ctx, g, cmd, rest, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pmipctl: %v (see pmipctl -help)\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "pmipctl: %v\n", err)
		return 1
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func dispatch(ctx context.Context, g globals, cmd string, args []string, stdout, stderr io.Writer) error {
	var (
		method string
		params any
		render func(io.Writer, json.RawMessage) error
	)
	noArgs := func() error {
		if len(args) > 0 {
			return usagef("%s takes no arguments", cmd)
		}
		return nil
	}
	switch cmd {
	case "bindings":
		p, err := bindingsParams(args, stderr)
		if err != nil {
			return err
		}
		method, params, render = ctl.MethodBindings, p, renderBindings
	case "pools":
		method, render = ctl.MethodPools, renderPools
	case "mags":
		method, render = ctl.MethodMAGs, renderMAGs
	case "counters":
		method, render = ctl.MethodCounters, renderCounters
	case "dataplane":
		method, render = ctl.MethodDataplane, renderDataplane
	case "info":
		method, render = ctl.MethodInfo, renderInfo
	case "hostapd":
		// cmd/pmip-mag's control method "hostapd" (hostapd.MonitorStats).
		method, render = "hostapd", renderFlat
	case "revoke":
		if len(args) != 1 || args[0] == "" {
			return usagef("revoke takes one mobile node identifier")
		}
		method, params, render = ctl.MethodRevoke, ctl.RevokeParams{MobileNode: args[0]}, renderRevoke
		args = nil
	case "call":
		if len(args) < 1 || len(args) > 2 {
			return usagef("call takes a method and optional JSON params")
		}
		method = args[0]
		if len(args) == 2 {
			if !json.Valid([]byte(args[1])) {
				return usagef("params %q are not JSON", args[1])
			}
			params = json.RawMessage(args[1])
		}
		args = nil
		g.json = true
	default:
		return usagef("unknown command %q", cmd)
	}
	if cmd != "bindings" {
		if err := noArgs(); err != nil {
			return err
		}
	}
	c, err := ctl.Dial(ctx, g.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	var res json.RawMessage
	if err := c.Call(ctx, method, params, &res); err != nil {
		return err
	}
	if g.json {
		return printJSON(stdout, res)
	}
	return render(stdout, res)
}

func bindingsParams(args []string, stderr io.Writer) (ctl.BindingsParams, error) {
	var p ctl.BindingsParams
	var prefix string
	fs := flag.NewFlagSet("pmipctl bindings", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&p.MobileNode, "mn", "", "mobile node identifier (NAI or MAC address)")
	fs.StringVar(&p.MAG, "mag", "", "MAG name")
	fs.StringVar(&prefix, "prefix", "", "prefix or address")
	fs.IntVar(&p.Limit, "limit", 1000, "show at most this many (0: all; the cache may hold a million)")
	if err := fs.Parse(args); err != nil {
		return p, usagef("bindings: %v", err)
	}
	if fs.NArg() > 0 {
		return p, usagef("bindings: unexpected %q", fs.Arg(0))
	}
	if p.Limit < 0 {
		return p, usagef("bindings: -limit %d is negative", p.Limit)
	}
	if prefix != "" {
		pfx, err := parsePrefixOrAddr(prefix)
		if err != nil {
			return p, usagef("bindings: -prefix %q is neither a prefix nor an address", prefix)
		}
		p.Prefix = pfx
	}
	return p, nil
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// printJSON indents the daemon's result as it came (numbers keep their
// precision: GRE keys and ids are 32 and 64 bits).
func printJSON(w io.Writer, res json.RawMessage) error {
	if len(res) == 0 {
		res = json.RawMessage("null")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, res, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
