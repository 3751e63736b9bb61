package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/testing/qemu"
)

// envRoamStudy enables TestRoamMethods, a study for docs/handover.md and
// not a pass/fail tier: it boots its own guest and takes minutes.
const envRoamStudy = "PMIP_ROAM_STUDY"

// TestRoamMethods measures how long the client's 802.11 move from AP1 to
// AP2 takes with each way of (re)authenticating, and what each AP's
// hostapd tells about it, for the handover design of docs/handover.md. It
// runs only with PMIP_QEMU=1 PMIP_ROAM_STUDY=1 (PMIP_ROAM_CASES=ft,eap
// picks cases); the figures are logged and written to
// results/TestRoamMethods/roam-figures.txt.
//
// No MAG or LMA runs: this is the access link alone. Both APs' bridges are
// joined by a "ds" link that lets only FT's RRB (key holder messages,
// ethertypes 0x890d and 0x88b7) and RSN pre-authentication (0x88c7)
// through, so the two access links stay separate as PMIPv6 needs (RFC 5213
// 6.9.1: one point-to-point link per mobile node per MAG). pmip-hapmon
// times each AP's events over the control socket and through hostapd_cli
// -a.
//
//	         [ap1] br-lan 10.99.0.1 ── wlan0 02:00:00:00:00:00 hostapd )))
//	root: bridge ds ─┤ ds0 (nft: only 0x890d, 0x88b7, 0x88c7)             (((  wlan2 [sta] 10.99.0.2
//	         [ap2] br-lan 10.99.0.3 ── wlan1 02:00:00:00:01:00 hostapd )))        wpa_supplicant
//	         each AP pings 10.99.0.2 every 10 ms: the union of replies
//	         shows the link-layer gap of the move
func TestRoamMethods(t *testing.T) {
	if os.Getenv(envRoamStudy) != "1" {
		t.Skipf("the roaming study runs only with %s=1 (and PMIP_QEMU=1): it is a measurement, not a check", envRoamStudy)
	}
	qemu.Require(t)
	vm := qemu.Boot(t, qemu.Options{Name: "roam", Binaries: imageBinaries(), Memory: 512,
		// iifname/oifname in the bridge family.
		Modules: []string{"nft_meta_bridge"}})
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	if out, err := vm.Run(ctx, "/bin/sh", "-c", roamSetup); err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	hapmon, err := vm.GoBuild(ctx, "./testing/qemu/cmd/pmip-hapmon")
	if err != nil {
		t.Fatal(err)
	}
	cases := roamCases
	if sel := os.Getenv("PMIP_ROAM_CASES"); sel != "" {
		cases = nil
		for _, c := range roamCases {
			if strings.Contains(","+sel+",", ","+c.Name+",") {
				cases = append(cases, c)
			}
		}
	}
	var report strings.Builder
	for _, c := range cases {
		dir := filepath.Join(vm.ShareDir(), "roam", c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range c.files() {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		out, err := vm.Run(ctx, "/bin/sh", "-c", c.script(hapmon))
		if err != nil {
			t.Errorf("case %s: %v\n%s", c.Name, err, out)
			continue
		}
		res, err := readRoamResults(filepath.Join(vm.LogDir(), c.Name))
		if err != nil {
			t.Errorf("case %s: %v", c.Name, err)
			continue
		}
		fmt.Fprintf(&report, "== %s (%s), %v\n", c.Name, c.About, time.Since(t0).Round(time.Second))
		for _, s := range res {
			fmt.Fprintln(&report, s)
		}
		report.WriteString("\n")
	}
	t.Logf("roaming study:\n%s", report.String())
	if err := os.WriteFile(filepath.Join(vm.LogDir(), "roam-figures.txt"), []byte(report.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// hwsim gives radio i the address 02:00:00:00:i:00; the setup checks it.
const (
	bssid1   = "02:00:00:00:00:00"
	bssid2   = "02:00:00:00:01:00"
	staMAC   = "02:00:00:00:02:00"
	roamSSID = "pmip-roam"
	// aaaAddr is the study's RADIUS server on the "rad" link: a hostapd
	// with driver=none and its integrated RADIUS server.
	aaaAddr = "10.98.0.10"
)

// roamSetup builds the study's namespaces once per guest.
const roamSetup = `set -eu
/sbin/modprobe mac80211_hwsim radios=3
for pair in ap1:wlan0 ap2:wlan1 sta:wlan2; do
	ns=${pair%%:*} dev=${pair#*:}
	/bin/ip netns add "$ns"
	/sbin/iw phy "$(cat /sys/class/net/$dev/phy80211/name)" set netns name "$ns"
done
/bin/ip netns add aaa
[ "$(/bin/ip -n ap1 -o link show wlan0 | grep -o 'link/ether [0-9a-f:]*')" = "link/ether ` + bssid1 + `" ]
[ "$(/bin/ip -n sta -o link show wlan2 | grep -o 'link/ether [0-9a-f:]*')" = "link/ether ` + staMAC + `" ]
/bin/ip -batch - <<EOF
link add ds type bridge stp_state 0 forward_delay 0
link set ds up
link add ds-ap1 type veth peer name ds0 netns ap1
link add ds-ap2 type veth peer name ds0 netns ap2
link set ds-ap1 master ds up
link set ds-ap2 master ds up
link add rad type bridge stp_state 0 forward_delay 0
link set rad up
link add rad-aaa type veth peer name rad0 netns aaa
link add rad-ap1 type veth peer name rad0 netns ap1
link add rad-ap2 type veth peer name rad0 netns ap2
link set rad-aaa master rad up
link set rad-ap1 master rad up
link set rad-ap2 master rad up
EOF
# The RADIUS link (cases with Radius): the APs reach the AAA server at
# ` + aaaAddr + ` from their own address on it.
for a in aaa:` + aaaAddr + ` ap1:10.98.0.1 ap2:10.98.0.3; do
	/bin/ip netns exec "${a%%:*}" /bin/ip -batch - <<EOF
link set lo up
link set rad0 up
addr add ${a#*:}/24 dev rad0
EOF
done
for ap in ap1:` + bssid1 + `:10.99.0.1 ap2:` + bssid2 + `:10.99.0.3; do
	ns=${ap%%:*} rest=${ap#*:}; ip=${rest##*:}; mac=${rest%:*}
	/bin/ip netns exec "$ns" /bin/ip -batch - <<EOF
link set lo up
link add br-lan type bridge stp_state 0 forward_delay 0 mcast_snooping 0
link set br-lan address $mac
link set ds0 master br-lan up
link set br-lan up
addr add $ip/24 dev br-lan
neigh replace 10.99.0.2 lladdr ` + staMAC + ` dev br-lan nud permanent
EOF
	# Only FT RRB (0x890d: FT over the DS; 0x88b7: OUI extended
	# ethertype, which hostapd 2.7+ uses for R0KH-R1KH push and pull)
	# and RSN pre-authentication (0x88c7) cross between the access links.
	/bin/ip netns exec "$ns" /usr/sbin/nft -f - <<EOF
table bridge ds {
	chain ds_in { type filter hook prerouting priority 0; iifname "ds0" ether type != { 0x890d, 0x88b7, 0x88c7 } drop; }
	chain ds_fwd { type filter hook forward priority 0; oifname "ds0" ether type != { 0x890d, 0x88b7, 0x88c7 } drop; }
	chain ds_out { type filter hook output priority 0; oifname "ds0" ether type != { 0x890d, 0x88b7, 0x88c7 } drop; }
}
EOF
done
/bin/ip netns exec sta /bin/ip -batch - <<EOF
link set lo up
link set wlan2 up
addr add 10.99.0.2/24 dev wlan2
neigh replace 10.99.0.1 lladdr ` + bssid1 + ` dev wlan2 nud permanent
neigh replace 10.99.0.3 lladdr ` + bssid2 + ` dev wlan2 nud permanent
EOF
echo setup done
`

// roamCase is one way of moving: hostapd and wpa_supplicant settings and
// the steps the client takes after associating with AP1 (full EAP).
type roamCase struct {
	Name, About string
	// AP is extra hostapd.conf lines for both APs; FT adds per-AP key
	// holder lines itself.
	AP []string
	FT bool
	// KeyMgmt is the client's key_mgmt.
	KeyMgmt string
	// Steps: "bbm AP" (deauthenticate, then associate: today's scenario
	// 2), "roam AP" (wpa_cli roam: reassociation, make before break at
	// the client), "preauth AP" (RSN pre-authentication through the
	// current AP, then wait for the PMKSA).
	Steps []string
	// Debug runs hostapd with -d -K, to see what it knows but does not
	// report (timings are then not representative).
	Debug bool
	// Radius authenticates through a RADIUS server (hostapd's integrated
	// one, in the "aaa" namespace, always with -d) instead of each AP's
	// internal EAP server, as deployments do.
	Radius bool
}

var roamCases = []roamCase{
	{Name: "eap", About: "today: WPA2-EAP, PMKSA caching and OKC on, separate hostapd processes",
		AP: []string{"okc=1", "disable_pmksa_caching=0"}, KeyMgmt: "WPA-EAP",
		Steps: []string{"bbm ap2", "roam ap1", "roam ap2"}},
	{Name: "eap-roam-nocache", About: "WPA2-EAP, PMKSA caching off: every reassociation runs full EAP",
		AP: []string{"disable_pmksa_caching=1"}, KeyMgmt: "WPA-EAP",
		Steps: []string{"roam ap2", "roam ap1"}},
	{Name: "preauth", About: "WPA2-EAP with RSN pre-authentication over the ds link (IEEE 802.11-2020 12.6.10.2)",
		AP: []string{"okc=1", "rsn_preauth=1", "rsn_preauth_interfaces=br-lan"}, KeyMgmt: "WPA-EAP",
		Steps: []string{"preauth ap2", "roam ap2"}},
	{Name: "ft", About: "802.11r FT-EAP over the air, PMK-R1 pushed to the other AP at the initial association",
		FT: true, AP: []string{"pmk_r1_push=1"}, KeyMgmt: "FT-EAP",
		Steps: []string{"roam ap2", "roam ap1", "roam ap2"}},
	{Name: "ft-pull", About: "802.11r FT-EAP over the air, the new AP pulls PMK-R1 from the R0KH at the move",
		FT: true, AP: []string{"pmk_r1_push=0"}, KeyMgmt: "FT-EAP",
		Steps: []string{"roam ap2", "roam ap1"}},
	{Name: "ft-debug", About: "ft-pull with hostapd -d -K: what hostapd knows of a reassociation (timings not representative)",
		FT: true, AP: []string{"pmk_r1_push=0"}, KeyMgmt: "FT-EAP", Debug: true,
		Steps: []string{"roam ap2", "bbm ap1"}},
	// The identity after a fast move (docs/handover.md 5.4). "clean AP"
	// is what the old MAG does after the move (DEAUTHENTICATE <sta> tx=0
	// on AP's control socket): every move then meets a fresh station
	// entry, never a stale one whose old EAPOL state hides the question.
	{Name: "ft-clean", About: "ft with the old AP's entry removed after each move (tx=0): the internal EAP server's baseline for ft-radius",
		FT: true, AP: []string{"pmk_r1_push=1"}, KeyMgmt: "FT-EAP",
		Steps: []string{"roam ap2", "clean ap1", "roam ap1", "clean ap2", "roam ap2"}},
	{Name: "ft-radius", About: "ft-clean, authenticated by a RADIUS server instead of the APs' internal EAP servers",
		FT: true, Radius: true, AP: []string{"pmk_r1_push=1"}, KeyMgmt: "FT-EAP",
		Steps: []string{"roam ap2", "clean ap1", "roam ap1", "clean ap2", "roam ap2"}},
	{Name: "eap-radius", About: "WPA2-EAP through RADIUS, PMKSA caching: full EAP at AP2, then PMKSA-cache moves to fresh entries",
		Radius: true, AP: []string{"okc=1", "disable_pmksa_caching=0"}, KeyMgmt: "WPA-EAP",
		Steps: []string{"roam ap2", "clean ap1", "roam ap1", "clean ap2", "roam ap2"}},
	// FT over the DS (IEEE 802.11-2020 13.5): the FT Request and Response
	// travel as Action frames through the current AP and over the ds link
	// (RRB, 0x890d) to the target, so no Authentication frame goes to the
	// target AP, whose slow answer under TCG makes mac80211 retransmit
	// an over-the-air FT Authentication, and hostapd answers the
	// retransmission with a new ANonce the client never sees (status 55
	// at the reassociation, then full EAP: scenario 2, 2 of 2 runs).
	{Name: "ft-ds-radius", About: "ft-radius over the DS (wpa_cli ft_ds): FT Action frames through the current AP and the ds link",
		FT: true, Radius: true, AP: []string{"pmk_r1_push=1", "ft_over_ds=1"}, KeyMgmt: "FT-EAP",
		Steps: []string{"ftds ap2", "clean ap1", "ftds ap1", "clean ap2", "ftds ap2"}},
	{Name: "ft-radius-debug", About: "ft-radius with hostapd -d -K at the APs: where the identity comes from (timings not representative)",
		FT: true, Radius: true, AP: []string{"pmk_r1_push=1"}, KeyMgmt: "FT-EAP", Debug: true,
		Steps: []string{"roam ap2", "clean ap1", "roam ap1"}},
}

type roamAP struct{ name, radio, bssid, peer, peerName, radAddr string }

var roamAPs = []roamAP{
	{"ap1", "wlan0", bssid1, bssid2, "ap2", "10.98.0.1"},
	{"ap2", "wlan1", bssid2, bssid1, "ap1", "10.98.0.3"},
}

// files are the case's configurations, written to /mnt/share/roam/<case>.
func (c roamCase) files() map[string]string {
	f := map[string]string{"eap_users": fmt.Sprintf("%q PSK %s\n", Identity, eapPSK)}
	for _, ap := range roamAPs {
		km := "WPA-EAP"
		if c.FT {
			km = "WPA-EAP FT-EAP"
		}
		lines := []string{
			"interface=" + ap.radio, "bridge=br-lan", "driver=nl80211",
			"ctrl_interface=/run/hostapd-" + ap.name, "ssid=" + roamSSID,
			"hw_mode=g", "channel=1", "ieee8021x=1", "eapol_version=2",
			"wpa=2", "wpa_key_mgmt=" + km, "rsn_pairwise=CCMP",
			"nas_identifier=" + ap.name + ".example.net",
		}
		if c.Radius {
			lines = append(lines, radiusClientLines(ap.radAddr, aaaAddr)...)
		} else {
			lines = append(lines, "eap_server=1", "eap_user_file=/mnt/share/roam/"+c.Name+"/eap_users")
		}
		if c.FT {
			// IEEE 802.11-2020 13: one mobility domain; this AP is the
			// R0KH of stations that associate here first and an R1KH
			// for stations whose R0KH is the other AP.
			lines = append(lines, "mobility_domain=a1b2", "ft_over_ds=0",
				"r1_key_holder="+noColons(ap.bssid),
				"r0kh="+ap.bssid+" "+ap.name+".example.net "+ftKey,
				"r0kh="+ap.peer+" "+ap.peerName+".example.net "+ftKey,
				"r1kh="+ap.bssid+" "+ap.bssid+" "+ftKey,
				"r1kh="+ap.peer+" "+ap.peer+" "+ftKey)
		}
		f["hostapd-"+ap.name+".conf"] = strings.Join(append(lines, c.AP...), "\n") + "\n"
	}
	if c.Radius {
		f["hostapd-aaa.conf"] = radiusServerConfig("/run/hostapd-aaa", "/mnt/share/roam/"+c.Name)
		f["radius_clients"] = radiusClients("10.98.0.0/24")
	}
	f["wpa.conf"] = strings.Join([]string{
		"ctrl_interface=/run/wpa", "network={", `ssid="` + roamSSID + `"`,
		"key_mgmt=" + c.KeyMgmt, "eap=PSK", `identity="` + Identity + `"`, "password=" + eapPSK,
		fmt.Sprintf("scan_freq=%d", freq), "bssid=" + bssid1, "proactive_key_caching=1", "disabled=1", "}",
	}, "\n") + "\n"
	return f
}

// script runs the case in the guest and leaves its logs in
// /mnt/results/<case>: hostapd and wpa_supplicant logs (-t), both APs'
// ping replies (-D) and each AP's all_sta after every step. Steps are
// marked in wpa_supplicant's log with wpa_cli note (busybox date has no
// sub-second time), "STEP name bssid" before and "DONE name" after.
func (c roamCase) script(hapmon string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	conf := "/mnt/share/roam/" + c.Name
	dbg := ""
	if c.Debug {
		// -K: key material in the log too (the study's keys are fixed test
		// keys): shows whether the PMK-R1 carries the identity.
		dbg = "-d -K "
	}
	w("set -eu")
	w("T=/tmp/roam-%s; R=/mnt/results/%s; rm -rf $T; mkdir -p $T $R", c.Name, c.Name)
	w(`W="/bin/ip netns exec sta /sbin/wpa_cli -p /run/wpa -i wlan2"`)
	w(`finish() { rc=$?; for p in $T/*.pid; do [ -e "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 0.5; cp $T/*.log $T/*.txt $R/ 2>/dev/null; exit $rc; }`)
	w("trap finish EXIT")
	if c.Radius {
		// The AAA server first: an AP whose first Access-Request finds
		// no server retries only after its RADIUS timeout.
		w("/bin/ip netns exec aaa /usr/sbin/hostapd -B -d -t -f $T/hostapd-aaa.log -P $T/hostapd-aaa.pid %s/hostapd-aaa.conf", conf)
		w(`i=0; until [ -S /run/hostapd-aaa/%s ]; do i=$((i+1)); [ $i -lt 100 ] || { echo "RADIUS server not up"; cat $T/hostapd-aaa.log; exit 1; }; sleep 0.2; done`, radiusIface)
	}
	for _, ap := range roamAPs {
		w("/bin/ip netns exec %s /usr/sbin/hostapd -B %s-t -f $T/hostapd-%s.log -P $T/hostapd-%s.pid %s/hostapd-%s.conf",
			ap.name, dbg, ap.name, ap.name, conf, ap.name)
	}
	w("/bin/ip netns exec sta /sbin/wpa_supplicant -B -t -f $T/wpa.log -P $T/wpa.pid -i wlan2 -c %s/wpa.conf", conf)
	w(`i=0; until [ -S /run/wpa/wlan2 ] && [ -S /run/hostapd-ap1/wlan0 ] && [ -S /run/hostapd-ap2/wlan1 ]; do i=$((i+1)); [ $i -lt 100 ] || { echo "daemons not up"; cat $T/*.log; exit 1; }; sleep 0.2; done`)
	// Two hook paths per AP: ATTACH on the control socket, and
	// hostapd_cli -a with a script that execs a static binary (today's
	// chain without its hostapd_cli sta query).
	w(`printf '#!/bin/sh\nexec %s stamp "$@"\n' >$T/stamp.sh; chmod 755 $T/stamp.sh`, hapmon)
	for _, ap := range roamAPs {
		w("/bin/ip netns exec %s %s monitor -ctrl /run/hostapd-%s %s >$T/mon-%s.log 2>&1 & echo $! >$T/mon-%s.pid",
			ap.name, hapmon, ap.name, ap.radio, ap.name, ap.name)
		w("/bin/ip netns exec %s /usr/sbin/hostapd_cli -p /run/hostapd-%s -i %s -a $T/stamp.sh >$T/act-%s.log 2>&1 & echo $! >$T/act-%s.pid",
			ap.name, ap.name, ap.radio, ap.name, ap.name)
	}
	w(`i=0; until grep -q ATTACHED $T/mon-ap1.log && grep -q ATTACHED $T/mon-ap2.log; do i=$((i+1)); [ $i -lt 100 ] || { echo "monitor not attached"; cat $T/mon-*.log; exit 1; }; sleep 0.1; done`)
	w("sleep 1")
	// Both APs in the scan table, or wpa_cli roam has nothing to roam to.
	w(`i=0; until $W scan_results | grep -q %s && $W scan_results | grep -q %s; do i=$((i+1)); [ $i -lt 60 ] || { echo "scan: not both APs"; $W scan_results; exit 1; }; $W scan >/dev/null; sleep 1; done`, bssid1, bssid2)
	w(`wait_on() { i=0; until $W status | grep -q "^bssid=$1" && $W status | grep -q wpa_state=COMPLETED; do i=$((i+1)); [ $i -lt 300 ] || { echo "not connected to $1"; $W status; exit 1; }; sleep 0.1; done; }`)
	w(`dump() { for a in ap1:wlan0 ap2:wlan1; do n=${a%%:*}; /bin/ip netns exec $n /usr/sbin/hostapd_cli -p /run/hostapd-$n -i ${a#*:} all_sta >$T/sta-$1-$n.txt 2>&1 || true; done; $W pmksa >$T/pmksa-$1.txt 2>&1 || true; }`)
	w(`$W note "STEP assoc-ap1 %s" >/dev/null`, bssid1)
	w("$W enable_network 0 >/dev/null")
	w("wait_on %s", bssid1)
	w(`$W note "DONE assoc-ap1" >/dev/null`)
	w("dump assoc-ap1")
	for _, ap := range roamAPs {
		w("/bin/ip netns exec %s /bin/ping -D -i 0.01 -W 1 10.99.0.2 >$T/ping-%s.log 2>&1 & echo $! >$T/ping-%s.pid", ap.name, ap.name, ap.name)
	}
	w("sleep 2")
	for i, step := range c.Steps {
		verb, target, _ := strings.Cut(step, " ")
		bss := bssid1
		if target == "ap2" {
			bss = bssid2
		}
		name := fmt.Sprintf("%d-%s-%s", i+1, verb, target)
		w(`$W note "STEP %s %s" >/dev/null`, name, bss)
		switch verb {
		case "bbm":
			w("$W bssid 0 %s >/dev/null && $W disconnect >/dev/null && $W reconnect >/dev/null", bss)
			w("wait_on %s", bss)
		case "roam":
			w("$W bssid 0 %s >/dev/null && $W roam %s >/dev/null", bss, bss)
			w("wait_on %s", bss)
		case "ftds":
			w("$W bssid 0 %s >/dev/null && $W ft_ds %s >/dev/null", bss, bss)
			w("wait_on %s", bss)
		case "clean":
			// What the old MAG does once the LMA has moved the binding
			// (docs/handover.md 5.5): drop the station without a frame.
			for _, ap := range roamAPs {
				if ap.name == target {
					w("/bin/ip netns exec %s /usr/sbin/hostapd_cli -p /run/hostapd-%s -i %s deauthenticate %s tx=0 >/dev/null", ap.name, ap.name, ap.radio, staMAC)
				}
			}
			w("sleep 1.5")
		case "preauth":
			w("$W preauthenticate %s >/dev/null", bss)
			w(`i=0; until $W pmksa | grep -q %s; do i=$((i+1)); [ $i -lt 300 ] || { echo "no PMKSA for %s"; $W pmksa; exit 1; }; sleep 0.1; done`, bss, bss)
		}
		w(`$W note "DONE %s" >/dev/null`, name)
		w("sleep 2")
		w("dump %s", name)
	}
	return b.String()
}
