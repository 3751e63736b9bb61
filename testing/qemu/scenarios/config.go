package scenarios

import (
	"fmt"
	"strings"
)

// Guest paths of what the domain writes (configs come over the share;
// executables are copied to tmpfs, the Malta kernel cannot exec from 9p).
const (
	shareDir   = "/mnt/share/pmip"
	scriptDir  = "/tmp/pmip"
	resultsDir = "/mnt/results"
	lmaConf    = shareDir + "/lma.conf"
	lmaSocket  = "/run/pmip-lma/control.sock"
	wpaCtrl    = "/run/wpa_supplicant"
	// aaaCtrl is the AAA server's control directory (LMA namespace).
	aaaCtrl = "/run/hostapd-aaa"
)

func magConfPath(ap *AP) string    { return shareDir + "/mag-" + ap.Name + ".conf" }
func magSocket(ap *AP) string      { return "/run/pmip-mag-" + ap.Name + "/hostapd.sock" }
func hostapdConf(ap *AP) string    { return shareDir + "/hostapd-" + ap.Name + ".conf" }
func hostapdCtrl(ap *AP) string    { return "/run/hostapd-" + ap.Name }
func magCounterFile(ap *AP) string { return "/run/pmip-mag-" + ap.Name + "/restart_counter" }
func magControl(ap *AP) string     { return "/run/pmip-mag-" + ap.Name + "/ctl.sock" }

// uci renders sections of UCI options: each section is its header line
// followed by "key value" pairs; a key starting with "+" is a list entry.
func uci(sections ...[]string) string {
	var b strings.Builder
	b.WriteString("# written by testing/qemu/scenarios\n")
	for _, s := range sections {
		fmt.Fprintf(&b, "\nconfig %s\n", s[0])
		for _, kv := range s[1:] {
			k, v, _ := strings.Cut(kv, " ")
			kind := "option"
			if strings.HasPrefix(k, "+") {
				kind, k = "list", k[1:]
			}
			fmt.Fprintf(&b, "\t%s %s '%s'\n", kind, k, v)
		}
	}
	return b.String()
}

// lmaConfig is the LMA's /etc/pmip/lma.conf (docs/configuration.md).
func lmaConfig(c Config, aps []*AP) string {
	secs := [][]string{{"lma 'main'",
		"address " + LMA6, "ipv4_address " + LMA4,
		"state_dir /var/lib/pmip-lma", "control_socket " + lmaSocket,
		"metrics_listen 127.0.0.1:9436", "log_level debug",
		fmt.Sprintf("min_delay_before_bce_delete %d", c.MinDelayBeforeBCEDelete.Milliseconds()),
		"heartbeat_interval 30",
	}}
	if c.NoTimestamps {
		secs[0] = append(secs[0], "timestamps 0")
	}
	for _, ap := range aps {
		s := []string{"mag '" + ap.Name + "'", "+address " + ap.Addr4, "+tunnel " + c.Tunnel}
		if c.Transport == "ipv6" {
			s = append(s, "+address "+ap.Addr6)
		}
		secs = append(secs, s)
	}
	secs = append(secs,
		[]string{"pool 'hnp'", "prefix " + HNPPool, "delegated_length 64"},
		[]string{"pool 'v4'", "subnet " + V4Pool, "prefix_length 16", "default_router " + V4Router})
	pol := []string{"policy 'staff'", "match *@example.net", "prefix_pool hnp", "ipv4_pool v4", "+tunnel " + c.Tunnel}
	if c.Tunnel == "gre" {
		// RFC 5845 3: the LMA may require GRE encapsulation with keys.
		pol = append(pol, "gre_key_required 1")
	}
	return uci(append(secs, pol)...)
}

