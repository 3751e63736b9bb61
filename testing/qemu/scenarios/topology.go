package scenarios

import (
	"fmt"
	"strings"
	"time"
)

// The emulated domain's addresses (documentation prefixes, RFC 3849, RFC
// 5737). The backhaul is one segment: the LMA and every MAG on bridge bh.
const (
	LMA6  = "2001:db8:ffff::1"
	LMA4  = "198.51.100.1"
	CN6   = "2001:db8:cccc::2"
	CN4   = "203.0.113.2"
	lmaC6 = "2001:db8:cccc::1" // the LMA's side of the CN link
	lmaC4 = "203.0.113.1"
	// backhaul4 is the backhaul's IPv4 subnet (every MAG has an address
	// in it, also with IPv6 transport: the RADIUS clients).
	backhaul4 = "198.51.100.0/24"

	// HNPPool is the LMA's aggregate home network prefixes come from, and
	// V4Pool its IPv4 home addresses, behind V4Router.
	HNPPool  = "2001:db8:100::/48"
	V4Pool   = "10.20.0.0/16"
	V4Router = "10.20.0.1"

	// Identity is the client's 802.1X identity, which the MAG learns from
	// hostapd and sends as its NAI Mobile Node Identifier (RFC 4283).
	Identity = "alice@example.net"
	// eapPSK is the client's EAP-PSK key (RFC 4764: 16 octets).
	eapPSK = "0123456789abcdef0123456789abcdef"
	ssid   = "pmip-domain"
	// freq is channel 1: both APs share it, so the station roams without
	// scanning elsewhere.
	freq = 2412

	// MAGMAC and MAGLinkLocal are the fixed identity every MAG presents
	// on every access link (RFC 5213 6.8, 6.9.3; RFC 6543).
	MAGMAC       = "00:00:5e:00:52:13"
	MAGLinkLocal = "fe80::200:5eff:fe00:5213"

	streamPort = 5001
)

// AP is one access point: a namespace with a MAG and a hostapd.
type AP struct {
	Name  string // namespace: ap1, ap2
	Radio string // its hwsim interface: wlan0, wlan1
	Addr6 string // Proxy-CoA on the backhaul
	Addr4 string
	BSSID string // the radio's MAC, read at setup
}

// apsOf are the domain's access points; the client's radio is the next
// one (wlan1 with one AP, wlan2 with two).
func apsOf(n int) []*AP {
	all := []*AP{
		{Name: "ap1", Radio: "wlan0", Addr6: "2001:db8:ffff::11", Addr4: "198.51.100.11"},
		{Name: "ap2", Radio: "wlan1", Addr6: "2001:db8:ffff::12", Addr4: "198.51.100.12"},
	}
	return all[:n]
}

// Config chooses the variant of the domain a scenario needs.
type Config struct {
	// Tunnel is the MAGs' encapsulation: "ip6ip6" (default; "ipip" with
	// IPv4 transport) or "gre" (RFC 5845, with keys required by the LMA).
	Tunnel string
	// Transport is "ipv6" (default) or "ipv4" (RFC 5844 4: the MAGs have
	// no IPv6 on the backhaul and signal in UDP/IPv4).
	Transport string
	// APs is how many access points to run (default 2).
	APs int
	// MAGArch, when set ("mipsel"), runs the APs and the client in a
	// second guest of that architecture, linked to the LMA's by QEMU
	// socket networking (scenario 6).
	MAGArch string
	// NoTimestamps makes both daemons order PBUs by sequence number
	// instead of timestamps (RFC 5213 5.5, TimestampBasedApproachInUse
	// 0): two guests' clocks are not synchronised.
	NoTimestamps bool
	// MinDelayBeforeBCEDelete is the LMA's RFC 5213 9.1 timer (default
	// the PMIPV6-MIB's 10 s). A break-before-make handover must reach the
	// new MAG's registration within it, EAP included.
	MinDelayBeforeBCEDelete time.Duration
	// LegacyRoam runs the domain as before docs/handover.md's design, for
	// the studies that measured it: WPA-EAP only with each AP's internal
	// EAP server (no FT, no RADIUS), hostapd_cli -a hooks, and a break-
	// before-make roam (deauthentication, full EAP at the new AP).
	LegacyRoam bool
}

func (c *Config) defaults() {
	if c.Transport == "" {
		c.Transport = "ipv6"
	}
	if c.Tunnel == "" {
		c.Tunnel = "ip6ip6"
		if c.Transport == "ipv4" {
			c.Tunnel = "ipip"
		}
	}
	if c.APs == 0 {
		c.APs = 2
	}
	if c.MinDelayBeforeBCEDelete == 0 {
		c.MinDelayBeforeBCEDelete = 10 * time.Second
	}
}

// Roles of a guest in the domain: all of it, or (scenario 6) the core
// (LMA, CN) and the edge (APs, client) linked by the guests' eth0.
const (
	roleAll = iota
	roleCore
	roleEdge
)

