// Command pmip-mag is the Proxy Mobile IPv6 mobile access gateway (RFC
// 5213, RFC 5844) of an OpenWrt access point: it registers the clients
// that attach to the AP's access links with the LMA, serves them the
// addresses the LMA assigned (collocated DHCPv4 server, Router
// Advertisements) and tunnels their traffic to the LMA.
//
//	pmip-mag [-config /etc/config/pmip] [flags]   the daemon (procd runs it)
//	pmip-mag -check [-config FILE]                validate the configuration
//	pmip-mag hook action IF EVENT MAC             hostapd_cli -a action
//	pmip-mag hook ubus IF                         ubus subscriber (stdin)
//
// Wiring (run.go): configuration -> data plane (netlink) -> signalling
// transport (raw IPv6 MH, or UDP/IPv4 port 5436) -> engine -> per access
// link a DHCPv4 server, an RA sender and an attach sniffer -> hostapd
// listener. SIGHUP reloads (reload.go); SIGTERM deregisters every client
// and tears the data plane down (shutdown in run.go). The main is thin: the
// protocol lives in package mag and its subpackages.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openpmip/pmip/mag/hostapd"
)

const defaultConfig = "/etc/config/pmip"

// options are the daemon's command-line settings; everything about the
// PMIPv6 domain is in the configuration file.
type options struct {
	config          string
	check           bool
	logLevel        string // "" means the file's log_level
	logFormat       string
	counterFile     string
	control         string
	dataplane       string
	shutdownTimeout time.Duration
	hostapdCtrlDir  string // "" keeps the file's hostapd_ctrl_dir
}

// Values of -dataplane.
const (
	dataplaneNetlink  = "netlink"
	dataplaneNoTunnel = "no-tunnel"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main with its environment passed in, so tests drive it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "hook" {
		// Run by hostapd-hooks/: forward one hostapd event (action) or a
		// stream of ubus notifications to the daemon's socket.
		if err := hostapd.RunHook(args[1:], stdin, stdout); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintln(stderr, "pmip-mag hook:", err)
			return 1
		}
		return 0
	}
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if opts.check {
		return check(opts, stdout, stderr)
	}
	return daemon(opts, stdout, stderr)
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("pmip-mag", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.config, "config", defaultConfig, "configuration `file` (UCI syntax, docs/configuration.md)")
	fs.BoolVar(&o.check, "check", false, "validate the configuration, print what it sets up, and exit (1 if invalid)")
	fs.StringVar(&o.logLevel, "log-level", "", "log `level`: debug, info, warn or error (default: the file's log_level)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json (one record per line on stdout)")
	fs.StringVar(&o.counterFile, "restart-counter", defaultCounterFile,
		"`file` keeping the RFC 5847 restart counter across restarts (on flash, so it survives a reboot)")
	fs.StringVar(&o.control, "control", defaultControlSocket,
		"control `socket` for pmipctl (internal/ctl JSON protocol); empty: none")
	fs.StringVar(&o.dataplane, "dataplane", dataplaneNetlink,
		"data plane `mode`: netlink, or no-tunnel for kernels without ip6_tunnel/gre: everything but the tunnel and the routes through it (tests, bring-up)")
	fs.StringVar(&o.hostapdCtrlDir, "hostapd-ctrl-dir", "",
		"hostapd's control socket `directory` (its ctrl_interface; OpenWrt: /var/run/hostapd), overriding option hostapd_ctrl_dir: with hostapd_hook 'ctrl' (the default) the MAG attaches there to every hostapd_iface and reads station events itself, no hostapd_cli -a hook needed")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 3*time.Second,
		"how long SIGTERM waits for the LMA to acknowledge the deregistrations (procd kills after 5 s)")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(out, "pmip-mag: unexpected argument %q (subcommand: hook)\n", fs.Arg(0))
		return o, errors.New("pmip-mag: unexpected arguments")
	}
	var errs []string
	if o.logLevel != "" {
		if _, err := parseLevel(o.logLevel); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		errs = append(errs, fmt.Sprintf("-log-format %q: want text or json", o.logFormat))
	}
	if o.dataplane != dataplaneNetlink && o.dataplane != dataplaneNoTunnel {
		errs = append(errs, fmt.Sprintf("-dataplane %q: want %s or %s", o.dataplane, dataplaneNetlink, dataplaneNoTunnel))
	}
	if o.shutdownTimeout < 0 {
		errs = append(errs, "-shutdown-timeout must not be negative")
	}
	if o.hostapdCtrlDir != "" && !filepath.IsAbs(o.hostapdCtrlDir) {
		errs = append(errs, fmt.Sprintf("-hostapd-ctrl-dir %q: want an absolute path", o.hostapdCtrlDir))
	}
	if len(errs) > 0 {
		fmt.Fprintln(out, "pmip-mag: "+strings.Join(errs, "; "))
		return o, errors.New("pmip-mag: bad flags")
	}
	return o, nil
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `pmip-mag: Proxy Mobile IPv6 mobile access gateway (RFC 5213, RFC 5844) for OpenWrt access points

Usage:
  pmip-mag [flags]                       run the MAG (procd runs: pmip-mag -config /etc/config/pmip)
  pmip-mag -check [-config FILE]         validate the configuration and exit
  pmip-mag hook action IFNAME EVENT MAC  forward one hostapd_cli -a event (hostapd-hooks/pmip-hostapd-action)
  pmip-mag hook ubus IFNAME              forward 'ubus subscribe hostapd.IFNAME' lines read on stdin

Install on an AP (docs/mag.md has the details):
  1. make openwrt; scp bin/openwrt/pmip_*_<arch>.ipk root@ap:/tmp/
     then on the AP: opkg install /tmp/pmip_*.ipk
     (pulls kmod-ip6-tunnel, kmod-gre6 ...; installs /usr/sbin/pmip-mag,
     /etc/init.d/pmip, /etc/config/pmip and the hooks in /usr/libexec/pmip)
  2. Give the radios their own access bridge (ap_isolate=1, bridge port
     isolation) and name it in a 'config access' section; set the LMA's and
     this AP's addresses in 'config mag'.
  3. pmip-mag -check; uci set pmip.main.enabled=1; uci commit pmip;
     /etc/init.d/pmip enable; /etc/init.d/pmip start
     hostapd events: by default (hostapd_hook 'ctrl') the daemon attaches
     to hostapd's control sockets in hostapd_ctrl_dir (-hostapd-ctrl-dir)
     itself: no extra process, events in well under a millisecond, and
     802.11r/PMKSA-cache reassociations registered as handoffs (Handoff
     Indicator 3). With hostapd_hook 'cli' or 'ubus' the init script
     starts one hook process per hostapd_iface instead.

Signals: SIGHUP re-reads the file (log_level applies at once; other
changes are reported and need a restart, which procd does on
'reload_config'); SIGTERM/SIGINT deregister every client (lifetime-0
PBUs, bounded by -shutdown-timeout) and remove the tunnel, routes, rules
and filters the MAG installed.

Flags:
`)
	fs.PrintDefaults()
}
