// Package magconfig is the MAG's configuration: /etc/config/pmip on an
// OpenWrt access point, in UCI syntax (internal/uci), documented option by
// option in docs/configuration.md with an example in docs/mag.conf.example.
//
// Load parses, applies defaults and validates, and returns a plain Config
// the engine uses directly. It has no side effects, so a reload is Load
// again and a comparison with the running Config.
package magconfig

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/uci"
)

// Config is the whole MAG configuration.
type Config struct {
	// Path is the file it was read from.
	Path string

	// Enabled is false when the operator turned the service off (option
	// enabled '0'); the init script does not start the daemon then.
	Enabled bool

	// LMAAddress is the LMA's IPv6 address (LMAA, RFC 5213 2.2), the
	// destination of PBUs. Always set when Transport is IPv6.
	LMAAddress netip.Addr
	// LMAIPv4Address is the LMA's IPv4 address (IPv4-LMAA, RFC 5844 2),
	// set when Transport is IPv4.
	LMAIPv4Address netip.Addr
	// Transport is the network between MAG and LMA (RFC 5844 4).
	Transport Transport
	// ProxyCoA is the MAG's IPv6 Proxy Care-of Address (RFC 5213 2.2),
	// the tunnel's local end over IPv6 transport. Always set when
	// Transport is IPv6.
	ProxyCoA netip.Addr
	// IPv4ProxyCoA is the MAG's IPv4 Proxy Care-of Address (RFC 5844 2),
	// set when Transport is IPv4.
	IPv4ProxyCoA netip.Addr
	// Tunnel is the encapsulation towards the LMA.
	Tunnel Tunnel

	// BindingLifetime is the lifetime the MAG requests in PBUs, a
	// multiple of 4 s (RFC 6275 6.1.7).
	BindingLifetime time.Duration
	// InitialBindackTimeoutFirstReg and MaxBindackTimeout drive PBU
	// retransmission with exponential backoff (RFC 5213 6.9.4).
	InitialBindackTimeoutFirstReg time.Duration
	MaxBindackTimeout             time.Duration
	// Timestamps is TimestampBasedApproachInUse (RFC 5213 9.3): PBUs
	// carry a Timestamp option (RFC 5213 5.5, 8.8).
	Timestamps bool
	// HeartbeatInterval and MissingHeartbeatsAllowed are RFC 5847 5's
	// HEARTBEAT_INTERVAL and MISSING_HEARTBEATS_ALLOWED. A zero interval
	// turns heartbeats off.
	HeartbeatInterval        time.Duration
	MissingHeartbeatsAllowed int

	// LinkLocalAddress and LinkLayerAddress are what the MAG presents as
	// default router on every access link: the domain-wide
	// FixedMAGLinkLocalAddressOnAllAccessLinks and
	// FixedMAGLinkLayerAddressOnAllAccessLinks (RFC 5213 9.3, 6.9.3).
	LinkLocalAddress netip.Addr
	LinkLayerAddress net.HardwareAddr

	// HostapdSocket is the unix socket the hostapd hooks write to.
	HostapdSocket string
	// HostapdHook is how hostapd's station events reach the MAG:
	// HookCtrl (the daemon attaches to hostapd's control sockets itself,
	// hostapd.Monitor; the default when HostapdCtrlDir is set), HookCLI
	// (the init script runs hostapd_cli -a) or HookUbus (ubus subscribe).
	HostapdHook string
	// HostapdCtrlDir is hostapd's control socket directory (its
	// ctrl_interface): where the monitor attaches (HookCtrl), and where
	// the MAG asks about a station heard before its event (IdentityWait);
	// "" (option 'off') never asks.
	HostapdCtrlDir string
	// SilenceTimeout detaches a client not heard from for this long.
	SilenceTimeout time.Duration
	// DHCPLeaseTime is the collocated DHCPv4 server's lease (RFC 5844 3.4).
	DHCPLeaseTime time.Duration
	// MaxPendingClients bounds the registrations in flight, clients
	// waiting for their identity (IdentityWait) included.
	MaxPendingClients int
	// IdentityWait is how long a client first seen by its own frames (RS,
	// DAD NS, DHCP) on an access link with the hostapd trigger waits for
	// hostapd to report it, so that it registers once, under its 802.1X
	// identity, instead of first under the MAC-derived identifier. A
	// hostapd event ends the wait at once; after IdentityWait the client
	// registers under the MAC-derived identifier. 0 registers at once.
	IdentityWait time.Duration
	// LogLevel is the slog level of the daemon's logger.
	LogLevel slog.Level

	// Access lists the access links, in file order.
	Access []Access
	// Policy is how clients are identified and what they ask for.
	Policy Policy
	// Clients are per-MAC overrides of Policy, in file order.
	Clients []Client
}

