package dhcpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/clock"
)

// Protocol constants, named as the RFCs name them.
const (
	// RFC 2131 4.4.5: T1 defaults to 0.5 * duration_of_lease, T2 to
	// 0.875 * duration_of_lease.
	renewalFactorNum, renewalFactorDen     = 1, 2
	rebindingFactorNum, rebindingFactorDen = 7, 8

	// RFC 2131 4.1: a client retransmits with a randomized exponential
	// backoff of 4, 8, 16, 32 and 64 seconds; one transaction lasts at
	// most about two minutes.
	clientRetransmitMax = 64 * time.Second
)

// Defaults for Config fields left zero.
const (
	DefaultLeaseTime      = time.Hour
	DefaultMaxPending     = 128
	DefaultPendingTimeout = 2 * clientRetransmitMax
	DefaultTriggerRate    = 20 // new clients per second, after the burst
	// DefaultTriggerBurst lets a burst of 64 new clients (the MAG's
	// default max_pending_clients) reach the engine at once.
	DefaultTriggerBurst    = 64
	DefaultTriggerInterval = 2 * time.Second
	DefaultLogInterval     = 10 * time.Second
	DefaultLogBurst        = 10
)

// Config configures a Server.
type Config struct {
	// Engine answers lease lookups and receives attach triggers. Required.
	Engine Engine
	// RouterMAC is the source of every frame we send and the hardware
	// address our ARP answers give for the default router: the fixed MAG
	// link-layer address that every MAG presents on every access link
	// (RFC 5213 6.9.3), so a client that moves sees no router change.
	// Required.
	RouterMAC net.HardwareAddr

	// LeaseTime is the longest DHCP lease handed out; the lease is also
	// capped by the binding lifetime (Lease.Lifetime).
	LeaseTime time.Duration
	// DNS is given to clients whose Lease carries no DNS servers.
	DNS []netip.Addr
	// DomainName is the Domain Name option (RFC 2132 3.17), if not empty.
	DomainName string
	// MTU is the Interface MTU option (RFC 2132 5.1), if not zero; useful
	// because the tunnel to the LMA shrinks the path MTU. 68..65535.
	MTU int

	// MaxPending bounds the clients without a lease the server remembers,
	// queued for the trigger rate or waiting for LeaseReady (the flood
	// bound of issue 4: beyond it DHCPDISCOVERs from new MACs are dropped
	// and counted).
	MaxPending int
	// PendingTimeout is how long a remembered transaction waits for
	// LeaseReady before it is forgotten.
	PendingTimeout time.Duration
	// TriggerRate and TriggerBurst pace OnClientSeen calls for new
	// clients overall (token bucket, per second); a new client without a
	// token queues (within MaxPending) until one accrues.
	TriggerRate  float64
	TriggerBurst int
	// TriggerInterval is the least time between two OnClientSeen calls
	// for the same client.
	TriggerInterval time.Duration

	// LogInterval and LogBurst rate-limit the warnings about dropped
	// packets: at most LogBurst per LogInterval, then one summary.
	LogInterval time.Duration
	LogBurst    int

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the time source; nil means the wall clock.
	Clock clock.Clock
}

var errConfig = errors.New("dhcpserver: invalid config")

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Engine == nil {
		return c, fmt.Errorf("%w: no Engine", errConfig)
	}
	if len(c.RouterMAC) != 6 || !mac(c.RouterMAC).isUnicast() {
		return c, fmt.Errorf("%w: RouterMAC %v is not a unicast Ethernet address", errConfig, c.RouterMAC)
	}
	for _, d := range c.DNS {
		if !d.Is4() {
			return c, fmt.Errorf("%w: DNS server %v is not IPv4", errConfig, d)
		}
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		// RFC 2132 5.1: the minimum legal value for the MTU is 68.
		return c, fmt.Errorf("%w: MTU %d outside 68..65535", errConfig, c.MTU)
	}
	if len(c.DomainName) > 255 {
		return c, fmt.Errorf("%w: domain name longer than 255 bytes", errConfig)
	}
	if c.LeaseTime < 0 || c.MaxPending < 0 || c.PendingTimeout < 0 || c.TriggerRate < 0 ||
		c.TriggerBurst < 0 || c.TriggerInterval < 0 || c.LogInterval < 0 || c.LogBurst < 0 {
		return c, fmt.Errorf("%w: negative value", errConfig)
	}
	if c.LeaseTime == 0 {
		c.LeaseTime = DefaultLeaseTime
	}
	if c.LeaseTime < time.Second {
		return c, fmt.Errorf("%w: LeaseTime %v below one second", errConfig, c.LeaseTime)
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.PendingTimeout == 0 {
		c.PendingTimeout = DefaultPendingTimeout
	}
	if c.TriggerRate == 0 {
		c.TriggerRate = DefaultTriggerRate
	}
	if c.TriggerBurst == 0 {
		c.TriggerBurst = DefaultTriggerBurst
	}
	if c.TriggerInterval == 0 {
		c.TriggerInterval = DefaultTriggerInterval
	}
	if c.LogInterval == 0 {
		c.LogInterval = DefaultLogInterval
	}
	if c.LogBurst == 0 {
		c.LogBurst = DefaultLogBurst
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return c, nil
}
