package lmaconfig

import "time"

// Protocol timers and limits, named as the RFCs and PMIPV6-MIB (RFC 6475)
// name them. They are the defaults of the options documented in
// docs/configuration.md.
const (
	// MinDelayBeforeBCEDelete: how long a binding survives a
	// deregistration, so a handover's new PBU can still claim it (RFC
	// 5213 9.1; pmip6LmaMinDelayBeforeBCEDelete, default 10000 ms).
	MinDelayBeforeBCEDelete = 10000 * time.Millisecond
	// MaxDelayBeforeNewBCEAssign: how long the LMA waits for the old
	// MAG's deregistration before creating a new mobility session (RFC
	// 5213 9.1; pmip6LmaMaxDelayBeforeNewBCEAssign, default 1500 ms).
	MaxDelayBeforeNewBCEAssign = 1500 * time.Millisecond
	// TimestampValidityWindow: the largest accepted difference between a
	// PBU's Timestamp and the LMA's clock (RFC 5213 9.1;
	// pmip6LmaTimestampValidityWindow, default 300 ms).
	TimestampValidityWindow = 300 * time.Millisecond
	// MIBTimerMax is the upper bound of the three PMIPV6-MIB timers
	// above (Integer32 range 1..65535 milliseconds).
	MIBTimerMax = 65535 * time.Millisecond

	// TimestampBasedApproachInUse is RFC 5213 9.3's default: the LMA
	// checks Timestamp options (RFC 5213 5.5) rather than sequence
	// numbers.
	TimestampBasedApproachInUse = true

	// HeartbeatInterval is RFC 5847 5 HEARTBEAT_INTERVAL (default 60 s).
	HeartbeatInterval = 60 * time.Second
	// MinHeartbeatInterval: RFC 5847 5 says the interval should not be
	// set below 30 s.
	MinHeartbeatInterval = 30 * time.Second
	// MissingHeartbeatsAllowed is RFC 5847 5 MISSING_HEARTBEATS_ALLOWED
	// (default 3).
	MissingHeartbeatsAllowed = 3

	// MaxBindingLifetime is the largest lifetime a PBA can carry: 16 bits
	// in units of 4 s (RFC 6275 6.1.8, used by RFC 5213 5.3.1).
	MaxBindingLifetime = 65535 * 4 * time.Second
	// BindingLifetimeUnit is the granularity of the Lifetime field.
	BindingLifetimeUnit = 4 * time.Second
	// DefaultLifetime is granted when a PBU asks for more than the LMA
	// allows and no max_lifetime is set.
	DefaultLifetime = 3600 * time.Second

	// DataplaneResyncInterval is the default period of the LMA's whole
	// data plane resynchronisation (dataplane_resync_interval).
	DataplaneResyncInterval = 10 * time.Minute
	// MinDataplaneResyncInterval bounds it from below: with a million
	// sessions one resynchronisation reads and plans two million kernel
	// objects.
	MinDataplaneResyncInterval = 10 * time.Second

	// DefaultStateDir holds the binding cache and pool allocations.
	DefaultStateDir = "/var/lib/pmip-lma"
	// DefaultControlSocket is where pmipctl talks to the daemon.
	DefaultControlSocket = "/run/pmip-lma/control.sock"
	// DefaultMetricsListen serves Prometheus metrics on loopback only.
	DefaultMetricsListen = "127.0.0.1:9436"

	// MaxNAILength: the NAI Mobile Node Identifier's one-octet length
	// covers the subtype (RFC 4283 3); RFC 7542 2.3 asks for 253 octets.
	MaxNAILength = 253
)

// MNIDType is the Mobile Node Identifier option subtype (RFC 4283 3, RFC
// 8371 4); the values are the IANA subtype numbers.
type MNIDType uint8

const (
	MNIDNAI   MNIDType = 1 // RFC 4283 3
	MNIDEUI48 MNIDType = 5 // RFC 8371 4.4
)
