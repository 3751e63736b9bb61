// Package lmaconfig is the LMA's configuration (/etc/pmip/lma.conf), in
// UCI syntax (internal/uci), documented option by option in
// docs/configuration.md with an example in docs/lma.conf.example.
//
// Load parses, applies defaults and validates, and returns a plain Config
// the engine uses directly. It has no side effects: on SIGHUP the engine
// calls Load again, checks RestartNeeded, and diffs policies, pools and
// MAGs against the running Config.
package lmaconfig

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/uci"
)

// Config is the whole LMA configuration.
type Config struct {
	// Path is the file it was read from.
	Path string

	// Address is the LMA's IPv6 address (LMAA, RFC 5213 2.2).
	Address netip.Addr
	// IPv4Address is the IPv4-LMAA for MAGs on IPv4 transport (RFC 5844
	// 4); invalid when IPv4 transport is not offered.
	IPv4Address netip.Addr

	// StateDir holds the persistent binding cache and pool allocations.
	StateDir string
	// MetricsListen is the Prometheus listener, "" for none.
	MetricsListen string
	// ControlSocket is the unix socket pmipctl uses.
	ControlSocket string
	// LogLevel is the slog level of the daemon's logger.
	LogLevel slog.Level

	// RFC 5213 9.1 timers (PMIPV6-MIB pmip6LmaConf).
	MinDelayBeforeBCEDelete    time.Duration
	MaxDelayBeforeNewBCEAssign time.Duration
	TimestampValidityWindow    time.Duration
	// Timestamps is TimestampBasedApproachInUse (RFC 5213 9.3).
	Timestamps bool
	// HeartbeatInterval and MissingHeartbeatsAllowed are RFC 5847 5's
	// HEARTBEAT_INTERVAL and MISSING_HEARTBEATS_ALLOWED; a zero interval
	// turns probing off (the LMA still answers heartbeats).
	HeartbeatInterval        time.Duration
	MissingHeartbeatsAllowed int
	// DefaultLifetime is granted to a PBU asking for more than
	// MaxLifetime; MaxLifetime caps every granted lifetime (RFC 5213
	// 5.3.1 lets the LMA grant less than requested).
	DefaultLifetime time.Duration
	MaxLifetime     time.Duration
	// DataplaneResyncInterval is how often the LMA hands the data plane
	// its whole desired state again, reading the kernel first, so that
	// tunnels, routes and filter elements removed or changed by hand come
	// back; 0 turns the periodic resynchronisation off (the one after a
	// failed change stays).
	DataplaneResyncInterval time.Duration

	// MAGs are the MAGs allowed to register clients, in file order.
	MAGs []MAG
	// Pools are the address pools, in file order.
	Pools []Pool
	// Policies map mobile node identifiers to profiles, in file order.
	Policies []Policy
}

// Tunnel is an encapsulation between MAG and LMA.
type Tunnel string

const (
	TunnelIP6IP6 Tunnel = "ip6ip6" // IPv6/IPv4 in IPv6 (RFC 5213 6.10, RFC 5844)
	TunnelIPIP   Tunnel = "ipip"   // IPv6/IPv4 in IPv4 (RFC 5844 4)
	TunnelGRE    Tunnel = "gre"    // GRE with keys (RFC 5845)
)

var allTunnels = []string{string(TunnelIP6IP6), string(TunnelIPIP), string(TunnelGRE)}

// MAG is one authorized MAG (`config mag '<name>'`). PBUs from other
// addresses are refused (RFC 5213 5.3.1, status 154).
type MAG struct {
	Name string
	// Addresses are its Proxy-CoAs: IPv6 (RFC 5213) and/or IPv4 (RFC
	// 5844 4).
	Addresses []netip.Addr
	// Tunnels are the encapsulations it may use.
	Tunnels []Tunnel
}

// PoolFamily says what a pool hands out.
type PoolFamily string

const (
	PoolIPv6 PoolFamily = "ipv6" // home network prefixes (RFC 5213 5.3.1)
	PoolIPv4 PoolFamily = "ipv4" // IPv4 home addresses (RFC 5844 3.1.3)
)

// Pool is one `config pool '<name>'`.
type Pool struct {
	Name   string
	Family PoolFamily
	// Prefix is the aggregate an IPv6 pool delegates from, or the subnet
	// an IPv4 pool assigns addresses in.
	Prefix netip.Prefix
	// DelegatedLength is the length of each home network prefix (IPv6).
	DelegatedLength int
	// ClientPrefixLength is the prefix length sent with each IPv4 home
	// address (IPv4 Home Address Reply, RFC 5844 3.3.2).
	ClientPrefixLength int
	// DefaultRouter is the IPv4 default router sent to clients (IPv4
	// Default-Router Address option, RFC 5844 3.3.3); never allocated.
	DefaultRouter netip.Addr
}

