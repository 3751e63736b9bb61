package magconfig

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/uci"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// The documented example is a valid configuration and means what its
// comments say.
func TestLoadExample(t *testing.T) {
	c, err := Load("../../docs/mag.conf.example")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Path:                          "../../docs/mag.conf.example",
		Enabled:                       true,
		LMAAddress:                    netip.MustParseAddr("2001:db8:ffff::1"),
		Transport:                     TransportIPv6,
		ProxyCoA:                      netip.MustParseAddr("2001:db8:1:1::2"),
		Tunnel:                        TunnelIP6IP6,
		BindingLifetime:               time.Hour,
		InitialBindackTimeoutFirstReg: 1500 * time.Millisecond,
		MaxBindackTimeout:             32 * time.Second,
		Timestamps:                    true,
		HeartbeatInterval:             60 * time.Second,
		MissingHeartbeatsAllowed:      3,
		LinkLocalAddress:              netip.MustParseAddr("fe80::200:5eff:fe00:5213"),
		LinkLayerAddress:              mac("00:00:5e:00:52:13"),
		HostapdSocket:                 "/var/run/pmip-mag/hostapd.sock",
		HostapdHook:                   HookCtrl,
		HostapdCtrlDir:                "/var/run/hostapd",
		SilenceTimeout:                300 * time.Second,
		DHCPLeaseTime:                 time.Hour,
		MaxPendingClients:             64,
		IdentityWait:                  2 * time.Second,
		LogLevel:                      slog.LevelInfo,
		Access: []Access{
			{Name: "lan", Interface: "br-lan", ATT: ATTIEEE8011,
				Triggers:          Triggers{Hostapd: true, DHCP: true, RS: true, NS: true},
				HostapdInterfaces: []string{"phy0-ap0", "phy1-ap0"}},
			{Name: "wired", Interface: "lan4", ATT: ATTIEEE8023,
				Triggers: Triggers{DHCP: true, RS: true, NS: true}},
		},
		Policy: Policy{Use8021XIdentity: true, MACIdentifier: MNIDNAI, Realm: "ap.example.net", IPv6: true, IPv4: true},
		Clients: []Client{
			{Name: "printer", MAC: mac("02:00:5e:10:00:01"), Serve: true, Identifier: "printer-3rd-floor@example.net", IPv4: true},
			{Name: "guest_tv", MAC: mac("02:00:5e:10:00:02"), Serve: false, IPv6: true, IPv4: true},
		},
	}
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

