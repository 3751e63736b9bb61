package scenarios

import "testing"

// TestScenario1 is issue 5 scenario 1, attach, dual stack:
//
//	[cn] 203.0.113.2 2001:db8:cccc::2
//	  │
//	[lma] pmip-lma ══ ip6tnl (IPv6 and IPv4 in IPv6) ══ [ap1] pmip-mag, br-lan ── wlan0 hostapd (WPA2-EAP)
//	       binding alice@example.net:                                               )))  hwsim  (((
//	       HNP from 2001:db8:100::/48, HoA from 10.20.0.0/16          [client] wlan2 wpa_supplicant,
//	                                                                           udhcpc -> HoA, SLAAC -> HNP::/64
//
// The client associates; hostapd_cli -a reports it with its 802.1X
// identity to the MAG, which registers alice@example.net with the LMA; the
// client gets its IPv4 home address by DHCP and an IPv6 address in its home
// prefix by SLAAC, and pings the CN over both through the tunnel.
func TestScenario1(t *testing.T) {
	d := New(t, Config{APs: 1})
	d.Up()
	d.AttachAndPing(d.APs[0])
}