// Values of HostapdHook.
const (
	HookCtrl = "ctrl" // the daemon's own monitor on hostapd's control sockets
	HookCLI  = "cli"  // hostapd-hooks/pmip-hostapd-action under hostapd_cli -a
	HookUbus = "ubus" // hostapd-hooks/pmip-ubus-subscriber
)

// Transport is the network carrying signalling and tunnels.
type Transport string

const (
	TransportIPv6 Transport = "ipv6" // RFC 5213: MH over IPv6
	TransportIPv4 Transport = "ipv4" // RFC 5844 4: MH in UDP/IPv4, port 5436
)

// Tunnel is the encapsulation between MAG and LMA.
type Tunnel string

const (
	// TunnelIP6IP6 is IPv6 (and IPv4, RFC 5844) in IPv6 over IPv6
	// transport (RFC 5213 6.10).
	TunnelIP6IP6 Tunnel = "ip6ip6"
	// TunnelIPIP is IPv6 (and IPv4) in IPv4 over IPv4 transport (RFC
	// 5844 4).
	TunnelIPIP Tunnel = "ipip"
	// TunnelGRE is GRE with per-client keys (RFC 5845) over either
	// transport.
	TunnelGRE Tunnel = "gre"
)

// Access is one access link: an interface (usually a radio's bridge) on
// which clients attach.
type Access struct {
	// Name is the section name.
	Name string
	// Interface is the Linux interface the MAG serves (RAs, DHCPv4,
	// routes to clients).
	Interface string
	// ATT is the Access Technology Type sent for clients of this link
	// (RFC 5213 8.5).
	ATT AccessTechnology
	// Triggers are the attach triggers enabled on this link.
	Triggers Triggers
	// HostapdInterfaces are the hostapd BSS interfaces (wlan0,
	// phy0-ap0...) whose station events attach clients on this link;
	// empty unless Triggers.Hostapd.
	HostapdInterfaces []string
}

// Triggers says which events attach a client (docs/ARCHITECTURE.md).
type Triggers struct {
	Hostapd bool // hostapd association / 802.1x authorization
	DHCP    bool // DHCPv4 DISCOVER or REQUEST
	RS      bool // ICMPv6 Router Solicitation
	NS      bool // ICMPv6 Neighbor Solicitation for DAD
}

// Policy is the default client policy.
type Policy struct {
	// Use8021XIdentity: when hostapd reports an 802.1x identity for the
	// client, it becomes the NAI Mobile Node Identifier.
	Use8021XIdentity bool
	// MACIdentifier is the identifier derived from the MAC otherwise.
	MACIdentifier MNIDType
	// Realm is the NAI realm of MAC-derived NAIs (<mac>@<realm>).
	Realm string
	// IPv6 asks for home network prefixes (RFC 5213 6.9.1.1).
	IPv6 bool
	// IPv4 asks for an IPv4 home address (RFC 5844 3.1.1).
	IPv4 bool
}

// Client overrides the policy for one MAC address.
type Client struct {
	Name string // section name, "" if anonymous
	MAC  net.HardwareAddr
	// Serve is false for a client the MAG must not register (it gets no
	// PMIPv6 service on this AP).
	Serve bool
	// Identifier, when set, is the NAI sent for this client.
	Identifier string
	IPv6       bool
	IPv4       bool
}

// Section types and their options; docs/configuration.md documents each.
const (
	typeMAG    = "mag"
	typeAccess = "access"
	typePolicy = "policy"
	typeClient = "client"
)

// Load reads, defaults and validates the MAG configuration at path.
// Every problem found is reported, each as "path:line: what is wrong",
// joined into one error.
func Load(path string) (Config, error) {
	f, err := uci.ParseFile(path)
	if err != nil {
		return Config{}, err
	}
	return FromFile(f)
}

// Parse is Load for a configuration already in memory; path names it in
// errors.
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
	errs := f.CheckTypes(typeMAG, typeAccess, typePolicy, typeClient)

	main, err := f.Only(typeMAG, "the MAG needs at least the LMA's address")
	if err != nil {
		errs = append(errs, err)
	}
	if main != nil {
		errs = append(errs, c.decodeMain(main)...)
	}

	for _, s := range f.SectionsOf(typeAccess) {
		errs = append(errs, c.decodeAccess(s)...)
	}
	if len(f.SectionsOf(typeAccess)) == 0 {
		errs = append(errs, &uci.Error{Path: f.Path, Msg: "no `config access` section: the MAG needs at least one access interface"})
	}

	policies := f.SectionsOf(typePolicy)
	if len(policies) > 1 {
		errs = append(errs, policies[1].Errorf("second `config policy` section (the first is at line %d)", policies[0].Line))
	}
	c.Policy = defaultPolicy()
	if len(policies) > 0 {
		errs = append(errs, c.decodePolicy(policies[0])...)
	}
	for _, s := range f.SectionsOf(typeClient) {
		errs = append(errs, c.decodeClient(s)...)
	}
	if len(errs) > 0 {
		uci.SortErrors(errs)
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}
