// Package scenarios is the end-to-end tier of issue 5: an emulated PMIPv6
// domain inside one QEMU guest (stock Debian kernel, TCG), with the real
// daemons, real 802.11 on mac80211_hwsim radios, a RADIUS server (hostapd's
// integrated one), wpa_supplicant, a DHCP client and kernel SLAAC.
//
//	┌────────── guest (testing/qemu) ──────────────────────────────────────────┐
//	│  [cn] eth0 ── cn0 [lma] pmip-lma, AAA: hostapd driver=none RADIUS :1812  │
//	│  2001:db8:cccc::2      bh0 2001:db8:ffff::1 198.51.100.1                 │
//	│  203.0.113.2             │                                               │
//	│                    bridge "bh" (backhaul, root namespace, captured)      │
//	│                     │                       │                            │
//	│  [ap1] bh0 ::11 .11 pmip-mag       [ap2] bh0 ::12 .12 pmip-mag           │
//	│        br-lan (MAG access link) ── wlan0   br-lan ── wlan1               │
//	│          └─ ds0 ── bridge "ds" (only FT RRB 0x890d/0x88b7) ── ds0 ─┘     │
//	│        hostapd WPA2-EAP + FT-EAP (802.11r, PMK-R1 push), RADIUS client   │
//	│                  )))  mac80211_hwsim, one medium  (((                    │
//	│  [client] wlan2 wpa_supplicant (alice@example.net, EAP-PSK, FT-EAP),     │
//	│           udhcpc (started by wpa_cli -a on CONNECTED), kernel SLAAC      │
//	└──────────────────────────────────────────────────────────────────────────┘
//
// The APs authenticate through RADIUS, not each with an internal EAP
// server, because only then does hostapd carry the client's 802.1X
// identity (the MAG's MN-ID) to the next AP after a fast move
// (docs/handover.md 5.4). Config.LegacyRoam runs the domain as the
// handover study first measured it (internal EAP servers, WPA-EAP only).
//
// Scenario 6 splits the domain over two guests linked by QEMU socket
// networking (each guest's NIC joins its "bh" bridge): an amd64 guest with
// the LMA and the CN, and a mipsel Malta guest with the AP (the mipsle
// pmip-mag, Debian's mipsel hostapd) and the client.
//
// Each scenario is one test (see the files scenario*_test.go, each with its
// topology at its top):
//
//	PMIP_QEMU=1 go test -v -run TestScenario1 ./testing/qemu/scenarios   # attach, dual stack
//	PMIP_QEMU=1 go test -v -run TestScenario2 ./testing/qemu/scenarios   # handover AP1 -> AP2
//	PMIP_QEMU=1 go test -v -run TestScenario3 ./testing/qemu/scenarios   # detach
//	PMIP_QEMU=1 go test -v -run TestScenario4 ./testing/qemu/scenarios   # GRE with keys
//	PMIP_QEMU=1 go test -v -run TestScenario5 ./testing/qemu/scenarios   # IPv4 transport
//	PMIP_QEMU=1 go test -v -run TestScenario6 ./testing/qemu/scenarios   # the MAG on mipsel (Malta), two guests
//	PMIP_QEMU=1 go test -v -run TestScenario7 ./testing/qemu/scenarios   # LMA kill -9 and restart
//	PMIP_QEMU=1 go test -v -run TestDemo ./testing/qemu/scenarios        # 1-3 in one guest, narrated
//
// (as root; scripts/install-test-deps.sh installs QEMU). The demo command
// testing/qemu/cmd/pmip-demo runs TestDemo and prints its narration and
// figures. When a scenario fails, results/<test>/ keeps the daemons' logs,
// hostapd's and wpa_supplicant's, the guest transcript and console, pcaps
// of the backhaul and the client's radio, and dumps of every namespace's
// links, addresses, routes, rules, nftables and the LMA's bindings; the
// path is printed. PMIP_QEMU_KEEP=1 keeps them for passing runs too;
// PMIP_HOSTAPD_DEBUG=1 runs the APs' hostapd with -d, and
// PMIP_HANDOVER_PCAP=1 captures scenario 2's streams at the CN and the
// client, and ARP and ICMPv6 on the new AP's bridge (docs/handover.md 8,
// 9.6).
//
// The MAGs and the LMA run at the nice values the product ships with
// (build/openwrt/pmip/files/pmip.init, docs/pmip-lma.service; equal by
// TestShippedNice); PMIP_MAG_NICE and PMIP_LMA_NICE override them for a
// study (study.go), and PMIP_CLIENT_NICE runs the client's wpa_supplicant
// at a given nice value (docs/handover.md 9.9).
package scenarios