// setupScript builds the namespaces, links and radios of a guest in role.
// It runs under dash in the guest; each `ip` exec costs ~0.1 s under TCG,
// so every namespace is configured by one `ip -batch`.
func setupScript(c Config, aps []*AP, role int) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	core, edge := role != roleEdge, role != roleCore
	ds := edge && len(aps) > 1
	w("set -eu")
	w("mkdir -p /tmp/pmip /run/pmip /var/run")
	w("cp /mnt/share/pmip/*.sh /tmp/pmip/ && chmod 755 /tmp/pmip/*.sh")
	var names, bhPorts []string
	if core {
		names = append(names, "lma", "cn")
		bhPorts = append(bhPorts, "lma")
	}
	if edge {
		names = append(names, "client")
		for _, ap := range aps {
			names = append(names, ap.Name)
			bhPorts = append(bhPorts, ap.Name)
		}
	}
	for _, ns := range names {
		w("ip netns add %s", ns)
	}
	if edge {
		// One radio per AP and the client's, on one simulated medium.
		w("modprobe mac80211_hwsim radios=%d", len(aps)+1)
		var pairs []string
		for _, ap := range aps {
			pairs = append(pairs, ap.Name+":"+ap.Radio)
		}
		pairs = append(pairs, fmt.Sprintf("client:wlan%d", len(aps)))
		w("for pair in %s; do", strings.Join(pairs, " "))
		w(`	ns=${pair%%%%:*} dev=${pair#*:}`)
		w(`	cat /sys/class/net/$dev/address >/tmp/pmip/$dev.mac`)
		w(`	iw phy "$(cat /sys/class/net/$dev/phy80211/name)" set netns name "$ns"`)
		w("done")
	}
	if role != roleAll {
		// The guests' link: the virtio NIC, found by its MAC (names
		// differ between machines).
		w(`nic=$(grep -il '%s' /sys/class/net/*/address | cut -d/ -f5)`, linkMAC(role))
		w(`[ -n "$nic" ] || { echo "no NIC with MAC %s:"; ip -o link; dmesg | grep -i -e virtio -e pci -e eth | tail -30; exit 1; }`, linkMAC(role))
	}
	// Root namespace: the backhaul bridge and the veth pairs.
	w("ip -batch - <<EOF")
	w("link add bh type bridge stp_state 0 forward_delay 0")
	w("link set bh up")
	for _, ns := range bhPorts {
		w("link add bh-%s type veth peer name bh0 netns %s", ns, ns)
		w("link set bh-%s master bh up", ns)
	}
	if core {
		w("link add cn0 netns lma type veth peer name eth0 netns cn")
	}
	if ds {
		// The "ds" link between the APs' access bridges (docs/handover.md
		// 5.1): FT's key holders talk over it, nothing else crosses.
		w("link add ds type bridge stp_state 0 forward_delay 0")
		w("link set ds up")
		for _, ap := range aps {
			w("link add ds-%s type veth peer name ds0 netns %s", ap.Name, ap.Name)
			w("link set ds-%s master ds up", ap.Name)
		}
	}
	w("EOF")

	if role != roleAll {
		w(`ip link set "$nic" master bh up`)
	}
	if core {
		// The LMA: backhaul, the correspondent's link, forwarding.
		nsBatch(&b, "lma", forwarding, []string{
			"link set lo up", "link set bh0 up", "link set cn0 up",
			"addr add " + LMA6 + "/64 dev bh0 nodad", "addr add " + LMA4 + "/24 dev bh0",
			"addr add " + lmaC6 + "/64 dev cn0 nodad", "addr add " + lmaC4 + "/24 dev cn0",
		})
		nsBatch(&b, "cn", "", []string{
			"link set lo up", "link set eth0 up",
			"addr add " + CN6 + "/64 dev eth0 nodad", "addr add " + CN4 + "/24 dev eth0",
			"route add default via " + lmaC4, "route add default via " + lmaC6,
		})
	}
	if !edge {
		return b.String()
	}
	for _, ap := range aps {
		cmds := []string{"link set lo up", "link set bh0 up", "addr add " + ap.Addr4 + "/24 dev bh0"}
		if c.Transport == "ipv6" {
			cmds = append(cmds, "addr add "+ap.Addr6+"/64 dev bh0 nodad")
		}
		// The MAG's access link: a bridge with the radio as its port
		// (hostapd adds it), as on an OpenWrt AP. Multicast snooping off:
		// the MAG's RAs and the client's NS must flood to the port.
		cmds = append(cmds,
			"link add br-lan type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
			"link set br-lan up")
		if ds {
			cmds = append(cmds, "link set ds0 master br-lan", "link set ds0 up")
		}
		nsBatch(&b, ap.Name, forwarding, cmds)
		if ds {
			w("ip netns exec %s /usr/sbin/nft -f %s/ds.nft", ap.Name, shareDir)
		}
	}
	// The client: its radio up (carrier comes with the association); the
	// kernel's defaults do SLAAC (accept_ra 1, autoconf 1, not a router).
	nsBatch(&b, "client", "", []string{"link set lo up", fmt.Sprintf("link set wlan%d up", len(aps))})
	return b.String()
}

// linkMAC is the MAC of a guest's NIC on the QEMU socket link.
func linkMAC(role int) string {
	if role == roleCore {
		return "52:54:00:00:05:01"
	}
	return "52:54:00:00:05:02"
}

// forwarding turns a namespace into a router.
const forwarding = "echo 1 >/proc/sys/net/ipv6/conf/all/forwarding; echo 1 >/proc/sys/net/ipv4/ip_forward"

// nsBatch configures one namespace with one shell and one `ip -batch`.
func nsBatch(b *strings.Builder, ns, pre string, cmds []string) {
	fmt.Fprintf(b, "ip netns exec %s /bin/sh -ec '%s\nip -batch - <<EOF\n%s\nEOF'\n", ns, pre, strings.Join(cmds, "\n"))
}
