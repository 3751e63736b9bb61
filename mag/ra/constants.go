package ra

import (
	"net"
	"net/netip"
	"time"
)

// The fixed router identity every MAG of a domain presents on its access
// links (RFC 5213 6.9.3: all MAGs use the same link-local address and the
// same link-layer address, so a mobile node that moves between them sees
// no change of default router). RFC 6543 reserves these for that purpose:
// the IANA Ethernet address 00-00-5E-00-52-13 and the interface identifier
// 0200:5EFF:FE00:5213 derived from it, which no host derives for itself
// (RFC 6543 2, 3), so the MAG's link-local can never collide with a client's.
var (
	DefaultRouterMAC       = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}
	DefaultRouterLinkLocal = netip.MustParseAddr("fe80::200:5eff:fe00:5213")
)

// Protocol constants of RFC 4861 10 (router constants), named as there.
const (
	MaxInitialRtrAdvertInterval = 16 * time.Second
	MaxInitialRtrAdvertisements = 3
	MaxFinalRtrAdvertisements   = 3
	MinDelayBetweenRAs          = 3 * time.Second
	MaxRADelayTime              = 500 * time.Millisecond
)

// Bounds and defaults of the per-interface variables of RFC 4861 6.2.1.
const (
	// MaxRtrAdvInterval: no less than 4 s and no greater than 1800 s;
	// default 600 s.
	MinMaxRtrAdvInterval     = 4 * time.Second
	MaxMaxRtrAdvInterval     = 1800 * time.Second
	DefaultMaxRtrAdvInterval = 600 * time.Second
	// MinRtrAdvInterval: no less than 3 s and no greater than
	// 0.75 * MaxRtrAdvInterval; default 0.33 * MaxRtrAdvInterval.
	MinMinRtrAdvInterval = 3 * time.Second
	// AdvDefaultLifetime: 0 or between MaxRtrAdvInterval and 9000 s;
	// default 3 * MaxRtrAdvInterval.
	MaxAdvDefaultLifetime = 9000 * time.Second
	// AdvCurHopLimit: the value of the "Assigned Numbers" default, 64.
	DefaultAdvCurHopLimit = 64
)
