package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadRoamResults checks the roaming study's reading of its logs on a
// hand-made step: wpa_supplicant's notes and events, hostapd's lines with
// their doubled timestamps, ping -D replies from both APs and
// pmip-hapmon's records.
func TestReadRoamResults(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"wpa.log": `100.000000: NOTE: STEP assoc-ap1 ` + bssid1 + `
100.100000: wlan2: SME: Trying to authenticate with ` + bssid1 + ` (SSID='x' freq=2412 MHz)
100.150000: wlan2: CTRL-EVENT-EAP-STARTED EAP authentication started
100.300000: wlan2: CTRL-EVENT-CONNECTED - Connection to ` + bssid1 + ` completed
100.500000: NOTE: DONE assoc-ap1
110.000000: NOTE: STEP 1-roam-ap2 ` + bssid2 + `
110.200000: wlan2: SME: Trying to authenticate with ` + bssid2 + ` (SSID='x' freq=2412 MHz)
110.290000: wlan2: CTRL-EVENT-CONNECTED - Connection to ` + bssid2 + ` completed
110.600000: NOTE: DONE 1-roam-ap2
`,
		"hostapd-ap1.log": "100.290000: wlan0: AP-STA-CONNECTED " + staMAC + "\n",
		"hostapd-ap2.log": "110.210000: 110.210001: wlan1: STA " + staMAC + " IEEE 802.11: associated (aid 1)\n" +
			"110.280000: wlan1: AP-STA-CONNECTED " + staMAC + "\n",
		// AP1's replies stop at 110.19, AP2's begin at 110.31: 120 ms.
		"ping-ap1.log":           "[110.170000] 64 bytes from 10.99.0.2: icmp_seq=1\n[110.180000] 64 bytes from 10.99.0.2: icmp_seq=2\n[110.190000] 64 bytes from 10.99.0.2: icmp_seq=3\nno answer yet for icmp_seq=4\n",
		"ping-ap2.log":           "[110.310000] 64 bytes from 10.99.0.2: icmp_seq=12\n[110.320000] 64 bytes from 10.99.0.2: icmp_seq=13\n",
		"mon-ap2.log":            `{"t_ns":110280400000,"source":"monitor","iface":"wlan1","event":"AP-STA-CONNECTED ` + staMAC + `","handoff":3}` + "\n",
		"act-ap2.log":            `{"t_ns":110480000000,"source":"action","iface":"wlan1","event":"AP-STA-CONNECTED ` + staMAC + `"}` + "\n",
		"sta-1-roam-ap2-ap2.txt": staMAC + "\nflags=[AUTH][ASSOC][AUTHORIZED]\nAKMSuiteSelector=00-0f-ac-3\ndot1xAuthSessionUserName=N/A\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := readRoamResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("%d steps, want 2:\n%s", len(out), strings.Join(out, "\n"))
	}
	for i, want := range [][]string{
		{"assoc-ap1:", "802.11 authentication->connected 200 ms", "full EAP"},
		{"1-roam-ap2:", "802.11 authentication->connected 90 ms", "no EAP", "ap2 AP-STA-CONNECTED +280 ms",
			"via ctrl-socket monitor +0.4 ms", "rule: HI 3", "via action script +200.0 ms", "data gap 120 ms",
			"AKMSuiteSelector=00-0f-ac-3", "dot1xAuthSessionUserName=N/A", "ap1 sta: (no dump)"},
	} {
		for _, w := range want {
			if !strings.Contains(out[i], w) {
				t.Errorf("step %d lacks %q:\n%s", i, w, out[i])
			}
		}
	}
}

func TestMaxGap(t *testing.T) {
	ts := []float64{1.00, 1.01, 1.02, 1.30, 1.31, 2.00}
	if gap, end := maxGap(ts, 0.9, 1.5); gap < 0.279 || gap > 0.281 || end != 1.30 {
		t.Errorf("maxGap = %v ending %v, want 0.28 ending 1.30", gap, end)
	}
	if gap, _ := maxGap(ts, 1.5, 3); gap != 0 {
		t.Errorf("one reply in the window: gap %v, want 0", gap)
	}
}

func TestReadRoamResultsNoSteps(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"wpa.log", "hostapd-ap1.log", "hostapd-ap2.log", "ping-ap1.log", "ping-ap2.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("garbage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := readRoamResults(dir); err == nil {
		t.Error("logs without step notes gave no error")
	}
	if _, err := readRoamResults(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing folder gave no error")
	}
}
