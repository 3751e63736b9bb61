package magconfig

import (
	"net"
	"net/netip"
	"time"
)

// Protocol timers and limits, named as the RFCs name them. They are the
// defaults of the options documented in docs/configuration.md.
const (
	// InitialBindackTimeoutFirstReg is the first retransmission timeout of
	// an initial Proxy Binding Update: RFC 5213 6.9.4 points to RFC 6275
	// 13, whose default is 1.5 s.
	InitialBindackTimeoutFirstReg = 1500 * time.Millisecond
	// MaxBindackTimeout caps the exponential backoff of retransmissions
	// (RFC 6275 12 MAX_BINDACK_TIMEOUT, 32 s; RFC 5213 6.9.4).
	MaxBindackTimeout = 32 * time.Second

	// HeartbeatInterval is RFC 5847 5 HEARTBEAT_INTERVAL (default 60 s).
	HeartbeatInterval = 60 * time.Second
	// MinHeartbeatInterval: RFC 5847 5 says the interval should not be
	// set below 30 s.
	MinHeartbeatInterval = 30 * time.Second
	// MissingHeartbeatsAllowed is RFC 5847 5 MISSING_HEARTBEATS_ALLOWED
	// (default 3).
	MissingHeartbeatsAllowed = 3

	// MaxBindingLifetime is the largest lifetime a PBU can carry: 16 bits
	// in units of 4 s (RFC 6275 6.1.7, used by RFC 5213 6.9.1.1).
	MaxBindingLifetime = 65535 * 4 * time.Second
	// BindingLifetimeUnit is the granularity of the Lifetime field.
	BindingLifetimeUnit = 4 * time.Second
	// DefaultBindingLifetime is what the MAG asks for. The LMA may grant
	// less (RFC 5213 5.3.1).
	DefaultBindingLifetime = 3600 * time.Second

	// TimestampBasedApproachInUse is RFC 5213 9.3's default: PBUs carry a
	// Timestamp option (RFC 5213 5.5).
	TimestampBasedApproachInUse = true

	// DefaultSilenceTimeout detaches a client the MAG has not heard from
	// for this long when no hostapd disconnect event arrives.
	DefaultSilenceTimeout = 300 * time.Second
	// DefaultDHCPLeaseTime is the lease the collocated DHCPv4 server
	// (RFC 5844 3.4, DHCP server collocated with the MAG) grants.
	DefaultDHCPLeaseTime = 3600 * time.Second
	// DefaultMaxPendingClients bounds the registrations in flight, so a
	// flood of DHCP DISCOVERs from random MACs exhausts nothing.
	DefaultMaxPendingClients = 64

	// DefaultIdentityWait is how long a client seen first by its own
	// frames waits for hostapd's station event with its 802.1X identity.
	// hostapd reports a station when its 4-way handshake completes; the
	// client's first RS, DAD probe or DHCPDISCOVER follow within
	// milliseconds, while the hook chain (hostapd_cli -a, the action
	// script, `hostapd_cli sta`, the MAG's socket) takes tens of
	// milliseconds on an AP and a few hundred under emulation. 2 s covers
	// it with room and costs a client without a hostapd event (a wired
	// host on the same bridge) no more than its DHCP client's first
	// retransmission would (RFC 2131 4.1: 4 s).
	DefaultIdentityWait = 2 * time.Second
	// MaxIdentityWait bounds option identity_wait: well below the access
	// side's pending timeouts (sniff 30 s), which would otherwise forget
	// the waiting client first.
	MaxIdentityWait = 10 * time.Second

	// DefaultHostapdCtrlDir is hostapd's control interface directory on
	// OpenWrt (ctrl_interface=/var/run/hostapd), one socket per BSS.
	DefaultHostapdCtrlDir = "/var/run/hostapd"

	// DefaultHostapdSocket is where the hostapd hooks send station events.
	DefaultHostapdSocket = "/var/run/pmip-mag/hostapd.sock"

	// MaxNAILength: the Mobile Node Identifier option's length is one
	// octet including the subtype (RFC 4283 3), and RFC 7542 2.3 asks
	// for at least 253 octets to be supported: 253 it is.
	MaxNAILength = 253
)

// DefaultLinkLocalAddress is the FixedMAGLinkLocalAddressOnAllAccessLinks
// (RFC 5213 9.3) every MAG of the domain presents unless configured
// otherwise, so a client moving between APs sees the same default router
// (RFC 5213 6.9.3). It is the link-local address built from the interface
// identifier that RFC 6543 reserves for exactly this purpose.
var DefaultLinkLocalAddress = netip.MustParseAddr("fe80::200:5eff:fe00:5213")

// DefaultLinkLayerAddress is the FixedMAGLinkLayerAddressOnAllAccessLinks
// (RFC 5213 9.3): 00-00-5E-00-52-13, the IANA unicast MAC that RFC 6543
// reserves for PMIPv6 MAGs, so no vendor or local address can collide.
var DefaultLinkLayerAddress = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}

// AccessTechnology is the Access Technology Type of an access link (RFC
// 5213 8.5; IANA "Access Technology Type Option Type Values").
type AccessTechnology uint8

// Values of RFC 5213 8.5 (0 is reserved).
const (
	ATTVirtual  AccessTechnology = 1 // logical network interface
	ATTPPP      AccessTechnology = 2
	ATTIEEE8023 AccessTechnology = 3 // Ethernet
	ATTIEEE8011 AccessTechnology = 4 // Wi-Fi (802.11a/b/g and later)
	ATTIEEE8016 AccessTechnology = 5 // 802.16e
)

// attNames are the words docs/configuration.md documents for option att.
var attNames = map[string]AccessTechnology{
	"virtual": ATTVirtual,
	"ppp":     ATTPPP,
	"802.3":   ATTIEEE8023,
	"802.11":  ATTIEEE8011,
	"802.16e": ATTIEEE8016,
}

// MNIDType is the Mobile Node Identifier option subtype the MAG sends
// (RFC 4283 3, RFC 8371 4); the values are the IANA subtype numbers.
type MNIDType uint8

const (
	MNIDNAI   MNIDType = 1 // RFC 4283 3: Network Access Identifier
	MNIDEUI48 MNIDType = 5 // RFC 8371 4.4: the client's 48-bit MAC
)
