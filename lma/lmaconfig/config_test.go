package lmaconfig

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/uci"
)

var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func TestLoadExample(t *testing.T) {
	c, err := Load("../../docs/lma.conf.example")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	all := []Tunnel{TunnelIP6IP6, TunnelIPIP, TunnelGRE}
	want := Config{
		Path:                       "../../docs/lma.conf.example",
		Address:                    a("2001:db8:ffff::1"),
		IPv4Address:                a("198.51.100.1"),
		StateDir:                   "/var/lib/pmip-lma",
		MetricsListen:              "127.0.0.1:9436",
		ControlSocket:              "/run/pmip-lma/control.sock",
		LogLevel:                   slog.LevelInfo,
		MinDelayBeforeBCEDelete:    10 * time.Second,
		MaxDelayBeforeNewBCEAssign: 1500 * time.Millisecond,
		TimestampValidityWindow:    300 * time.Millisecond,
		Timestamps:                 true,
		HeartbeatInterval:          60 * time.Second,
		MissingHeartbeatsAllowed:   3,
		DefaultLifetime:            time.Hour,
		MaxLifetime:                24 * time.Hour,
		DataplaneResyncInterval:    10 * time.Minute,
		MAGs: []MAG{
			{Name: "ap1", Addresses: []netip.Addr{a("2001:db8:1:1::2")}, Tunnels: []Tunnel{TunnelIP6IP6, TunnelGRE}},
			{Name: "ap2", Addresses: []netip.Addr{a("2001:db8:1:2::2"), a("198.51.100.22")}, Tunnels: all},
		},
		Pools: []Pool{
			{Name: "hnp", Family: PoolIPv6, Prefix: p("2001:db8:100::/48"), DelegatedLength: 64},
			{Name: "v4", Family: PoolIPv4, Prefix: p("10.20.0.0/16"), ClientPrefixLength: 16, DefaultRouter: a("10.20.0.1")},
		},
		Policies: []Policy{
			{Name: "staff", Match: "*@example.net", PrefixPool: "hnp", PrefixCount: 1, IPv4: IPv4Pool, IPv4Pool: "v4", Tunnels: all},
			{Name: "ap_clients", Match: "*@ap.example.net", PrefixPool: "hnp", PrefixCount: 1, IPv4: IPv4Pool, IPv4Pool: "v4", Tunnels: all},
			{Name: "printer", Match: "printer-3rd-floor@example.net", HomePrefixes: []netip.Prefix{p("2001:db8:200:1::/64")}, PrefixCount: 1,
				IPv4: IPv4Static, IPv4Address: p("10.30.0.5/24"), IPv4DefaultRouter: a("10.30.0.1"), Tunnels: []Tunnel{TunnelGRE}, GREKeyRequired: true},
			{Name: "sensor", Match: "02:00:5e:10:00:07", PrefixCount: 1, IPv4: IPv4Pool, IPv4Pool: "v4", Tunnels: all},
		},
	}
	if diff := cmp.Diff(want, c, addrCmp); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	if got := c.Pools[0].Size(); got != 1<<16 {
		t.Errorf("hnp pool size = %d, want 65536 /64s", got)
	}
	if got := c.Pools[1].Size(); got != 1<<16-3 {
		t.Errorf("v4 pool size = %d, want 65533 (no network, broadcast, router)", got)
	}
}

