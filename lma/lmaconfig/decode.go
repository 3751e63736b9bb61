package lmaconfig

import (
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openpmip/pmip/internal/uci"
)

// decodeMain reads `config lma`.
func (c *Config) decodeMain(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	d.Require("address")
	c.Address = d.Addr("address", uci.IPv6)
	if c.Address.IsValid() && !c.Address.IsGlobalUnicast() {
		d.Errorf("address", "%s is not a global unicast address", c.Address)
	}
	c.IPv4Address = d.Addr("ipv4_address", uci.IPv4)
	if c.IPv4Address.IsValid() && !c.IPv4Address.IsGlobalUnicast() {
		d.Errorf("ipv4_address", "%s is not a unicast address", c.IPv4Address)
	}
	c.StateDir = d.String("state_dir", DefaultStateDir)
	if !filepath.IsAbs(c.StateDir) {
		d.Errorf("state_dir", "%q is not an absolute path", c.StateDir)
	}
	c.ControlSocket = d.String("control_socket", DefaultControlSocket)
	if !filepath.IsAbs(c.ControlSocket) {
		d.Errorf("control_socket", "%q is not an absolute path", c.ControlSocket)
	}
	c.MetricsListen = d.String("metrics_listen", DefaultMetricsListen)
	if c.MetricsListen == "off" {
		c.MetricsListen = ""
	} else if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil || port == "" {
		d.Errorf("metrics_listen", "%q is not host:port (or off)", c.MetricsListen)
	}
	c.LogLevel = logLevel(d, "log_level")

	// RFC 5213 9.1, with PMIPV6-MIB's range 1..65535 ms.
	c.MinDelayBeforeBCEDelete = d.Milliseconds("min_delay_before_bce_delete", MinDelayBeforeBCEDelete, time.Millisecond, MIBTimerMax)
	c.MaxDelayBeforeNewBCEAssign = d.Milliseconds("max_delay_before_new_bce_assign", MaxDelayBeforeNewBCEAssign, time.Millisecond, MIBTimerMax)
	c.TimestampValidityWindow = d.Milliseconds("timestamp_validity_window", TimestampValidityWindow, time.Millisecond, MIBTimerMax)
	c.Timestamps = d.Bool("timestamps", TimestampBasedApproachInUse)
	if !c.Timestamps && d.Has("timestamp_validity_window") {
		d.Errorf("timestamp_validity_window", "set but timestamps are off (sequence numbers are used, RFC 5213 5.5)")
	}

	c.HeartbeatInterval = d.Seconds("heartbeat_interval", HeartbeatInterval, 0, 3600*time.Second)
	if c.HeartbeatInterval != 0 && c.HeartbeatInterval < MinHeartbeatInterval {
		// RFC 5847 5: HEARTBEAT_INTERVAL should not be less than 30 s.
		d.Errorf("heartbeat_interval", "%d seconds is below RFC 5847's minimum of 30 (0 turns probing off)", c.HeartbeatInterval/time.Second)
	}
	c.MissingHeartbeatsAllowed = int(d.Int("missing_heartbeats_allowed", MissingHeartbeatsAllowed, 1, 100))

	c.MaxLifetime = d.Seconds("max_lifetime", MaxBindingLifetime, BindingLifetimeUnit, MaxBindingLifetime)
	c.DefaultLifetime = d.Seconds("default_lifetime", min(DefaultLifetime, c.MaxLifetime), BindingLifetimeUnit, MaxBindingLifetime)
	for _, o := range []struct {
		name string
		v    time.Duration
	}{{"max_lifetime", c.MaxLifetime}, {"default_lifetime", c.DefaultLifetime}} {
		if o.v%BindingLifetimeUnit != 0 {
			// RFC 6275 6.1.8: the PBA's Lifetime counts units of 4 s.
			d.Errorf(o.name, "%d seconds is not a multiple of 4 (the PBA carries units of 4 s, RFC 6275 6.1.8)", o.v/time.Second)
		}
	}
	c.DataplaneResyncInterval = d.Seconds("dataplane_resync_interval", DataplaneResyncInterval, 0, 86400*time.Second)
	if c.DataplaneResyncInterval != 0 && c.DataplaneResyncInterval < MinDataplaneResyncInterval {
		d.Errorf("dataplane_resync_interval", "%d seconds is below the minimum of 10 (0 turns the periodic resynchronisation off)", c.DataplaneResyncInterval/time.Second)
	}
	if c.DefaultLifetime > c.MaxLifetime {
		d.Errorf("default_lifetime", "%d seconds is above max_lifetime %d", c.DefaultLifetime/time.Second, c.MaxLifetime/time.Second)
	}
	return unjoin(d.Err())
}

