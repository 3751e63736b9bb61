package ra

import (
	"time"

	"github.com/openpmip/pmip/mag/l2"
)

// The default router identity: the RFC 6543 addresses every MAG of a
// domain presents (RFC 5213 6.9.3; see l2.FixedRouterMAC).
var (
	DefaultRouterMAC       = l2.FixedRouterMAC
	DefaultRouterLinkLocal = l2.FixedRouterLinkLocal
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
