package magconfig

import (
	"bytes"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openpmip/pmip/internal/uci"
)

// decodeMain reads `config mag`.
func (c *Config) decodeMain(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	c.Enabled = d.Bool("enabled", true)
	c.Transport = Transport(d.Enum("transport", string(TransportIPv6), string(TransportIPv6), string(TransportIPv4)))
	c.LMAAddress = d.Addr("lma_address", uci.IPv6)
	c.LMAIPv4Address = d.Addr("lma_ipv4_address", uci.IPv4)
	for _, a := range d.Addrs("proxy_coa", uci.AnyFamily) {
		switch {
		case a.Is6() && c.ProxyCoA.IsValid():
			d.Errorf("proxy_coa", "more than one IPv6 address (%s and %s): the MAG has one Proxy-CoA per family", c.ProxyCoA, a)
		case a.Is6():
			c.ProxyCoA = a
		case c.IPv4ProxyCoA.IsValid():
			d.Errorf("proxy_coa", "more than one IPv4 address (%s and %s): the MAG has one Proxy-CoA per family", c.IPv4ProxyCoA, a)
		default:
			c.IPv4ProxyCoA = a
		}
	}
	defTunnel := TunnelIP6IP6
	if c.Transport == TransportIPv4 {
		defTunnel = TunnelIPIP
	}
	c.Tunnel = Tunnel(d.Enum("tunnel", string(defTunnel), string(TunnelIP6IP6), string(TunnelIPIP), string(TunnelGRE)))

	c.BindingLifetime = d.Seconds("binding_lifetime", DefaultBindingLifetime, BindingLifetimeUnit, MaxBindingLifetime)
	if c.BindingLifetime%BindingLifetimeUnit != 0 {
		// RFC 6275 6.1.7: the Lifetime field counts units of 4 seconds.
		d.Errorf("binding_lifetime", "%d seconds is not a multiple of 4 (the PBU carries units of 4 s, RFC 6275 6.1.7)", c.BindingLifetime/time.Second)
	}
	c.InitialBindackTimeoutFirstReg = d.Milliseconds("initial_bindack_timeout_first_reg", InitialBindackTimeoutFirstReg, 100*time.Millisecond, MaxBindackTimeout)
	c.MaxBindackTimeout = d.Seconds("max_bindack_timeout", MaxBindackTimeout, time.Second, 3600*time.Second)
	if c.MaxBindackTimeout < c.InitialBindackTimeoutFirstReg {
		d.Errorf("max_bindack_timeout", "%v is below initial_bindack_timeout_first_reg %v", c.MaxBindackTimeout, c.InitialBindackTimeoutFirstReg)
	}
	c.Timestamps = d.Bool("timestamps", TimestampBasedApproachInUse)
	c.HeartbeatInterval = d.Seconds("heartbeat_interval", HeartbeatInterval, 0, 3600*time.Second)
	if c.HeartbeatInterval != 0 && c.HeartbeatInterval < MinHeartbeatInterval {
		// RFC 5847 5: HEARTBEAT_INTERVAL should not be less than 30 s.
		d.Errorf("heartbeat_interval", "%d seconds is below RFC 5847's minimum of 30 (0 turns heartbeats off)", c.HeartbeatInterval/time.Second)
	}
	c.MissingHeartbeatsAllowed = int(d.Int("missing_heartbeats_allowed", MissingHeartbeatsAllowed, 1, 100))

	c.LinkLocalAddress = DefaultLinkLocalAddress
	if d.Has("link_local_address") {
		c.LinkLocalAddress = d.Addr("link_local_address", uci.IPv6)
		if c.LinkLocalAddress.IsValid() && !c.LinkLocalAddress.IsLinkLocalUnicast() {
			d.Errorf("link_local_address", "%s is not a link-local unicast address (fe80::/10)", c.LinkLocalAddress)
		}
	}
	c.LinkLayerAddress = DefaultLinkLayerAddress
	if d.Has("link_layer_address") {
		c.LinkLayerAddress = d.MAC("link_layer_address")
		if m := c.LinkLayerAddress; m != nil && (m[0]&1 != 0 || bytes.Equal(m, make([]byte, 6))) {
			d.Errorf("link_layer_address", "%s is not a unicast MAC address", m)
		}
	}

	c.HostapdSocket = d.String("hostapd_socket", DefaultHostapdSocket)
	if !filepath.IsAbs(c.HostapdSocket) {
		d.Errorf("hostapd_socket", "%q is not an absolute path", c.HostapdSocket)
	}
	c.HostapdCtrlDir = d.String("hostapd_ctrl_dir", DefaultHostapdCtrlDir)
	switch {
	case c.HostapdCtrlDir == "off":
		c.HostapdCtrlDir = ""
	case !filepath.IsAbs(c.HostapdCtrlDir):
		d.Errorf("hostapd_ctrl_dir", "%q is not an absolute path ('off' turns the queries off)", c.HostapdCtrlDir)
	}
	// The daemon's own monitor wherever it can reach hostapd's control
	// sockets (docs/handover.md 5.2); the external hooks otherwise.
	hookDefault := HookCtrl
	if c.HostapdCtrlDir == "" {
		hookDefault = HookCLI
	}
	c.HostapdHook = d.Enum("hostapd_hook", hookDefault, HookCtrl, HookCLI, HookUbus)
	if c.HostapdHook == HookCtrl && c.HostapdCtrlDir == "" && d.Has("hostapd_hook") {
		d.Errorf("hostapd_hook", "'ctrl' reads hostapd's control sockets: it needs hostapd_ctrl_dir, not 'off'")
	}
	c.SilenceTimeout = d.Seconds("silence_timeout", DefaultSilenceTimeout, 10*time.Second, 24*3600*time.Second)
	c.DHCPLeaseTime = d.Seconds("dhcp_lease_time", DefaultDHCPLeaseTime, 60*time.Second, 7*24*3600*time.Second)
	c.MaxPendingClients = int(d.Int("max_pending_clients", DefaultMaxPendingClients, 1, 65535))
	c.IdentityWait = d.Milliseconds("identity_wait", DefaultIdentityWait, 0, MaxIdentityWait)
	c.LogLevel = logLevel(d, "log_level")

	// Transport and addresses must agree.
	switch c.Transport {
	case TransportIPv6:
		d.Require("lma_address")
		if !c.ProxyCoA.IsValid() && !hasIPv6(d, "proxy_coa") {
			d.SectionErrorf("%s needs an IPv6 proxy_coa (the MAG's tunnel end, RFC 5213 2.2)", s)
		}
		if c.Tunnel == TunnelIPIP {
			d.Errorf("tunnel", "ipip needs transport ipv4; over IPv6 use ip6ip6 or gre")
		}
	case TransportIPv4:
		// RFC 5844 4: over an IPv4 transport network, signalling runs in
		// UDP/IPv4 between the IPv4 Proxy-CoA and the IPv4-LMAA.
		d.Require("lma_ipv4_address")
		if !c.IPv4ProxyCoA.IsValid() && !hasIPv4(d, "proxy_coa") {
			d.SectionErrorf("%s needs an IPv4 proxy_coa with transport ipv4 (RFC 5844 4)", s)
		}
		if c.Tunnel == TunnelIP6IP6 {
			d.Errorf("tunnel", "ip6ip6 needs transport ipv6; over IPv4 use ipip or gre")
		}
	}
	for _, a := range []struct {
		name string
		addr netip.Addr
	}{{"lma_address", c.LMAAddress}, {"lma_ipv4_address", c.LMAIPv4Address}} {
		if a.addr.IsValid() && !a.addr.IsGlobalUnicast() {
			d.Errorf(a.name, "%s is not a global unicast address", a.addr)
		}
	}
	if c.ProxyCoA.IsValid() && !c.ProxyCoA.IsGlobalUnicast() {
		d.Errorf("proxy_coa", "%s is not a global unicast address", c.ProxyCoA)
	}
	if c.IPv4ProxyCoA.IsValid() && !c.IPv4ProxyCoA.IsGlobalUnicast() {
		d.Errorf("proxy_coa", "%s is not a unicast address", c.IPv4ProxyCoA)
	}
	return unjoin(d.Err())
}

