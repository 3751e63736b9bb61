package ctl

import (
	"net/netip"
	"time"
)

// Methods of pmip-lma.
const (
	MethodBindings  = "bindings"  // BindingsParams -> BindingsResult
	MethodPools     = "pools"     // no params -> PoolsResult
	MethodMAGs      = "mags"      // no params -> MAGsResult
	MethodRevoke    = "revoke"    // RevokeParams -> RevokeResult
	MethodCounters  = "counters"  // no params -> Counters
	MethodDataplane = "dataplane" // no params -> DataplaneResult
)

// BindingsParams filter the Binding Cache; zero fields match everything.
type BindingsParams struct {
	// MobileNode is a NAI or, for an EUI-48 identifier, a MAC address.
	MobileNode string `json:"mobile_node,omitempty"`
	// MAG is the MAG's configured name.
	MAG string `json:"mag,omitempty"`
	// Prefix selects sessions with a home prefix or IPv4 home address
	// inside it, or a home prefix containing it.
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Limit caps the answer; 0 means no cap (the cache may hold a
	// million entries).
	Limit int `json:"limit,omitempty"`
}

// BindingsResult lists Binding Cache entries by id.
type BindingsResult struct {
	Bindings []Binding `json:"bindings"`
	// Total is the number of entries in the cache (all of them, not
	// only those selected).
	Total int `json:"total"`
	// Truncated is set when Limit cut the list.
	Truncated bool `json:"truncated,omitempty"`
}

// Binding is one Binding Cache entry (RFC 5213 5.1).
type Binding struct {
	ID               uint64         `json:"id"`
	MobileNode       string         `json:"mobile_node"`
	MNIDType         string         `json:"mn_id_type"`
	LinkLayerID      string         `json:"link_layer_id,omitempty"`
	AccessTechnology string         `json:"access_technology"`
	MAG              string         `json:"mag"`
	ProxyCoA         netip.Addr     `json:"proxy_coa"`
	Tunnel           string         `json:"tunnel"`
	HomePrefixes     []netip.Prefix `json:"home_prefixes,omitempty"`
	// IPv4HomeAddress carries the client's prefix length.
	IPv4HomeAddress   netip.Prefix `json:"ipv4_home_address,omitzero"`
	IPv4DefaultRouter netip.Addr   `json:"ipv4_default_router,omitzero"`
	// GRE keys (RFC 5845), when negotiated.
	GREUplinkKey   *uint32 `json:"gre_uplink_key,omitempty"`
	GREDownlinkKey *uint32 `json:"gre_downlink_key,omitempty"`
	Policy         string  `json:"policy"`
	// State is "active" or "deregistered" (waiting out
	// MinDelayBeforeBCEDelete, RFC 5213 5.3.5).
	State      string    `json:"state"`
	Lifetime   Duration  `json:"lifetime"`
	Registered time.Time `json:"registered"`
	Updated    time.Time `json:"updated"`
	Expires    time.Time `json:"expires"`
}

// PoolsResult lists the address pools.
type PoolsResult struct {
	Pools []Pool `json:"pools"`
}

// Pool is one pool's use.
type Pool struct {
	Name   string       `json:"name"`
	Family string       `json:"family"`
	Prefix netip.Prefix `json:"prefix"`
	Size   uint64       `json:"size"`
	Used   uint64       `json:"used"`
	Free   uint64       `json:"free"`
}

// MAGsResult lists the authorized MAGs.
type MAGsResult struct {
	MAGs []MAG `json:"mags"`
}

// MAG is one authorized MAG and its liveness (RFC 5847).
type MAG struct {
	Name      string       `json:"name"`
	Addresses []netip.Addr `json:"addresses"`
	Bindings  int          `json:"bindings"`
	// Heartbeat is "up", "failed" or "unknown" (not heard from yet).
	Heartbeat        string    `json:"heartbeat"`
	MissedHeartbeats int       `json:"missed_heartbeats"`
	RestartCounter   *uint32   `json:"restart_counter,omitempty"`
	LastHeard        time.Time `json:"last_heard,omitzero"`
}

// RevokeParams name the mobile node whose sessions end.
type RevokeParams struct {
	MobileNode string `json:"mobile_node"`
}

// RevokeResult says how many sessions were revoked (RFC 5846).
type RevokeResult struct {
	Revoked int `json:"revoked"`
}

// Counters are the daemon's counters by name (monotonic unless the name
// says otherwise), plus PBAs by status.
type Counters struct {
	Counters     map[string]uint64 `json:"counters"`
	PBAsByStatus map[string]uint64 `json:"pbas_by_status"`
	// RestartCounter is the LMA's RFC 5847 restart counter.
	RestartCounter uint32 `json:"restart_counter"`
}

// DataplaneResult is the kernel state the daemon owns, rendered one
// object a line, and what implements it.
type DataplaneResult struct {
	// Driver is "netlink" or "none".
	Driver string `json:"driver"`
	State  string `json:"state"`
}

// Duration is a time.Duration that reads and writes JSON as Go's
// duration text ("1h0m0s").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }
