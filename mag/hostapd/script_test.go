package hostapd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMain lets the test binary stand in for pmip-mag: invoked through a
// symlink named pmip-mag, it runs the hook exactly as cmd/pmip-mag does.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "pmip-mag" {
		if len(os.Args) < 2 || os.Args[1] != "hook" {
			fmt.Fprintln(os.Stderr, "test pmip-mag: only the hook subcommand")
			os.Exit(2)
		}
		if err := RunHook(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "pmip-mag hook:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// hookEnv returns the environment the hooks run in: PATH starting with a
// pmip-mag (this test binary) and the fakes in testdata/bin, and the MAG's
// socket.
func hookEnv(t *testing.T, socket string) []string {
	t.Helper()
	fakes, err := filepath.Abs("testdata/bin")
	if err != nil {
		t.Fatal(err)
	}
	return hookEnvPath(t, socket, fakes)
}

// hookEnvPath is hookEnv with the given folder, not the fakes, after
// pmip-mag on PATH.
func hookEnvPath(t *testing.T, socket, dir string) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "pmip-mag")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"PATH="+bin+":"+dir+":"+os.Getenv("PATH"),
		SocketEnv+"="+socket,
		"FAKE_HOSTAPD_LOG="+filepath.Join(bin, "hostapd_cli.log"),
	)
}

// shells are the interpreters the hooks must run under: the system sh
// (dash on Debian) and busybox ash, as on OpenWrt, when installed.
func shells(t *testing.T) []string {
	sh := []string{"/bin/sh"}
	if _, err := exec.LookPath("busybox"); err == nil {
		sh = append(sh, "busybox sh")
	} else {
		t.Log("busybox not installed: testing the hooks under /bin/sh only")
	}
	return sh
}

// Topology:
//
//	test ──► sh hostapd-hooks/pmip-hostapd-action wlan0 EVENT MAC
//	            └─► pmip-mag (this binary) hook action ──► hostapd_cli (fake) sta MAC
//	                      └─► unixgram ──► Listener ──► events
func TestActionScript(t *testing.T) {
	script, err := filepath.Abs("../../hostapd-hooks/pmip-hostapd-action")
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells(t) {
		t.Run(sh, func(t *testing.T) {
			path, events, _ := startListener(t)
			env := hookEnv(t, path)
			run := func(args ...string) {
				t.Helper()
				argv := append(strings.Fields(sh), append([]string{script}, args...)...)
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s %v: %v\n%s", sh, args, err, out)
				}
			}
			// What hostapd_cli -a runs for one 802.1X station's life.
			run("wlan0", "CTRL-EVENT-EAP-STARTED", "02:00:00:00:01:00")
			run("wlan0", "CTRL-EVENT-EAP-SUCCESS", "02:00:00:00:01:00")
			run("wlan0", "EAPOL-4WAY-HS-COMPLETED", "02:00:00:00:01:00")
			run("wlan0", "AP-STA-CONNECTED", "02:00:00:00:01:00")
			run("wlan0", "AP-STA-DISCONNECTED", "02:00:00:00:01:00")
			sta := mac("02:00:00:00:01:00")
			for _, want := range []Event{
				{Kind: Connected, Interface: "wlan0", MAC: sta, Identity: "alice@example.org", Source: SourceAction},
				{Kind: Disconnected, Interface: "wlan0", MAC: sta, Source: SourceAction},
			} {
				if diff := cmp.Diff(want, nextEvent(t, events)); diff != "" {
					t.Fatalf("event (-want +got):\n%s", diff)
				}
			}
			select {
			case e := <-events:
				t.Fatalf("unexpected event %v", e)
			default:
			}
			log, err := os.ReadFile(envValue(env, "FAKE_HOSTAPD_LOG"))
			if err != nil || string(log) != "-i wlan0 sta 02:00:00:00:01:00\n" {
				t.Fatalf("hostapd_cli calls = %q, %v; want one sta query", log, err)
			}
		})
	}
}

// Topology:
//
//	test ──► sh hostapd-hooks/pmip-ubus-subscriber wlan0
//	            ubus (fake) subscribe hostapd.wlan0 | pmip-mag (this binary) hook ubus wlan0
//	                                                     └─► unixgram ──► Listener ──► events
func TestUbusSubscriberScript(t *testing.T) {
	script, err := filepath.Abs("../../hostapd-hooks/pmip-ubus-subscriber")
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells(t) {
		t.Run(sh, func(t *testing.T) {
			path, events, _ := startListener(t)
			argv := append(strings.Fields(sh), script, "wlan0")
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = hookEnv(t, path)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), "skipping malformed ubus line") {
				t.Errorf("the malformed line was not reported:\n%s", out)
			}
			sta := mac("02:00:00:00:01:00")
			for _, want := range []Event{
				{Kind: Connected, Interface: "wlan0", MAC: sta, Source: SourceUbus},
				{Kind: Authorized, Interface: "wlan0", MAC: sta, Identity: "alice@example.org", Source: SourceUbus},
				{Kind: Disconnected, Interface: "wlan0", MAC: sta, Source: SourceUbus},
			} {
				if diff := cmp.Diff(want, nextEvent(t, events)); diff != "" {
					t.Fatalf("event (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
