package mag

import "time"

// Engine constants, named after what they protect. The protocol timers
// themselves (InitialBindackTimeoutFirstReg, MaxBindackTimeout, heartbeat
// interval and allowance, binding lifetime) come from magconfig.
const (
	// RefreshNum/RefreshDen: a binding is refreshed (RFC 5213 6.9.1.3,
	// extending the binding lifetime) when this fraction of the lifetime
	// the LMA granted has passed. RFC 6275 11.7.1 leaves the moment to the
	// sender; a quarter of the lifetime left leaves room for the whole
	// retransmission schedule of RFC 5213 6.9.4 (about 78 s with the
	// defaults) within any lifetime above about 5 minutes.
	RefreshNum, RefreshDen = 3, 4

	// MinLifetime is the shortest binding lifetime the engine accepts
	// from a PBA: one 4-second unit of RFC 6275 6.1.7.
	MinLifetime = 4 * time.Second

	// RejectHoldoff is how long a client whose registration the LMA
	// rejected stays known as rejected: its triggers (RS, DHCP retries)
	// do not send the LMA a new PBU before then, so a refused client
	// cannot turn its retransmissions into PBU load.
	RejectHoldoff = 30 * time.Second

	// DefaultRulePriority is the priority of the reverse-tunnel policy
	// rules (RFC 5213 6.10.3): before OpenWrt's mwan3 rules (1000 and
	// above) and the main table (32766).
	DefaultRulePriority = 900
	// DefaultTable is the routing table whose default routes point into
	// the tunnel to the LMA (RFC 5213 6.10.3, reverse tunnelling).
	DefaultTable = 158
	// DefaultGRETableBase is the first of the per-client tables used with
	// GRE keys (RFC 5845 3: the uplink key is per mobility session, so
	// each client's default route carries its own key).
	DefaultGRETableBase = 1000

	// TunnelName is the MAG's tunnel device to its LMA (ip6tnl "mode
	// any", sit, or the flow-based GRE device).
	TunnelName = "pmip0"
)
