package hostapd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/syncbuf"
)

// TestVMRealHostapd runs the action hook under the real hostapd_cli of a
// real hostapd, with a station authenticating by 802.1X (hostapd's
// internal EAP server, EAP-PSK), in the QEMU guest (test tier 3: it needs
// mac80211_hwsim, hostapd and wpa_supplicant):
//
//	[ns ap]  phy0 wlan0 hostapd (WPA2-EAP) ))) hwsim ((( wlan1 wpa_supplicant phy1 [ns sta]
//	           │ ctrl socket                                identity alice@example.org
//	hostapd_cli -a pmip-hostapd-action ──► pmip-mag (this binary) hook action
//	           └─► hostapd_cli sta MAC (identity) ──► unixgram ──► Listener ──► events
func TestVMRealHostapd(t *testing.T) {
	nstest.RequireVM(t)
	w := startWiFi(t)
	bins, dir, ctrl, sta, staMAC, staConf, staLog := w.bins, w.dir, w.ctrl, w.sta, w.staMAC, w.staConf, w.staLog

	// The hook as deployed: the real script, run by the real hostapd_cli,
	// calling pmip-mag (this test binary) found on PATH.
	socket, events, _ := startListener(t)
	// The real hostapd_cli's folder, never testdata/bin's fake.
	env := hookEnvPath(t, socket, filepath.Dir(bins["hostapd_cli"]))
	env = append(env, CtrlDirEnv+"="+ctrl)
	script := filepath.Join(dir, "pmip-hostapd-action")
	b, err := os.ReadFile("../../hostapd-hooks/pmip-hostapd-action")
	if err != nil {
		t.Fatal(err)
	}
	// A copy in tmpfs: the Malta guest kernel cannot exec from 9p.
	if err := os.WriteFile(script, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cli := exec.Command(bins["hostapd_cli"], "-p", ctrl, "-i", "wlan0", "-a", script)
	cli.Env = env
	var cliOut syncbuf.Buffer
	cli.Stdout, cli.Stderr = &cliOut, &cliOut
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.Process.Kill()
		_ = cli.Wait()
		if t.Failed() {
			t.Logf("--- hostapd_cli -a:\n%s", cliOut.String())
		}
	})
	time.Sleep(500 * time.Millisecond) // let hostapd_cli attach before the station comes; a miss fails below, never passes wrongly

	t0 := time.Now()
	wpa := exec.Command(bins["wpa_supplicant"], "-t", "-f", staLog, "-i", "wlan1", "-c", staConf)
	if err := sta.Start(wpa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wpa.Process.Kill(); _ = wpa.Wait() })

	sMAC := mac(staMAC)
	want := Event{Kind: Connected, Interface: "wlan0", MAC: sMAC, Identity: "alice@example.org", Source: SourceAction}
	if diff := cmp.Diff(want, nextEventWithin(t, events, 60*time.Second)); diff != "" {
		t.Fatalf("event (-want +got):\n%s", diff)
	}
	t.Logf("802.1X association to Connected event with identity: %v", time.Since(t0).Round(time.Millisecond))

	// The MAG's own question on hostapd's control socket (QueryStation,
	// what the engine asks of a client heard before the event).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q0 := time.Now()
	st, err := QueryStation(ctx, ctrl, "wlan0", sMAC)
	if err != nil || st.Identity != "alice@example.org" || !st.Authorized || st.AKM != "00-0f-ac-1" {
		t.Fatalf("QueryStation = %+v, %v; want alice@example.org, authorized, AKM 00-0f-ac-1 (WPA-EAP)", st, err)
	}
	t.Logf("QueryStation on the control socket: %v", time.Since(q0).Round(time.Microsecond))
	if _, err := QueryStation(ctx, ctrl, "wlan0", mac("02:00:00:00:99:99")); !errors.Is(err, ErrNoStation) {
		t.Errorf("QueryStation of a stranger: %v, want ErrNoStation", err)
	}

	sta.Run(t, bins["wpa_cli"], "-p", filepath.Join(dir, "wpa"), "-i", "wlan1", "disconnect")
	want = Event{Kind: Disconnected, Interface: "wlan0", MAC: sMAC, Source: SourceAction}
	if diff := cmp.Diff(want, nextEventWithin(t, events, 30*time.Second)); diff != "" {
		t.Fatalf("event (-want +got):\n%s", diff)
	}
}