// magConfig is one AP's /etc/config/pmip: its access link is the bridge,
// whose port is the radio hostapd serves.
func magConfig(c Config, ap *AP) string {
	m := []string{"mag 'main'", "transport " + c.Transport, "tunnel " + c.Tunnel,
		"lma_ipv4_address " + LMA4, "+proxy_coa " + ap.Addr4,
		"link_local_address " + MAGLinkLocal, "link_layer_address " + MAGMAC,
		"hostapd_socket " + magSocket(ap), "hostapd_ctrl_dir " + hostapdCtrl(ap), "log_level debug",
		"initial_bindack_timeout_first_reg 500", "heartbeat_interval 30",
	}
	if c.Transport == "ipv6" {
		m = append(m, "lma_address "+LMA6, "+proxy_coa "+ap.Addr6)
	}
	if c.NoTimestamps {
		m = append(m, "timestamps 0")
	}
	// How hostapd's station events reach the MAG: its own monitor on the
	// control socket (docs/handover.md 5.2: events in under a
	// millisecond, fast reassociations told apart, HI 3), or, as the
	// studies measured, hostapd_cli -a running the project's hook.
	if c.LegacyRoam {
		m = append(m, "hostapd_hook cli")
	} else {
		m = append(m, "hostapd_hook ctrl")
	}
	return uci(m,
		[]string{"access 'wlan'", "interface br-lan", "att 802.11",
			"+trigger hostapd", "+trigger dhcp", "+trigger rs", "+trigger ns",
			"+hostapd_iface " + ap.Radio},
		[]string{"policy", "use_8021x_identity 1", "mac_identifier nai", "realm ap.example.net"},
	)
}

// mobilityDomain is the domain's one IEEE 802.11r mobility domain (MDID,
// IEEE 802.11-2020 9.4.2.46), and ftKey (roam_test.go) the key its
// R0KH/R1KH pairs protect their RRB messages with.
const mobilityDomain = "a1b2"

// ftKey is the key shared by the R0KH and R1KH pairs (IEEE 802.11-2020
// 13.3: the RRB protocol is protected with it).
const ftKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func noColons(mac string) string { return strings.ReplaceAll(mac, ":", "") }

// hostapdConfig is a WPA2-Enterprise AP (the design of docs/handover.md
// 5.1): IEEE 802.11r FT-EAP over the air with the PMK-R1 pushed to every
// other AP of the domain at the client's first association, PMKSA
// caching as the fallback for clients without FT, and EAP (EAP-PSK as
// Identity) through the AAA server in the LMA's namespace over RADIUS,
// which is what makes hostapd carry the identity to the next AP
// (docs/handover.md 5.4). Legacy is the domain before that design: WPA-EAP
// only, each AP's internal EAP server.
func hostapdConfig(c Config, ap *AP, aps []*AP) string {
	lines := []string{
		"interface=" + ap.Radio, "bridge=br-lan", "driver=nl80211",
		"ctrl_interface=" + hostapdCtrl(ap), "ssid=" + ssid,
		"hw_mode=g", "channel=1", "ieee8021x=1", "eapol_version=2",
		"wpa=2", "rsn_pairwise=CCMP",
		// PMKSA caching: a station returning to an AP skips EAP.
		"okc=1", "disable_pmksa_caching=0",
		// The NAS-Identifier of RADIUS and the R0KH-ID of FT.
		"nas_identifier=" + ap.Name + ".example.net",
	}
	if c.LegacyRoam {
		lines = append(lines, "wpa_key_mgmt=WPA-EAP", "eap_server=1", "eap_user_file="+shareDir+"/eap_users")
		return strings.Join(lines, "\n") + "\n"
	}
	lines = append(lines, "wpa_key_mgmt=WPA-EAP FT-EAP",
		"mobility_domain="+mobilityDomain,
		// FT over the DS (IEEE 802.11-2020 13.5.2): the client asks for
		// the new AP's keys through its current AP, which relays over
		// the ds link, so no Authentication frame goes to the new AP.
		// Over the air, a new AP slower than ~100 ms to answer (TCG
		// under load) makes mac80211 retransmit the FT Authentication,
		// hostapd answers the copy with a new ANonce the client never
		// sees, and the reassociation fails (status 55, then full EAP):
		// docs/handover.md 8.
		"ft_over_ds=1",
		"r1_key_holder="+noColons(ap.BSSID),
		// The R0KH sends the PMK-R1 to every R1KH when the client
		// first associates, so no pull round trip delays the move.
		"pmk_r1_push=1")
	for _, p := range aps {
		lines = append(lines,
			"r0kh="+p.BSSID+" "+p.Name+".example.net "+ftKey,
			"r1kh="+p.BSSID+" "+p.BSSID+" "+ftKey)
	}
	lines = append(lines, radiusClientLines(ap.Addr4, LMA4)...)
	return strings.Join(lines, "\n") + "\n"
}