// Size is the number of prefixes (IPv6) or usable addresses (IPv4) the
// pool holds, saturating at 1<<62.
func (p Pool) Size() uint64 {
	bits := p.DelegatedLength - p.Prefix.Bits()
	if p.Family == PoolIPv4 {
		bits = 32 - p.Prefix.Bits()
	}
	if bits >= 62 {
		return 1 << 62
	}
	n := uint64(1) << bits
	if p.Family == PoolIPv4 {
		// Network and broadcast addresses (on a /31 or /32 there are
		// none, RFC 3021) and the default router are never handed out.
		if bits >= 2 {
			n -= 2
		}
		if p.Prefix.Contains(p.DefaultRouter) && n > 0 {
			n--
		}
	}
	return n
}

// IPv4Mode says how a policy's IPv4 home address is chosen.
type IPv4Mode string

const (
	IPv4None   IPv4Mode = "none"
	IPv4Static IPv4Mode = "static"
	IPv4Pool   IPv4Mode = "pool"
)

// Policy is one `config policy '<name>'`: the profile of the mobile nodes
// its Match selects.
type Policy struct {
	Name string
	// Match is an exact NAI, "*@<realm>" for every NAI of a realm, "*" for
	// every mobile node, or a MAC address for an EUI-48 identifier (RFC
	// 8371 4.4).
	Match string

	// HomePrefixes are static home network prefixes (exact matches only).
	HomePrefixes []netip.Prefix
	// PrefixPool names the IPv6 pool prefixes come from, PrefixCount how
	// many each mobile node interface gets.
	PrefixPool  string
	PrefixCount int

	IPv4 IPv4Mode
	// IPv4Address (with the client's prefix length) and
	// IPv4DefaultRouter for IPv4Static.
	IPv4Address       netip.Prefix
	IPv4DefaultRouter netip.Addr
	// IPv4Pool names the IPv4 pool for IPv4Pool.
	IPv4Pool string

	// Tunnels are the encapsulations allowed for these mobile nodes.
	Tunnels []Tunnel
	// GREKeyRequired refuses registrations that do not negotiate a GRE
	// key (RFC 5845).
	GREKeyRequired bool
}

// IPv6 reports whether the policy assigns home network prefixes.
func (p Policy) IPv6() bool { return len(p.HomePrefixes) > 0 || p.PrefixPool != "" }

// Section types.
const (
	typeLMA    = "lma"
	typeMAG    = "mag"
	typePool   = "pool"
	typePolicy = "policy"
)

// Load reads, defaults and validates the LMA configuration at path. Every
// problem found is reported, each as "path:line: what is wrong", joined
// into one error.
func Load(path string) (Config, error) {
	f, err := uci.ParseFile(path)
	if err != nil {
		return Config{}, err
	}
	return FromFile(f)
}

// Parse is Load for a configuration already in memory.
func Parse(path string, data []byte) (Config, error) {
	f, err := uci.Parse(path, data)
	if err != nil {
		return Config{}, err
	}
	return FromFile(f)
}

// FromFile builds the Config from a parsed file.
func FromFile(f *uci.File) (Config, error) {
	c := Config{Path: f.Path}
	errs := f.CheckTypes(typeLMA, typeMAG, typePool, typePolicy)

	main, err := f.Only(typeLMA, "the LMA needs at least its address")
	if err != nil {
		errs = append(errs, err)
	}
	if main != nil {
		errs = append(errs, c.decodeMain(main)...)
	}
	for _, s := range f.SectionsOf(typeMAG) {
		errs = append(errs, c.decodeMAG(s)...)
	}
	for _, s := range f.SectionsOf(typePool) {
		errs = append(errs, c.decodePool(s)...)
	}
	// Policies refer to pools, so pools are read first.
	for _, s := range f.SectionsOf(typePolicy) {
		errs = append(errs, c.decodePolicy(s)...)
	}
	if len(errs) > 0 {
		uci.SortErrors(errs)
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// RestartNeeded lists the settings that differ between old and c and that
// a reload cannot apply (sockets, addresses and the state directory are
// bound at start). Policies, pools, MAGs, timers and lifetimes reload.
func (c Config) RestartNeeded(old Config) []string {
	var out []string
	if c.Address != old.Address {
		out = append(out, "address")
	}
	if c.IPv4Address != old.IPv4Address {
		out = append(out, "ipv4_address")
	}
	if c.StateDir != old.StateDir {
		out = append(out, "state_dir")
	}
	if c.MetricsListen != old.MetricsListen {
		out = append(out, "metrics_listen")
	}
	if c.ControlSocket != old.ControlSocket {
		out = append(out, "control_socket")
	}
	return out
}

// MAGByAddress returns the authorized MAG with this Proxy-CoA.
func (c *Config) MAGByAddress(a netip.Addr) (*MAG, bool) {
	a = a.Unmap()
	for i := range c.MAGs {
		for _, x := range c.MAGs[i].Addresses {
			if x == a {
				return &c.MAGs[i], true
			}
		}
	}
	return nil, false
}

// PoolByName returns the pool called name.
func (c *Config) PoolByName(name string) (*Pool, bool) {
	for i := range c.Pools {
		if c.Pools[i].Name == name {
			return &c.Pools[i], true
		}
	}
	return nil, false
}
