package dataplane

import (
	"errors"
	"fmt"
	"strings"
)

// Sysctl is one network parameter of the namespace or of one device,
// /proc/sys/net/ipv{Family}/conf/{Dev}/{Name}: forwarding (RFC 5213 6.10:
// both daemons route their clients' packets), accept_ra on the MAG's
// access links (the MAG is the clients' router, never a host taking RAs),
// and the like.
//
// The data plane sets a parameter and never restores it: removing a
// Sysctl from the State leaves the kernel as it is, as a Set(nil) at
// shutdown or before a restart does. Restoring would cut the forwarding of
// a router that is only restarting its daemon, and needs the previous
// value, which no state file of ours keeps. An operator who wants the old
// value back after uninstalling sets it (sysctl.conf, OpenWrt's
// /etc/sysctl.d).
//
// IPv4 forwarding is conf/all/forwarding, the same kernel variable as
// net.ipv4.ip_forward.
type Sysctl struct {
	// Family is 4 (net/ipv4) or 6 (net/ipv6).
	Family int
	// Dev is a device, or "all" (every device, and for forwarding the
	// namespace) or "default" (devices created later).
	Dev string
	// Name is the parameter: forwarding, accept_ra, rp_filter, ...
	Name string
	// Value is written in decimal.
	Value int
}

// Path is the parameter's file under /proc/sys.
func (s Sysctl) Path() string {
	return fmt.Sprintf("net/ipv%d/conf/%s/%s", s.Family, s.Dev, s.Name)
}

// String renders the parameter as sysctl(8) names it (a dot inside a
// device name is written as a slash: net.ipv4.conf.eth0/2.rp_filter).
func (s Sysctl) String() string {
	return fmt.Sprintf("sysctl net.ipv%d.conf.%s.%s=%d", s.Family, strings.ReplaceAll(s.Dev, ".", "/"), s.Name, s.Value)
}

type sysctlKey struct {
	family    int
	dev, name string
}

func (s Sysctl) key() sysctlKey { return sysctlKey{s.Family, s.Dev, s.Name} }

// ForwardingSysctls turns on IPv4 and IPv6 forwarding in the namespace
// (every device, and the default of devices created later): what both the
// MAG and the LMA need to carry their clients' traffic (RFC 5213 6.10.3,
// 6.10.5 on the MAG; 5.6 on the LMA).
func ForwardingSysctls() []Sysctl {
	return []Sysctl{
		{Family: 4, Dev: "all", Name: "forwarding", Value: 1},
		{Family: 6, Dev: "all", Name: "forwarding", Value: 1},
	}
}

// AddrGen is how the kernel makes a device's IPv6 link-local address
// (IN6_ADDR_GEN_MODE_*).
type AddrGen uint8

// Address generation modes, as `ip link set DEV addrgenmode MODE` names
// them.
const (
	AddrGenEUI64         AddrGen = 0
	AddrGenNone          AddrGen = 1
	AddrGenStablePrivacy AddrGen = 2 // needs the device's stable_secret
	AddrGenRandom        AddrGen = 3
)

var addrGenNames = [...]string{"eui64", "none", "stable_secret", "random"}

// String returns iproute2's name of the mode.
func (m AddrGen) String() string {
	if int(m) < len(addrGenNames) {
		return addrGenNames[m]
	}
	return fmt.Sprintf("AddrGen(%d)", uint8(m))
}

// AddrGenMode sets how the kernel makes the IPv6 link-local address of a
// device (IFLA_INET6_ADDR_GEN_MODE, over netlink). The MAG sets "none" on
// its access interfaces: its only link-local address there is the fixed
// one every MAG of the domain shares (RFC 5213 6.8, 6.9.3), which it adds
// itself as an [Address]; a kernel-made one would be a second, per-MAG
// router address that changes when a client moves.
//
// Like [LinkMAC], it is set and never restored. Setting the mode does not
// remove a link-local address the kernel already made: that one goes the
// next time the device goes down (set the mode before bringing the
// device up, or bounce it once).
type AddrGenMode struct {
	Dev  string
	Mode AddrGen
}

// String renders the mode as `ip link set` arguments.
func (a AddrGenMode) String() string { return fmt.Sprintf("link %s addrgenmode %s", a.Dev, a.Mode) }

func (Sysctl) object()      {}
func (AddrGenMode) object() {}

// validateLinkSettings checks the State's sysctls and address generation
// modes.
func (s *State) validateLinkSettings() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	seen := map[sysctlKey]bool{}
	for _, c := range s.Sysctls {
		if err := checkSysctl(c); err != nil {
			bad("%s: %v", c, err)
			continue
		}
		if seen[c.key()] {
			bad("%s: listed twice", c)
		}
		seen[c.key()] = true
	}
	modes := map[string]bool{}
	for _, m := range s.AddrGenModes {
		if err := checkIfName(m.Dev); err != nil {
			bad("address generation mode of %v", err)
		}
		if int(m.Mode) >= len(addrGenNames) {
			bad("address generation mode of %q: unknown mode %d", m.Dev, m.Mode)
		}
		if modes[m.Dev] {
			bad("address generation mode of %q listed twice", m.Dev)
		}
		modes[m.Dev] = true
	}
	return errs
}

func checkSysctl(c Sysctl) error {
	if c.Family != 4 && c.Family != 6 {
		return fmt.Errorf("family %d is neither 4 nor 6", c.Family)
	}
	if c.Dev != "all" && c.Dev != "default" {
		if err := checkIfName(c.Dev); err != nil {
			return fmt.Errorf("device %w", err)
		}
	}
	if c.Name == "" || len(c.Name) > 64 {
		return errors.New("parameter name empty or too long")
	}
	for _, r := range c.Name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("parameter name %q: only lower-case letters, digits and _", c.Name)
		}
	}
	return nil
}