// The smallest file gets the RFC 5213 9.1 / PMIPV6-MIB and RFC 5847
// defaults.
func TestDefaults(t *testing.T) {
	c, err := Parse("lma.conf", []byte("config lma main\n\toption address '2001:db8::1'\nconfig policy all\n\toption match '*'\n\tlist home_prefix '2001:db8:9::/64'\n"))
	if err == nil {
		t.Fatal("a static prefix with match * was accepted")
	}
	c, err = Parse("lma.conf", []byte("config lma main\n\toption address '2001:db8::1'\n"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"MinDelayBeforeBCEDelete", c.MinDelayBeforeBCEDelete, 10000 * time.Millisecond},
		{"MaxDelayBeforeNewBCEAssign", c.MaxDelayBeforeNewBCEAssign, 1500 * time.Millisecond},
		{"TimestampValidityWindow", c.TimestampValidityWindow, 300 * time.Millisecond},
		{"TimestampBasedApproachInUse", c.Timestamps, true},
		{"HEARTBEAT_INTERVAL", c.HeartbeatInterval, 60 * time.Second},
		{"MISSING_HEARTBEATS_ALLOWED", c.MissingHeartbeatsAllowed, 3},
		{"DefaultLifetime", c.DefaultLifetime, time.Hour},
		{"MaxLifetime", c.MaxLifetime, MaxBindingLifetime},
		{"StateDir", c.StateDir, DefaultStateDir},
		{"ControlSocket", c.ControlSocket, DefaultControlSocket},
		{"MetricsListen", c.MetricsListen, DefaultMetricsListen},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "main section",
			in: `config lma 'main'
	option address '10.0.0.1'
	option min_delay_before_bce_delete '70000'
	option timestamp_validity_window '0.3'
	option timestamps '0'
	option heartbeat_interval '5'
	option default_lifetime '7200'
	option max_lifetime '3602'
	option metrics_listen 'localhost'
	option state_dir 'var/lib'
	option log_level 'verbose'
	option dataplane_resync_interval '5'
`,
			want: []string{
				`lma.conf:2: option address: "10.0.0.1" is not an IPv6 address`,
				"lma.conf:3: option min_delay_before_bce_delete: 70000 milliseconds is out of range [1, 65535]",
				`lma.conf:4: option timestamp_validity_window: "0.3" is not a number of milliseconds`,
				"lma.conf:4: option timestamp_validity_window: set but timestamps are off (sequence numbers are used, RFC 5213 5.5)",
				"lma.conf:6: option heartbeat_interval: 5 seconds is below RFC 5847's minimum of 30 (0 turns probing off)",
				"lma.conf:7: option default_lifetime: 7200 seconds is above max_lifetime 3602",
				"lma.conf:8: option max_lifetime: 3602 seconds is not a multiple of 4 (the PBA carries units of 4 s, RFC 6275 6.1.8)",
				`lma.conf:9: option metrics_listen: "localhost" is not host:port (or off)`,
				`lma.conf:10: option state_dir: "var/lib" is not an absolute path`,
				`lma.conf:11: option log_level: "verbose" is not one of debug, info, warn, error`,
				"lma.conf:12: option dataplane_resync_interval: 5 seconds is below the minimum of 10 (0 turns the periodic resynchronisation off)",
			},
		},
		{
			name: "mags and pools",
			in: `config lma 'main'
	option address '2001:db8::1'
config mag 'a'
	list address '2001:db8:1::2'
config mag 'b'
	list address '2001:db8:1::2'
	list address '198.51.100.3'
	list tunnel 'vxlan'
config mag
config pool 'p6'
	option prefix '2001:db8:100::/48'
	option delegated_length '40'
config pool 'p6b'
	option prefix '2001:db8:100:8000::/49'
config pool 'p4'
	option subnet '10.20.0.0/16'
	option prefix_length '24'
	option default_router '10.21.0.1'
config pool 'both'
	option prefix '2001:db8:300::/48'
	option subnet '10.30.0.0/16'
config pool 'neither'
config pool 'own'
	option prefix '2001:db8::/48'
config pool 'magnet'
	option prefix '2001:db8:1::/48'
`,
			want: []string{
				"lma.conf:6: option address: 2001:db8:1::2 is already the address of mag 'a'",
				"lma.conf:6: option address: 198.51.100.3 is IPv4 but config lma has no ipv4_address for IPv4 transport (RFC 5844 4)",
				`lma.conf:8: option tunnel: "vxlan" is not one of ip6ip6, ipip, gre`,
				"lma.conf:8: option tunnel: no valid tunnel type: this MAG could never register a client",
				"lma.conf:9: config mag needs a name: config mag 'name'",
				"lma.conf:9: config mag needs option address",
				"lma.conf:12: option delegated_length: /40 is shorter than the pool's 2001:db8:100::/48",
				"lma.conf:14: option prefix: 2001:db8:100:8000::/49 overlaps pool 'p6' (2001:db8:100::/48): an address would be handed out twice",
				"lma.conf:17: option prefix_length: /24 is longer than the subnet 10.20.0.0/16: the default router would be off-link for some clients",
				"lma.conf:18: option default_router: 10.21.0.1 is outside the subnet 10.20.0.0/16",
				"lma.conf:19: config pool 'both' has both prefix (IPv6 pool) and subnet (IPv4 pool): one pool, one family",
				"lma.conf:22: config pool 'neither' needs option prefix (IPv6 pool) or option subnet (IPv4 pool)",
				"lma.conf:24: option prefix: 2001:db8::/48 contains the LMA's own address 2001:db8::1",
				"lma.conf:26: option prefix: 2001:db8:1::/48 contains 2001:db8:1::2, the address of mag 'a'",
			},
		},
		{
			name: "policies",
			in: `config lma 'main'
	option address '2001:db8::1'
config pool 'hnp'
	option prefix '2001:db8:100::/48'
config pool 'v4'
	option subnet '10.20.0.0/16'
	option default_router '10.20.0.1'
config policy 'a'
	option match '*@example.net'
	option prefix_pool 'hpn'
	option ipv4_pool 'hnp'
config policy 'b'
	option match '*@example.net'
	list home_prefix '2001:db8:100:5::/64'
config policy 'c'
	option match 'x*y'
	option prefix_count '2'
config policy 'd'
	option match 'carol@example.net'
	list home_prefix '2001:db8:7::/64'
	option ipv4_address '10.20.0.9/16'
	option ipv4_default_router '10.20.0.1'
	option gre_key_required '1'
	list tunnel 'ip6ip6'
config policy 'e'
	option match 'dave@example.net'
	list home_prefix '2001:db8:7::/56'
	option prefix_pool 'hnp'
`,
			want: []string{
				`lma.conf:10: option prefix_pool: no pool 'hpn' (did you mean 'hnp'?)`,
				`lma.conf:11: option ipv4_pool: pool 'hnp' is an IPv6 pool`,
				`lma.conf:13: option match: "*@example.net" is already matched by policy 'a'`,
				`lma.conf:14: option home_prefix: static prefixes need an exact match, not "*@example.net": every mobile node it matches would get the same prefix`,
				"lma.conf:14: option home_prefix: 2001:db8:100:5::/64 lies in pool 'hnp' (2001:db8:100::/48): it could be handed out twice",
				"lma.conf:15: config policy 'c' assigns neither home prefixes nor an IPv4 home address",
				`lma.conf:16: option match: "x*y" is not a NAI, *@<realm>, * or a MAC address`,
				"lma.conf:17: option prefix_count: set without prefix_pool",
				"lma.conf:21: option ipv4_address: 10.20.0.9/32 lies in pool 'v4' (10.20.0.0/16): it could be handed out twice",
				"lma.conf:23: option gre_key_required: set but tunnel gre is not allowed",
				"lma.conf:27: option home_prefix: 2001:db8:7::/56 overlaps 2001:db8:7::/64 of policy 'd'",
				"lma.conf:28: option prefix_pool: set together with home_prefix: choose static prefixes or a pool",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lma.conf", []byte(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if diff := cmp.Diff(strings.Join(tt.want, "\n"), err.Error()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var ue *uci.Error
			if !errors.As(err, &ue) {
				t.Errorf("error is not a *uci.Error: %T", err)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	c, err := Load("../../docs/lma.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ  MNIDType
		id   string
		want string // policy name, "" for unknown (status 152)
	}{
		{MNIDNAI, "printer-3rd-floor@example.net", "printer"},
		{MNIDNAI, "alice@example.net", "staff"},
		{MNIDNAI, "alice@EXAMPLE.net", "staff"},
		{MNIDNAI, "02005e100009@ap.example.net", "ap_clients"},
		{MNIDNAI, "mallory@example.org", ""},
		{MNIDNAI, "norealm", ""},
		{MNIDEUI48, "\x02\x00\x5e\x10\x00\x07", "sensor"},
		{MNIDEUI48, "\x02\x00\x5e\x10\x00\x08", ""},
		{MNIDEUI48, "\x02\x00", ""},
		{3, "001010123456789", ""},
	}
	for _, tt := range tests {
		p, ok := c.Lookup(tt.typ, []byte(tt.id))
		got := ""
		if ok {
			got = p.Name
		}
		if got != tt.want {
			t.Errorf("Lookup(%d, %q) = %q, want %q", tt.typ, tt.id, got, tt.want)
		}
	}
	// A catch-all serves what nothing else matches, after exact and realm.
	c.Policies = append(c.Policies, Policy{Name: "rest", Match: "*"})
	if p, ok := c.Lookup(MNIDNAI, []byte("mallory@example.org")); !ok || p.Name != "rest" {
		t.Errorf("Lookup with * = %v, %v", p, ok)
	}
	if p, ok := c.Lookup(MNIDNAI, []byte("alice@example.net")); !ok || p.Name != "staff" {
		t.Errorf("realm policy lost to *: %v", p)
	}
}

func TestMAGByAddressAndRestart(t *testing.T) {
	c, err := Load("../../docs/lma.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := c.MAGByAddress(netip.MustParseAddr("::ffff:198.51.100.22")); !ok || m.Name != "ap2" {
		t.Errorf("MAGByAddress(IPv4-mapped) = %v, %v", m, ok)
	}
	if _, ok := c.MAGByAddress(netip.MustParseAddr("2001:db8::99")); ok {
		t.Error("unknown MAG found (must be refused with status 154)")
	}
	n := c
	n.Policies = nil
	n.MaxLifetime = time.Hour
	if got := n.RestartNeeded(c); len(got) != 0 {
		t.Errorf("policy change needs a restart: %v", got)
	}
	n.StateDir = "/srv/lma"
	n.Address = netip.MustParseAddr("2001:db8::2")
	if diff := cmp.Diff([]string{"address", "state_dir"}, n.RestartNeeded(c)); diff != "" {
		t.Errorf("RestartNeeded: %s", diff)
	}
}