// The smallest valid file gets the RFC defaults.
func TestDefaults(t *testing.T) {
	c, err := Parse("/etc/config/pmip", []byte(`
config mag 'main'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8:2::1'
config access 'wlan'
	option interface 'wlan0'
config policy
	option realm 'example.net'
`))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Enabled", c.Enabled, true},
		{"HostapdHook", c.HostapdHook, HookCtrl},
		{"HostapdCtrlDir", c.HostapdCtrlDir, "/var/run/hostapd"},
		{"Transport", c.Transport, TransportIPv6},
		{"Tunnel", c.Tunnel, TunnelIP6IP6},
		{"BindingLifetime", c.BindingLifetime, DefaultBindingLifetime},
		{"InitialBindackTimeoutFirstReg (RFC 6275 13)", c.InitialBindackTimeoutFirstReg, 1500 * time.Millisecond},
		{"MaxBindackTimeout (RFC 6275 12)", c.MaxBindackTimeout, 32 * time.Second},
		{"TimestampBasedApproachInUse (RFC 5213 9.3)", c.Timestamps, true},
		{"HEARTBEAT_INTERVAL (RFC 5847 5)", c.HeartbeatInterval, 60 * time.Second},
		{"MISSING_HEARTBEATS_ALLOWED (RFC 5847 5)", c.MissingHeartbeatsAllowed, 3},
		{"IdentityWait", c.IdentityWait, DefaultIdentityWait},
		{"LinkLocalAddress", c.LinkLocalAddress, DefaultLinkLocalAddress},
		{"LinkLayerAddress", c.LinkLayerAddress.String(), "00:00:5e:00:52:13"},
		{"ATT", c.Access[0].ATT, ATTIEEE8011},
		{"Triggers", c.Access[0].Triggers, Triggers{Hostapd: true, DHCP: true, RS: true, NS: true}},
		{"HostapdInterfaces", strings.Join(c.Access[0].HostapdInterfaces, ","), "wlan0"},
		{"Policy", c.Policy, Policy{Use8021XIdentity: true, MACIdentifier: MNIDNAI, Realm: "example.net", IPv6: true, IPv4: true}},
	}
	for _, ch := range checks {
		if !cmp.Equal(ch.got, ch.want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestIPv4Transport(t *testing.T) {
	c, err := Parse("pmip", []byte(`
config mag 'main'
	option transport 'ipv4'
	option lma_ipv4_address '198.51.100.1'
	list proxy_coa '198.51.100.21'
config access 'wlan'
	option interface 'wlan0'
	option att '4'
config policy
	option mac_identifier 'eui48'
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tunnel != TunnelIPIP || c.IPv4ProxyCoA != netip.MustParseAddr("198.51.100.21") || c.ProxyCoA.IsValid() {
		t.Errorf("tunnel %s, IPv4 Proxy-CoA %s, IPv6 Proxy-CoA %s", c.Tunnel, c.IPv4ProxyCoA, c.ProxyCoA)
	}
}

// Each mistake is reported with the file, the line and what is wrong,
// all of them at once.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "empty file",
			in:   "",
			want: []string{
				"/etc/config/pmip: no `config mag` section: the MAG needs at least the LMA's address",
				"/etc/config/pmip: no `config access` section: the MAG needs at least one access interface",
			},
		},
		{
			name: "typos and bad values",
			in: `config mag 'main'
	option lma_adress '2001:db8::1'
	list proxy_coa '2001:db8:2::1'
	option binding_lifetime 'abc'
	option tunnel 'gree'
	option heartbeat_interval '10'
	option link_local_address '2001:db8::5'
	option link_layer_address '01:00:5e:00:00:01'
config acces 'x'
config access 'wlan'
	option interface 'wlan0'
	option att '0'
	list trigger 'hostap'
config policy
	option realm 'bad realm'
`,
			want: []string{
				"/etc/config/pmip:1: config mag 'main' needs option lma_address",
				"/etc/config/pmip:2: unknown option lma_adress in config mag 'main' (did you mean lma_address?)",
				`/etc/config/pmip:4: option binding_lifetime: "abc" is not a number of seconds`,
				`/etc/config/pmip:5: option tunnel: "gree" is not one of ip6ip6, ipip, gre (did you mean "gre"?)`,
				"/etc/config/pmip:6: option heartbeat_interval: 10 seconds is below RFC 5847's minimum of 30 (0 turns heartbeats off)",
				"/etc/config/pmip:7: option link_local_address: 2001:db8::5 is not a link-local unicast address (fe80::/10)",
				"/etc/config/pmip:8: option link_layer_address: 01:00:5e:00:00:01 is not a unicast MAC address",
				`/etc/config/pmip:9: unknown section type "acces" (did you mean "access"?)`,
				"/etc/config/pmip:12: option att: 0 is reserved (RFC 5213 8.5)",
				`/etc/config/pmip:13: option trigger: "hostap" is not one of hostapd, dhcp, rs, ns (did you mean "hostapd"?)`,
				"/etc/config/pmip:13: option trigger: no valid attach trigger: nothing would ever attach a client here",
				`/etc/config/pmip:15: option realm: "bad realm" is not a realm (labels of letters, digits and -, separated by dots; RFC 7542 2.2)`,
			},
		},
		{
			name: "transport and addresses disagree",
			in: `config mag 'main'
	option transport 'ipv4'
	option tunnel 'ip6ip6'
	list proxy_coa '2001:db8::2'
	list proxy_coa '2001:db8::3'
	option binding_lifetime '3601'
config access 'a'
	option interface 'wlan0'
config access 'b'
	option interface 'wlan0'
	list hostapd_iface 'wlan/0'
config policy
	option ipv6 '0'
	option ipv4 '0'
`,
			want: []string{
				"/etc/config/pmip:1: config mag 'main' needs option lma_ipv4_address",
				"/etc/config/pmip:1: config mag 'main' needs an IPv4 proxy_coa with transport ipv4 (RFC 5844 4)",
				"/etc/config/pmip:3: option tunnel: ip6ip6 needs transport ipv6; over IPv4 use ipip or gre",
				"/etc/config/pmip:4: option proxy_coa: more than one IPv6 address (2001:db8::2 and 2001:db8::3): the MAG has one Proxy-CoA per family",
				"/etc/config/pmip:6: option binding_lifetime: 3601 seconds is not a multiple of 4 (the PBU carries units of 4 s, RFC 6275 6.1.7)",
				"/etc/config/pmip:10: option interface: wlan0 is already the interface of access 'a'",
				`/etc/config/pmip:11: option hostapd_iface: "wlan/0" is not a valid interface name`,
				"/etc/config/pmip:12: config policy: mac_identifier nai needs option realm (the NAI is <mac>@<realm>)",
				"/etc/config/pmip:12: config policy asks for neither IPv6 nor IPv4 home addressing",
			},
		},
		{
			name: "sections",
			in: `config mag 'main'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8::2'
config mag 'other'
config access
	option interface 'eth0'
config policy
	option realm 'example.net'
config client
	option mac 'zz'
config client 'c1'
	option mac '02:00:00:00:00:01'
	option identifier 'has space@x'
config client 'c2'
	option mac '02:00:00:00:00:01'
`,
			want: []string{
				"/etc/config/pmip:4: second `config mag` section (the first is at line 1)",
				"/etc/config/pmip:5: config access needs a name: config access 'wlan0'",
				`/etc/config/pmip:10: option mac: "zz" is not a MAC address (aa:bb:cc:dd:ee:ff)`,
				`/etc/config/pmip:13: option identifier: "has space@x" is not a NAI (printable, no blanks, at most 253 octets; RFC 7542)`,
				"/etc/config/pmip:15: option mac: 02:00:00:00:00:01 already has a client section",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/config/pmip", []byte(tt.in))
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

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(t.TempDir() + "/nope"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestClientPolicy(t *testing.T) {
	c, err := Load("../../docs/mag.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mac      string
		identity string
		want     ClientPolicy
	}{
		{"802.1x identity becomes the NAI", "02:00:5e:10:00:09", "alice@example.net",
			ClientPolicy{Serve: true, MNIDType: MNIDNAI, MNID: []byte("alice@example.net"), IPv6: true, IPv4: true}},
		{"no identity: NAI from the MAC", "02:00:5E:10:00:09", "",
			ClientPolicy{Serve: true, MNIDType: MNIDNAI, MNID: []byte("02005e100009@ap.example.net"), IPv6: true, IPv4: true}},
		{"unusable identity falls back to the MAC", "02:00:5e:10:00:09", "bad identity",
			ClientPolicy{Serve: true, MNIDType: MNIDNAI, MNID: []byte("02005e100009@ap.example.net"), IPv6: true, IPv4: true}},
		{"client override wins over the identity", "02:00:5e:10:00:01", "alice@example.net",
			ClientPolicy{Serve: true, MNIDType: MNIDNAI, MNID: []byte("printer-3rd-floor@example.net"), IPv4: true}},
		{"excluded client", "02:00:5e:10:00:02", "",
			ClientPolicy{Serve: false, MNIDType: MNIDNAI, MNID: []byte("02005e100002@ap.example.net"), IPv6: true, IPv4: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.ClientPolicy(mac(tt.mac), tt.identity)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ClientPolicy (-want +got):\n%s", diff)
			}
		})
	}

	// Waiting for hostapd's identity pays only where the identity would
	// become the MN-ID.
	for m, want := range map[string]bool{
		"02:00:5e:10:00:09": true,  // the policy's identity rule
		"02:00:5e:10:00:01": false, // override with an identifier
		"02:00:5e:10:00:02": false, // not served
	} {
		if got := c.IdentityMatters(mac(m)); got != want {
			t.Errorf("IdentityMatters(%s) = %v, want %v", m, got, want)
		}
	}

	c.Policy.MACIdentifier = MNIDEUI48
	c.Policy.Use8021XIdentity = false
	if c.IdentityMatters(mac("02:00:5e:10:00:09")) {
		t.Error("IdentityMatters with use_8021x_identity 0")
	}
	got := c.ClientPolicy(mac("02:00:5e:10:00:09"), "alice@example.net")
	want := ClientPolicy{Serve: true, MNIDType: MNIDEUI48, MNID: []byte{2, 0, 0x5e, 0x10, 0, 9}, IPv6: true, IPv4: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EUI-48 ClientPolicy (-want +got):\n%s", diff)
	}
}

// option identity_wait: milliseconds, 0 (no wait) to MaxIdentityWait.
func TestIdentityWait(t *testing.T) {
	conf := func(v string) string {
		return `config mag 'main'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8:2::1'
	option identity_wait '` + v + `'
config access 'wlan'
	option interface 'wlan0'
config policy
	option realm 'example.net'
`
	}
	for v, want := range map[string]time.Duration{"0": 0, "500": 500 * time.Millisecond, "10000": 10 * time.Second} {
		c, err := Parse("pmip", []byte(conf(v)))
		if err != nil {
			t.Fatalf("identity_wait %s: %v", v, err)
		}
		if c.IdentityWait != want {
			t.Errorf("identity_wait %s = %v, want %v", v, c.IdentityWait, want)
		}
	}
	for v, want := range map[string]string{
		"10001": "pmip:4: option identity_wait: 10001 milliseconds is out of range [0, 10000]",
		"-1":    "pmip:4: option identity_wait: -1 milliseconds is out of range [0, 10000]",
		"2s":    `pmip:4: option identity_wait: "2s" is not a number of milliseconds`,
	} {
		_, err := Parse("pmip", []byte(conf(v)))
		if err == nil || err.Error() != want {
			t.Errorf("identity_wait %s: error %v, want %s", v, err, want)
		}
	}
}

// option hostapd_ctrl_dir: an absolute path, or 'off' for no queries.
func TestHostapdCtrlDir(t *testing.T) {
	conf := func(v string) string {
		return `config mag 'main'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8:2::1'
	option hostapd_ctrl_dir '` + v + `'
config access 'wlan'
	option interface 'wlan0'
config policy
	option realm 'example.net'
`
	}
	for v, want := range map[string]string{"/run/hostapd": "/run/hostapd", "off": ""} {
		c, err := Parse("pmip", []byte(conf(v)))
		if err != nil || c.HostapdCtrlDir != want {
			t.Errorf("hostapd_ctrl_dir %q: %q, %v", v, c.HostapdCtrlDir, err)
		}
	}
	want := `pmip:4: option hostapd_ctrl_dir: "run/hostapd" is not an absolute path ('off' turns the queries off)`
	if _, err := Parse("pmip", []byte(conf("run/hostapd"))); err == nil || err.Error() != want {
		t.Errorf("relative path: %v, want %s", err, want)
	}
}

// option hostapd_hook: ctrl by default, cli when the control sockets are
// off; ctrl needs them.
func TestHostapdHook(t *testing.T) {
	conf := func(extra string) string {
		return "config mag 'main'\n\toption lma_address '2001:db8::1'\n\tlist proxy_coa '2001:db8:2::1'\n" + extra +
			"config access 'wlan'\n\toption interface 'wlan0'\nconfig policy\n\toption realm 'example.net'\n"
	}
	for _, tc := range []struct {
		extra, hook, dir, err string
	}{
		{"", HookCtrl, "/var/run/hostapd", ""},
		{"\toption hostapd_ctrl_dir '/run/h'\n", HookCtrl, "/run/h", ""},
		{"\toption hostapd_ctrl_dir 'off'\n", HookCLI, "", ""},
		{"\toption hostapd_hook 'ubus'\n", HookUbus, "/var/run/hostapd", ""},
		{"\toption hostapd_hook 'cli'\n\toption hostapd_ctrl_dir 'off'\n", HookCLI, "", ""},
		{"\toption hostapd_hook 'ctrl'\n\toption hostapd_ctrl_dir 'off'\n", "", "", "pmip:4: option hostapd_hook: 'ctrl' reads hostapd's control sockets: it needs hostapd_ctrl_dir, not 'off'"},
	} {
		c, err := Parse("pmip", []byte(conf(tc.extra)))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %s", tc.extra, err, tc.err)
			}
			continue
		}
		if err != nil || c.HostapdHook != tc.hook || c.HostapdCtrlDir != tc.dir {
			t.Errorf("%q: hook %q dir %q err %v; want %q %q", tc.extra, c.HostapdHook, c.HostapdCtrlDir, err, tc.hook, tc.dir)
		}
	}
}

// The default triggers: all four on a Wi-Fi link; without hostapd on a
// link of another technology that lists no hostapd interface.
func TestDefaultTriggers(t *testing.T) {
	for _, tt := range []struct {
		access string
		want   Triggers
		bss    []string
	}{
		{"\toption interface 'wlan0'\n", Triggers{Hostapd: true, DHCP: true, RS: true, NS: true}, []string{"wlan0"}},
		{"\toption interface 'lan4'\n\toption att '802.3'\n", Triggers{DHCP: true, RS: true, NS: true}, nil},
		{"\toption interface 'br-lan'\n\toption att '802.3'\n\tlist hostapd_iface 'phy0-ap0'\n", Triggers{Hostapd: true, DHCP: true, RS: true, NS: true}, []string{"phy0-ap0"}},
		{"\toption interface 'lan4'\n\toption att '802.3'\n\tlist trigger 'hostapd'\n", Triggers{Hostapd: true}, []string{"lan4"}},
	} {
		c, err := Parse("pmip", []byte("config mag 'main'\n\toption lma_address '2001:db8::1'\n\tlist proxy_coa '2001:db8:2::1'\n"+
			"config access 'a'\n"+tt.access+"config policy\n\toption realm 'example.net'\n"))
		if err != nil {
			t.Fatalf("%q: %v", tt.access, err)
		}
		if a := c.Access[0]; a.Triggers != tt.want || !cmp.Equal(a.HostapdInterfaces, tt.bss) {
			t.Errorf("%q: triggers %+v on %v, want %+v on %v", tt.access, a.Triggers, a.HostapdInterfaces, tt.want, tt.bss)
		}
	}
}
