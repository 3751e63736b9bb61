package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// AddrReport is what `addrs` prints once every awaited event happened (or
// at the timeout, with the missing ones zero). Times are Unix nanoseconds.
type AddrReport struct {
	Interface string `json:"interface"`
	Start     int64  `json:"start_ns"`
	// Up is when the interface's operational state became "up": for a
	// Wi-Fi station, when wpa_supplicant completed the association and
	// its 802.1X/4-way handshake (the port is authorized).
	Up   int64  `json:"up_ns,omitempty"`
	V4   int64  `json:"v4_ns,omitempty"`
	V4IP string `json:"v4,omitempty"`
	// V6 is when an address inside the awaited prefix was present and no
	// longer tentative (duplicate address detection passed).
	V6       int64  `json:"v6_ns,omitempty"`
	V6IP     string `json:"v6,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
}

// pollInterval bounds the error of every time addrs reports. A netlink
// dump of one interface's addresses costs well under a millisecond even
// under TCG.
const pollInterval = 5 * time.Millisecond

// addrs waits for an interface to come up and for addresses in the given
// prefixes, and reports when each happened. It was started before the
// association, so the report also tells how long each took.
func addrs(args []string) error {
	fs := flag.NewFlagSet("addrs", flag.ContinueOnError)
	ifname := fs.String("i", "", "interface")
	v4 := fs.String("v4", "", "await an IPv4 address in this `prefix`")
	v6 := fs.String("v6", "", "await a non-tentative IPv6 address in this `prefix`")
	timeout := fs.Duration("timeout", time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ifname == "" {
		return errors.New("addrs: -i is required")
	}
	var p4, p6 netip.Prefix
	var err error
	if *v4 != "" {
		if p4, err = netip.ParsePrefix(*v4); err != nil || !p4.Addr().Is4() {
			return fmt.Errorf("addrs: -v4 %q is not an IPv4 prefix", *v4)
		}
	}
	if *v6 != "" {
		if p6, err = netip.ParsePrefix(*v6); err != nil || !p6.Addr().Is6() {
			return fmt.Errorf("addrs: -v6 %q is not an IPv6 prefix", *v6)
		}
	}
	conn, err := rtnetlink.Dial(nil)
	if err != nil {
		return fmt.Errorf("addrs: %w", err)
	}
	defer conn.Close()
	rep := AddrReport{Interface: *ifname, Start: time.Now().UnixNano()}
	deadline := time.Now().Add(*timeout)
	for {
		now := time.Now().UnixNano()
		if rep.Up == 0 && operUp(*ifname) {
			rep.Up = now
		}
		if (p4.IsValid() && rep.V4 == 0) || (p6.IsValid() && rep.V6 == 0) {
			a4, a6, err := usable(conn, *ifname, p4, p6)
			if err != nil {
				return err
			}
			if a4.IsValid() && rep.V4 == 0 {
				rep.V4, rep.V4IP = now, a4.String()
			}
			if a6.IsValid() && rep.V6 == 0 {
				rep.V6, rep.V6IP = now, a6.String()
			}
		}
		done := rep.Up != 0 && (!p4.IsValid() || rep.V4 != 0) && (!p6.IsValid() || rep.V6 != 0)
		if done || time.Now().After(deadline) {
			rep.TimedOut = !done
			return json.NewEncoder(os.Stdout).Encode(rep)
		}
		time.Sleep(pollInterval)
	}
}

// operUp reads the interface's operational state from sysfs (ip netns exec
// mounts the namespace's own /sys). A missing interface is not up.
func operUp(ifname string) bool {
	b, err := os.ReadFile("/sys/class/net/" + ifname + "/operstate")
	return err == nil && strings.TrimSpace(string(b)) == "up"
}

// usable returns the first address of the interface inside p4, and the
// first non-tentative one inside p6.
func usable(conn *rtnetlink.Conn, ifname string, p4, p6 netip.Prefix) (a4, a6 netip.Addr, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		// Not there yet (a radio still moving into the namespace).
		return a4, a6, nil
	}
	msgs, err := conn.Address.List()
	if err != nil {
		return a4, a6, fmt.Errorf("addrs: listing addresses: %w", err)
	}
	for _, m := range msgs {
		if m.Index != uint32(ifi.Index) || m.Attributes == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(m.Attributes.Address)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		flags := uint32(m.Flags) | m.Attributes.Flags
		switch {
		case p4.IsValid() && ip.Is4() && p4.Contains(ip) && !a4.IsValid():
			a4 = ip
		case p6.IsValid() && ip.Is6() && p6.Contains(ip) && !a6.IsValid() &&
			flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0:
			a6 = ip
		}
	}
	return a4, a6, nil
}