// dsFilter is the nftables ruleset of each AP's "ds" port: the link
// between the APs' access bridges carries only FT's key holder messages
// (ethertype 0x890d, RRB; 0x88b7, the OUI extended ethertype hostapd 2.7+
// uses for the PMK-R1 push and pull), so the access links stay separate
// as PMIPv6 needs (RFC 5213 6.9.1: the MAG's link to each mobile node is
// point-to-point).
const dsFilter = `table bridge ds {
	chain ds_in { type filter hook prerouting priority 0; iifname "ds0" ether type != { 0x890d, 0x88b7 } drop; }
	chain ds_fwd { type filter hook forward priority 0; oifname "ds0" ether type != { 0x890d, 0x88b7 } drop; }
	chain ds_out { type filter hook output priority 0; oifname "ds0" ether type != { 0x890d, 0x88b7 } drop; }
}
`

func eapUsers() string { return fmt.Sprintf("%q PSK %s\n", Identity, eapPSK) }

// wpaConfig is the client's wpa_supplicant.conf, pinned to bssid so the
// scenario decides where it associates (both APs share SSID and channel).
// It prefers FT-EAP (the APs offer both) unless legacy.
func wpaConfig(bssid string, legacy bool) string {
	km := "FT-EAP WPA-EAP"
	if legacy {
		km = "WPA-EAP"
	}
	return strings.Join([]string{
		"ctrl_interface=" + wpaCtrl,
		"network={", `ssid="` + ssid + `"`, "key_mgmt=" + km, "eap=PSK",
		`identity="` + Identity + `"`, "password=" + eapPSK,
		fmt.Sprintf("scan_freq=%d", freq), "bssid=" + bssid, "proactive_key_caching=1", "disabled=1", "}",
	}, "\n") + "\n"
}

// clientAction is the client's wpa_cli -a script: like a desktop's network
// manager it starts the DHCP client once the link is authorized, and
// leaves it running across roams (the lease stays valid; RFC 5213 keeps
// the address).
const clientAction = `#!/bin/sh
# wpa_cli -a action of the emulated client: $1=IFNAME $2=CONNECTED|DISCONNECTED
#   wpa_supplicant --CONNECTED--> this --> udhcpc -i IFNAME (once)
[ "$2" = CONNECTED ] || exit 0
[ -e /run/pmip/udhcpc.pid ] && kill -0 "$(cat /run/pmip/udhcpc.pid)" 2>/dev/null && exit 0
/sbin/udhcpc -f -i "$1" -p /run/pmip/udhcpc.pid -s /tmp/pmip/udhcpc.sh -T 1 -t 60 -A 1 </dev/null >>/mnt/results/udhcpc.log 2>&1 &
`

// udhcpcScript configures the lease: address with its prefix length and
// the default router, as the MAG's DHCP server (RFC 5844 3.4) gave them.
const udhcpcScript = `#!/bin/sh
# udhcpc -s script of the emulated client: bound/renew -> ip addr + default route
echo "udhcpc $1 ip=$ip mask=$mask router=$router"
case "$1" in
deconfig) /bin/ip -4 addr flush dev "$interface" ;;
bound | renew)
	/bin/ip addr replace "$ip/$mask" dev "$interface"
	for r in $router; do /bin/ip route replace default via "$r" dev "$interface"; break; done
	;;
esac
`