// hasIPv6 reports whether any value of a list option looks like IPv6, so a
// malformed address is reported once, not also as missing.
func hasIPv6(d *uci.Decoder, name string) bool {
	o := d.Section().Option(name)
	if o == nil {
		return false
	}
	return slices.ContainsFunc(o.Values, func(v string) bool { return strings.Contains(v, ":") })
}

func hasIPv4(d *uci.Decoder, name string) bool {
	o := d.Section().Option(name)
	if o == nil {
		return false
	}
	return slices.ContainsFunc(o.Values, func(v string) bool { return !strings.Contains(v, ":") })
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

// unjoin undoes errors.Join so the caller can sort all errors by line.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// validIfname accepts what Linux accepts as an interface name (IFNAMSIZ
// 16 with the NUL; no '/', ':' or blanks).
func validIfname(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n")
}

// decodeAccess reads one `config access '<name>'`.
func (c *Config) decodeAccess(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	a := Access{Name: s.Name}
	if s.Name == "" {
		d.SectionErrorf("config access needs a name: config access 'wlan0'")
	}
	d.Require("interface")
	a.Interface = d.String("interface", "")
	if d.Has("interface") && !validIfname(a.Interface) {
		d.Errorf("interface", "%q is not a valid interface name", a.Interface)
	}
	for _, other := range c.Access {
		if a.Interface != "" && other.Interface == a.Interface {
			d.Errorf("interface", "%s is already the interface of access '%s'", a.Interface, other.Name)
		}
	}
	a.ATT = ATTIEEE8011
	if d.Has("att") {
		a.ATT = parseATT(d)
	}
	trig := d.Enums("trigger", "hostapd", "dhcp", "rs", "ns")
	if !d.Has("trigger") {
		trig = []string{"hostapd", "dhcp", "rs", "ns"}
		if a.ATT != ATTIEEE8011 && !d.Has("hostapd_iface") {
			// A wired (or other non-Wi-Fi) link has no hostapd to report
			// its clients: with the trigger on, each would wait
			// identity_wait for an event that never comes.
			trig = trig[1:]
		}
	}
	for _, t := range trig {
		switch t {
		case "hostapd":
			a.Triggers.Hostapd = true
		case "dhcp":
			a.Triggers.DHCP = true
		case "rs":
			a.Triggers.RS = true
		case "ns":
			a.Triggers.NS = true
		}
	}
	if d.Has("trigger") && len(trig) == 0 {
		d.Errorf("trigger", "no valid attach trigger: nothing would ever attach a client here")
	}
	a.HostapdInterfaces = d.Strings("hostapd_iface")
	for _, n := range a.HostapdInterfaces {
		if !validIfname(n) {
			d.Errorf("hostapd_iface", "%q is not a valid interface name", n)
		}
	}
	switch {
	case !a.Triggers.Hostapd && len(a.HostapdInterfaces) > 0:
		d.Errorf("hostapd_iface", "set but the hostapd trigger is off")
	case a.Triggers.Hostapd && len(a.HostapdInterfaces) == 0:
		// A radio serving as the access interface itself.
		a.HostapdInterfaces = []string{a.Interface}
	}
	c.Access = append(c.Access, a)
	return unjoin(d.Err())
}

// parseATT reads option att: a documented name or a number 1-255.
func parseATT(d *uci.Decoder) AccessTechnology {
	v := d.String("att", "")
	if t, ok := attNames[v]; ok {
		return t
	}
	if n, err := strconv.ParseUint(v, 10, 8); err == nil {
		if n == 0 {
			// RFC 5213 8.5: 0 is reserved.
			d.Errorf("att", "0 is reserved (RFC 5213 8.5)")
			return 0
		}
		return AccessTechnology(n)
	}
	names := make([]string, 0, len(attNames))
	for n := range attNames {
		names = append(names, n)
	}
	slices.Sort(names)
	d.Errorf("att", "%q is not an access technology (%s, or a number 1-255 from RFC 5213 8.5)", v, strings.Join(names, ", "))
	return 0
}

func defaultPolicy() Policy {
	return Policy{Use8021XIdentity: true, MACIdentifier: MNIDNAI, IPv6: true, IPv4: true}
}

// decodePolicy reads `config policy`.
func (c *Config) decodePolicy(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	p := defaultPolicy()
	p.Use8021XIdentity = d.Bool("use_8021x_identity", true)
	switch d.Enum("mac_identifier", "nai", "nai", "eui48") {
	case "eui48":
		p.MACIdentifier = MNIDEUI48 // RFC 8371 4.4
	default:
		p.MACIdentifier = MNIDNAI // RFC 4283 3
	}
	p.Realm = d.String("realm", "")
	if p.Realm != "" && !validRealm(p.Realm) {
		d.Errorf("realm", "%q is not a realm (labels of letters, digits and -, separated by dots; RFC 7542 2.2)", p.Realm)
	}
	if p.MACIdentifier == MNIDNAI && !d.Has("realm") {
		d.SectionErrorf("%s: mac_identifier nai needs option realm (the NAI is <mac>@<realm>)", s)
	}
	if p.MACIdentifier != MNIDNAI && d.Has("realm") {
		d.Errorf("realm", "only used with mac_identifier nai")
	}
	p.IPv6 = d.Bool("ipv6", true)
	p.IPv4 = d.Bool("ipv4", true)
	if !p.IPv6 && !p.IPv4 {
		d.SectionErrorf("%s asks for neither IPv6 nor IPv4 home addressing", s)
	}
	c.Policy = p
	return unjoin(d.Err())
}

// validRealm checks RFC 7542 2.2's realm: dot-separated labels of
// letters, digits and hyphens, not starting or ending with a hyphen.
func validRealm(r string) bool {
	if len(r) > MaxNAILength-2 {
		return false
	}
	for _, l := range strings.Split(r, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			ch := l[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

// decodeClient reads one `config client`.
func (c *Config) decodeClient(s *uci.Section) []error {
	d := uci.NewDecoder(s)
	d.Require("mac")
	cl := Client{Name: s.Name, MAC: d.MAC("mac")}
	if cl.MAC != nil && cl.MAC[0]&1 != 0 {
		d.Errorf("mac", "%s is a multicast address", cl.MAC)
	}
	for _, other := range c.Clients {
		if cl.MAC != nil && bytes.Equal(other.MAC, cl.MAC) {
			d.Errorf("mac", "%s already has a client section", cl.MAC)
		}
	}
	cl.Serve = d.Bool("serve", true)
	cl.Identifier = d.String("identifier", "")
	if cl.Identifier != "" && !validNAI(cl.Identifier) {
		d.Errorf("identifier", "%q is not a NAI (printable, no blanks, at most %d octets; RFC 7542)", cl.Identifier, MaxNAILength)
	}
	cl.IPv6 = d.Bool("ipv6", c.Policy.IPv6)
	cl.IPv4 = d.Bool("ipv4", c.Policy.IPv4)
	if cl.Serve && !cl.IPv6 && !cl.IPv4 {
		d.SectionErrorf("%s asks for neither IPv6 nor IPv4 home addressing (use option serve '0' to exclude the client)", s)
	}
	c.Clients = append(c.Clients, cl)
	return unjoin(d.Err())
}

// validNAI accepts an identifier fit for the NAI Mobile Node Identifier
// (RFC 4283 3, RFC 7542): non-empty, printable UTF-8 without blanks or
// control characters, and short enough for the option.
func validNAI(s string) bool {
	if s == "" || len(s) > MaxNAILength {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}