// wifi is one AP and one station over mac80211_hwsim, each radio in its
// own namespace, hostapd running (WPA2-EAP, hostapd's internal EAP
// server, EAP-PSK for alice@example.org) and wpa_supplicant configured
// but not started.
type wifi struct {
	bins            map[string]string
	dir, ctrl       string
	ap, sta         *nstest.NS
	staMAC          string
	apConf, staConf string
	apLog, staLog   string
	hostapd         *exec.Cmd
}

func startWiFi(t *testing.T) *wifi {
	t.Helper()
	w := &wifi{bins: map[string]string{}}
	for _, b := range []string{"hostapd", "hostapd_cli", "wpa_supplicant", "wpa_cli", "iw", "modprobe"} {
		w.bins[b] = findBinary(t, b)
	}
	must := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	must(w.bins["modprobe"], "mac80211_hwsim", "radios=2")
	t.Cleanup(func() { _ = exec.Command(w.bins["modprobe"], "-r", "mac80211_hwsim").Run() })
	// Read before the move: /sys shows the namespace that mounted it.
	addr, err := os.ReadFile("/sys/class/net/wlan1/address")
	if err != nil {
		t.Fatal(err)
	}
	w.staMAC = strings.TrimSpace(string(addr))
	// The kernel numbers phys on, across reloads of the module: read
	// the names rather than assume phy0 and phy1.
	phy := func(dev string) string {
		b, err := os.ReadFile("/sys/class/net/" + dev + "/phy80211/name")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	apPhy, staPhy := phy("wlan0"), phy("wlan1")
	w.ap, w.sta = nstest.New(t, "ap"), nstest.New(t, "sta")
	must(w.bins["iw"], "phy", apPhy, "set", "netns", "name", w.ap.Name)
	must(w.bins["iw"], "phy", staPhy, "set", "netns", "name", w.sta.Name)
	w.sta.Run(t, "ip", "link", "set", "wlan1", "up")

	w.dir = t.TempDir()
	w.ctrl = filepath.Join(w.dir, "hostapd")
	const psk = "06b4be19da289f475aa46a33cb793029" // EAP-PSK key, 16 octets
	write := func(name string, lines ...string) string {
		p := filepath.Join(w.dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users := write("eap_users", `"alice@example.org" PSK `+psk)
	w.apConf = write("hostapd.conf", "interface=wlan0", "driver=nl80211", "ctrl_interface="+w.ctrl,
		"ssid=pmip-eap", "hw_mode=g", "channel=1", "ieee8021x=1", "eap_server=1", "eap_user_file="+users,
		"wpa=2", "wpa_key_mgmt=WPA-EAP", "rsn_pairwise=CCMP")
	w.staConf = write("wpa.conf", "ctrl_interface="+filepath.Join(w.dir, "wpa"), "network={", `ssid="pmip-eap"`,
		"key_mgmt=WPA-EAP", "eap=PSK", `identity="alice@example.org"`, "password="+psk, "scan_freq=2412", "}")
	w.apLog, w.staLog = filepath.Join(w.dir, "hostapd.log"), filepath.Join(w.dir, "wpa.log")
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{w.apLog, w.staLog} {
				b, _ := os.ReadFile(f)
				t.Logf("--- %s:\n%s", f, b)
			}
		}
	})
	w.startHostapd(t)
	t.Cleanup(func() { w.stopHostapd() })
	return w
}

// startHostapd starts hostapd and waits for its control socket.
func (w *wifi) startHostapd(t *testing.T) {
	t.Helper()
	w.hostapd = exec.Command(w.bins["hostapd"], "-t", "-f", w.apLog, w.apConf)
	if err := w.ap.Start(w.hostapd); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(w.ctrl, "wlan0"))
}

// stopHostapd stops hostapd as a service manager does (SIGTERM): it
// removes its control socket.
func (w *wifi) stopHostapd() {
	if w.hostapd == nil {
		return
	}
	_ = w.hostapd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = w.hostapd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = w.hostapd.Process.Kill()
		<-done
	}
	w.hostapd = nil
}

func nextEventWithin(t *testing.T, events <-chan Event, d time.Duration) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return Event{}
}

func findBinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found in the guest", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// waitFile waits for hostapd to create its control socket.
func waitFile(t *testing.T, p string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !fileExists(p); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