func logLevel(d *uci.Decoder, name string) slog.Level {
	switch d.Enum(name, "info", "debug", "info", "warn", "error") {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func requireName(d *uci.Decoder, typ string) {
	if d.Section().Name == "" {
		d.SectionErrorf("config %s needs a name: config %s 'name'", typ, typ)
	}
}

// tunnels reads list tunnel, defaulting to every type.
func tunnels(d *uci.Decoder) []Tunnel {
	names := d.Enums("tunnel", allTunnels...)
	if !d.Has("tunnel") {
		names = allTunnels
	}
	out := make([]Tunnel, len(names))
	for i, n := range names {
		out[i] = Tunnel(n)
	}
	return out
}

// decodeMAG reads one `config mag '<name>'`.
func (c *Config) decodeMAG(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	requireName(d, typeMAG)
	d.Require("address")
	m := MAG{Name: s.Name, Addresses: d.Addrs("address", uci.AnyFamily)}
	for _, a := range m.Addresses {
		if !a.IsGlobalUnicast() {
			d.Errorf("address", "%s is not a global unicast address", a)
		}
		if other, ok := c.MAGByAddress(a); ok {
			d.Errorf("address", "%s is already the address of mag '%s'", a, other.Name)
		}
		if a.Is4() && !c.IPv4Address.IsValid() {
			// RFC 5844 4: IPv4 transport needs the LMA's IPv4 address.
			d.Errorf("address", "%s is IPv4 but config lma has no ipv4_address for IPv4 transport (RFC 5844 4)", a)
		}
	}
	m.Tunnels = tunnels(d)
	if d.Has("tunnel") && len(m.Tunnels) == 0 {
		d.Errorf("tunnel", "no valid tunnel type: this MAG could never register a client")
	}
	c.MAGs = append(c.MAGs, m)
	return unjoin(d.Err())
}

// decodePool reads one `config pool '<name>'`: an IPv6 prefix pool
// (option prefix) or an IPv4 address pool (option subnet).
func (c *Config) decodePool(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	requireName(d, typePool)
	p := Pool{Name: s.Name}
	switch hasPrefix, hasSubnet := d.Has("prefix"), d.Has("subnet"); {
	case hasPrefix && hasSubnet:
		d.SectionErrorf("%s has both prefix (IPv6 pool) and subnet (IPv4 pool): one pool, one family", s)
	case hasPrefix:
		p.Family = PoolIPv6
		p.Prefix = d.Prefix("prefix", uci.IPv6)
		p.DelegatedLength = int(d.Int("delegated_length", 64, 1, 128))
		if p.Prefix.IsValid() && p.DelegatedLength < p.Prefix.Bits() {
			d.Errorf("delegated_length", "/%d is shorter than the pool's %s", p.DelegatedLength, p.Prefix)
		}
		if p.Prefix.IsValid() && p.DelegatedLength == p.Prefix.Bits() {
			d.Errorf("delegated_length", "/%d leaves room for a single prefix in %s", p.DelegatedLength, p.Prefix)
		}
	case hasSubnet:
		p.Family = PoolIPv4
		p.Prefix = d.Prefix("subnet", uci.IPv4)
		d.Require("default_router")
		p.DefaultRouter = d.Addr("default_router", uci.IPv4)
		def := int64(32)
		if p.Prefix.IsValid() {
			def = int64(p.Prefix.Bits())
		}
		p.ClientPrefixLength = int(d.Int("prefix_length", def, 1, 32))
		if p.Prefix.IsValid() {
			if p.ClientPrefixLength > p.Prefix.Bits() {
				// A single default router must be on-link for every
				// client, so the clients' prefix covers the subnet.
				d.Errorf("prefix_length", "/%d is longer than the subnet %s: the default router would be off-link for some clients", p.ClientPrefixLength, p.Prefix)
			}
			if p.DefaultRouter.IsValid() && !p.Prefix.Contains(p.DefaultRouter) {
				d.Errorf("default_router", "%s is outside the subnet %s", p.DefaultRouter, p.Prefix)
			}
			if p.Prefix.Bits() > 30 {
				d.Errorf("subnet", "%s is too small for a pool (at most /30)", p.Prefix)
			}
		}
	default:
		d.SectionErrorf("%s needs option prefix (IPv6 pool) or option subnet (IPv4 pool)", s)
	}
	if p.Prefix.IsValid() {
		// The LMA's and MAGs' own addresses must never be handed out as a
		// home address or lie inside a home network prefix.
		option := map[PoolFamily]string{PoolIPv6: "prefix", PoolIPv4: "subnet"}[p.Family]
		for _, a := range []netip.Addr{c.Address, c.IPv4Address} {
			if a.IsValid() && p.Prefix.Contains(a) {
				d.Errorf(option, "%s contains the LMA's own address %s", p.Prefix, a)
			}
		}
		reported := map[netip.Addr]bool{}
		for _, m := range c.MAGs {
			for _, a := range m.Addresses {
				if p.Prefix.Contains(a) && !reported[a] {
					reported[a] = true
					d.Errorf(option, "%s contains %s, the address of mag '%s'", p.Prefix, a, m.Name)
				}
			}
		}
		for _, other := range c.Pools {
			if other.Prefix.Overlaps(p.Prefix) {
				d.Errorf(option, "%s overlaps pool '%s' (%s): an address would be handed out twice", p.Prefix, other.Name, other.Prefix)
			}
		}
	}
	c.Pools = append(c.Pools, p)
	return unjoin(d.Err())
}

// decodePolicy reads one `config policy '<name>'`.
func (c *Config) decodePolicy(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	requireName(d, typePolicy)
	d.Require("match")
	p := Policy{Name: s.Name, Match: d.String("match", "")}
	exact := false
	if d.Has("match") {
		kind, ok := matchKind(p.Match)
		if !ok {
			d.Errorf("match", "%q is not a NAI, *@<realm>, * or a MAC address", p.Match)
		}
		exact = kind == matchNAI || kind == matchEUI48
		if kind == matchEUI48 {
			m, _ := uci.ParseMAC(p.Match)
			p.Match = m.String() // one spelling, so lookups compare strings
		}
		for _, other := range c.Policies {
			if other.Match == p.Match {
				d.Errorf("match", "%q is already matched by policy '%s'", p.Match, other.Name)
			}
		}
	}

	// Home network prefixes: static or from a pool (RFC 5213 5.3.1 lets
	// the LMA assign them from its own policy).
	p.HomePrefixes = d.Prefixes("home_prefix", uci.IPv6)
	p.PrefixPool = d.String("prefix_pool", "")
	p.PrefixCount = int(d.Int("prefix_count", 1, 1, 16))
	switch {
	case len(p.HomePrefixes) > 0 && p.PrefixPool != "":
		d.Errorf("prefix_pool", "set together with home_prefix: choose static prefixes or a pool")
	case len(p.HomePrefixes) > 0 && !exact && d.Has("match"):
		d.Errorf("home_prefix", "static prefixes need an exact match, not %q: every mobile node it matches would get the same prefix", p.Match)
	case p.PrefixPool != "":
		if pool, ok := c.PoolByName(p.PrefixPool); !ok {
			d.Errorf("prefix_pool", "no pool '%s'%s", p.PrefixPool, c.suggestPool(p.PrefixPool, PoolIPv6))
		} else if pool.Family != PoolIPv6 {
			d.Errorf("prefix_pool", "pool '%s' is an IPv4 pool", p.PrefixPool)
		}
	case d.Has("prefix_count"):
		d.Errorf("prefix_count", "set without prefix_pool")
	}
	for _, hp := range p.HomePrefixes {
		c.checkStatic(d, "home_prefix", hp, p.Name)
	}

	// IPv4 home address: static, from a pool, or none (RFC 5844 3.1.3).
	switch st, pl := d.Has("ipv4_address"), d.Has("ipv4_pool"); {
	case st && pl:
		d.Errorf("ipv4_pool", "set together with ipv4_address: choose a static address or a pool")
		p.IPv4 = IPv4None
	case st:
		p.IPv4 = IPv4Static
		p.IPv4Address = d.AddrPrefix("ipv4_address", uci.IPv4)
		d.Require("ipv4_default_router")
		p.IPv4DefaultRouter = d.Addr("ipv4_default_router", uci.IPv4)
		if !exact && d.Has("match") {
			d.Errorf("ipv4_address", "a static address needs an exact match, not %q", p.Match)
		}
		if a := p.IPv4Address; a.IsValid() {
			if r := p.IPv4DefaultRouter; r.IsValid() && (!a.Masked().Contains(r) || r == a.Addr()) {
				d.Errorf("ipv4_default_router", "%s is not another address on %s", r, a.Masked())
			}
			c.checkStatic(d, "ipv4_address", netip.PrefixFrom(a.Addr(), 32), p.Name)
		}
	case pl:
		p.IPv4 = IPv4Pool
		p.IPv4Pool = d.String("ipv4_pool", "")
		if pool, ok := c.PoolByName(p.IPv4Pool); !ok {
			d.Errorf("ipv4_pool", "no pool '%s'%s", p.IPv4Pool, c.suggestPool(p.IPv4Pool, PoolIPv4))
		} else if pool.Family != PoolIPv4 {
			d.Errorf("ipv4_pool", "pool '%s' is an IPv6 pool", p.IPv4Pool)
		}
	default:
		p.IPv4 = IPv4None
	}
	if !p.IPv6() && p.IPv4 == IPv4None {
		d.SectionErrorf("%s assigns neither home prefixes nor an IPv4 home address", s)
	}

	p.Tunnels = tunnels(d)
	if d.Has("tunnel") && len(p.Tunnels) == 0 {
		d.Errorf("tunnel", "no valid tunnel type: no registration could ever succeed")
	}
	p.GREKeyRequired = d.Bool("gre_key_required", false)
	if p.GREKeyRequired && !slices.Contains(p.Tunnels, TunnelGRE) {
		d.Errorf("gre_key_required", "set but tunnel gre is not allowed")
	}
	c.Policies = append(c.Policies, p)
	return unjoin(d.Err())
}

// checkStatic refuses a static assignment inside a pool (it would be handed
// out twice) or already assigned by another policy.
func (c *Config) checkStatic(d *uci.Decoder, option string, pfx netip.Prefix, self string) {
	for _, pool := range c.Pools {
		if pool.Prefix.IsValid() && pool.Prefix.Overlaps(pfx) {
			d.Errorf(option, "%s lies in pool '%s' (%s): it could be handed out twice", pfx, pool.Name, pool.Prefix)
		}
	}
	for _, other := range c.Policies {
		if other.Name == self {
			continue
		}
		for _, hp := range other.HomePrefixes {
			if hp.Overlaps(pfx) {
				d.Errorf(option, "%s overlaps %s of policy '%s'", pfx, hp, other.Name)
			}
		}
		if other.IPv4 == IPv4Static && other.IPv4Address.Addr() == pfx.Addr() {
			d.Errorf(option, "%s is also the address of policy '%s'", pfx.Addr(), other.Name)
		}
	}
}

func (c *Config) suggestPool(name string, fam PoolFamily) string {
	var names []string
	for _, p := range c.Pools {
		if p.Family == fam {
			names = append(names, p.Name)
		}
	}
	if s := uci.Suggest(name, names); s != "" {
		return " (did you mean '" + s + "'?)"
	}
	if len(names) > 0 {
		return " (" + string(fam) + " pools: " + strings.Join(names, ", ") + ")"
	}
	return ""
}
