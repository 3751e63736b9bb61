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

// apsOf are the domain's access points; the client's radio is wlan2.
func apsOf(n int) []*AP {
	all := []*AP{
		{Name: "ap1", Radio: "wlan0", Addr6: "2001:db8:ffff::11", Addr4: "198.51.100.11"},
		{Name: "ap2", Radio: "wlan1", Addr6: "2001:db8:ffff::12", Addr4: "198.51.100.12"},
	}
	return all[:n]
}

const clientRadio = "wlan2"

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
	// MinDelayBeforeBCEDelete is the LMA's RFC 5213 9.1 timer (default
	// the PMIPV6-MIB's 10 s). A break-before-make handover must reach the
	// new MAG's registration within it, EAP included.
	MinDelayBeforeBCEDelete time.Duration
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

// setupScript builds the namespaces, links and radios. It runs under dash
// in the guest; each `ip` exec costs ~0.1 s under TCG, so every namespace
// is configured by one `ip -batch`.
func setupScript(c Config, aps []*AP) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("set -eu")
	w("mkdir -p /tmp/pmip /run/pmip /var/run")
	w("cp /mnt/share/pmip/*.sh /tmp/pmip/ && chmod 755 /tmp/pmip/*.sh")
	names := []string{"lma", "cn", "client"}
	for _, ap := range aps {
		names = append(names, ap.Name)
	}
	for _, ns := range names {
		w("ip netns add %s", ns)
	}
	// Three radios on one simulated medium: one per AP and the client's.
	w("modprobe mac80211_hwsim radios=3")
	w("for pair in ap1:wlan0 ap2:wlan1 client:%s; do", clientRadio)
	w(`	ns=${pair%%:*} dev=${pair#*:}`)
	w(`	[ -e /run/netns/$ns ] || continue`)
	w(`	cat /sys/class/net/$dev/address >/tmp/pmip/$dev.mac`)
	w(`	iw phy "$(cat /sys/class/net/$dev/phy80211/name)" set netns name "$ns"`)
	w("done")
	// Root namespace: the backhaul bridge and the veth pairs.
	w("ip -batch - <<'EOF'")
	w("link add bh type bridge stp_state 0 forward_delay 0")
	w("link set bh up")
	for _, ns := range names {
		if ns == "cn" || ns == "client" {
			continue
		}
		w("link add bh-%s type veth peer name bh0 netns %s", ns, ns)
		w("link set bh-%s master bh up", ns)
	}
	w("link add cn0 netns lma type veth peer name eth0 netns cn")
	w("EOF")

	// The LMA: backhaul, the correspondent's link, forwarding.
	lma := []string{
		"link set lo up", "link set bh0 up", "link set cn0 up",
		"addr add " + LMA6 + "/64 dev bh0 nodad", "addr add " + LMA4 + "/24 dev bh0",
		"addr add " + lmaC6 + "/64 dev cn0 nodad", "addr add " + lmaC4 + "/24 dev cn0",
	}
	nsBatch(&b, "lma", forwarding, lma)
	nsBatch(&b, "cn", "", []string{
		"link set lo up", "link set eth0 up",
		"addr add " + CN6 + "/64 dev eth0 nodad", "addr add " + CN4 + "/24 dev eth0",
		"route add default via " + lmaC4, "route add default via " + lmaC6,
	})
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
		nsBatch(&b, ap.Name, forwarding, cmds)
	}
	// The client: its radio up (carrier comes with the association); the
	// kernel's defaults do SLAAC (accept_ra 1, autoconf 1, not a router).
	nsBatch(&b, "client", "", []string{"link set lo up", "link set " + clientRadio + " up"})
	return b.String()
}

// forwarding turns a namespace into a router.
const forwarding = "echo 1 >/proc/sys/net/ipv6/conf/all/forwarding; echo 1 >/proc/sys/net/ipv4/ip_forward"

// nsBatch configures one namespace with one shell and one `ip -batch`.
func nsBatch(b *strings.Builder, ns, pre string, cmds []string) {
	fmt.Fprintf(b, "ip netns exec %s /bin/sh -ec '%s\nip -batch - <<EOF\n%s\nEOF'\n", ns, pre, strings.Join(cmds, "\n"))
}
