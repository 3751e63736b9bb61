package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/openpmip/pmip/mag/magconfig"
)

// check is -check: validate the file and say what the daemon would set up.
// The exit status is 0 for a valid file, 1 otherwise.
func check(o options, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "pmip-mag: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", o.config)
	if !cfg.Enabled {
		fmt.Fprintln(stdout, "  disabled (option enabled '0'): the init script will not start the daemon")
	}
	if cfg.Transport == magconfig.TransportIPv4 {
		fmt.Fprintf(stdout, "  LMA %s over UDP/IPv4 from %s, tunnel %s\n", cfg.LMAIPv4Address, cfg.IPv4ProxyCoA, cfg.Tunnel)
	} else {
		fmt.Fprintf(stdout, "  LMA %s over IPv6 from %s, tunnel %s\n", cfg.LMAAddress, cfg.ProxyCoA, cfg.Tunnel)
	}
	fmt.Fprintf(stdout, "  router identity %s / %s, binding lifetime %v\n", cfg.LinkLayerAddress, cfg.LinkLocalAddress, cfg.BindingLifetime)
	for _, a := range cfg.Access {
		var trig []string
		for _, t := range []struct {
			on   bool
			name string
		}{{a.Triggers.Hostapd, "hostapd"}, {a.Triggers.DHCP, "dhcp"}, {a.Triggers.RS, "rs"}, {a.Triggers.NS, "ns"}} {
			if t.on {
				trig = append(trig, t.name)
			}
		}
		line := fmt.Sprintf("  access %s on %s: ATT %d, triggers %s", a.Name, a.Interface, a.ATT, strings.Join(trig, " "))
		if len(a.HostapdInterfaces) > 0 {
			line += ", hostapd " + strings.Join(a.HostapdInterfaces, " ")
		}
		fmt.Fprintln(stdout, line)
	}
	if hostapdTriggers(cfg) {
		if bss := monitoredBSS(cfg); len(bss) > 0 {
			fmt.Fprintf(stdout, "  hostapd events from its control sockets in %s: %s (hook ctrl)\n", cfg.HostapdCtrlDir, strings.Join(bss, " "))
		}
		fmt.Fprintf(stdout, "  hostapd events on %s (hook %s)\n", cfg.HostapdSocket, cfg.HostapdHook)
	}
	return 0
}
