package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/mag/magconfig"
)

const testConfig = `config mag 'main'
	option lma_address '2001:db8:ffff::1'
	list proxy_coa '2001:db8:1:1::2'
	option log_level 'warn'

config access 'lan'
	option interface 'br-access'
	list hostapd_iface 'phy0-ap0'
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pmip")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help", []string{"-help"}, 0, "Install on an AP"},
		{"bad level", []string{"-log-level", "loud"}, 2, `-log-level "loud"`},
		{"bad format", []string{"-log-format", "xml"}, 2, `-log-format "xml"`},
		{"bad dataplane", []string{"-dataplane", "ebpf"}, 2, `-dataplane "ebpf"`},
		{"relative hostapd ctrl dir", []string{"-hostapd-ctrl-dir", "run/hostapd"}, 2, `-hostapd-ctrl-dir "run/hostapd"`},
		{"help names the monitor", []string{"-help"}, 0, "-hostapd-ctrl-dir"},
		{"stray argument", []string{"start"}, 2, `unexpected argument "start"`},
		{"unknown flag", []string{"-frobnicate"}, 2, "flag provided but not defined"},
		{"hook without subcommand", []string{"hook"}, 1, "hook needs a subcommand"},
		{"hook unknown", []string{"hook", "dance"}, 1, `unknown hook subcommand "dance"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &out)
			if code != tc.code || !strings.Contains(out.String(), tc.out) {
				t.Errorf("run(%q) = %d, output:\n%s\nwant %d and %q", tc.args, code, out.String(), tc.code, tc.out)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-check", "-config", writeConfig(t, testConfig)}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("-check of a valid file: %d, %s", code, errOut.String())
	}
	for _, want := range []string{
		"LMA 2001:db8:ffff::1 over IPv6 from 2001:db8:1:1::2, tunnel ip6ip6",
		"router identity 00:00:5e:00:52:13 / fe80::200:5eff:fe00:5213",
		"access lan on br-access: ATT 4, triggers hostapd dhcp rs ns, hostapd phy0-ap0",
		"hostapd events from its control sockets in /var/run/hostapd: phy0-ap0 (hook ctrl)",
		"hostapd events on /var/run/pmip-mag/hostapd.sock (hook ctrl)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	errOut.Reset()
	bad := strings.Replace(testConfig, "2001:db8:ffff::1", "2001:db8:ffff::zz", 1)
	if code := run([]string{"-check", "-config", writeConfig(t, bad)}, nil, &out, &errOut); code != 1 {
		t.Errorf("-check of an invalid file: %d", code)
	}
	if !strings.Contains(errOut.String(), "lma_address") {
		t.Errorf("error does not name the option: %s", errOut.String())
	}
	if code := run([]string{"-check", "-config", filepath.Join(t.TempDir(), "missing")}, nil, &out, &errOut); code != 1 {
		t.Errorf("-check of a missing file: %d", code)
	}
}

func TestDisabledExitsCleanly(t *testing.T) {
	var out bytes.Buffer
	cfg := strings.Replace(testConfig, "config mag 'main'\n", "config mag 'main'\n\toption enabled '0'\n", 1)
	if code := run([]string{"-config", writeConfig(t, cfg)}, nil, &out, &out); code != 0 {
		t.Fatalf("disabled daemon: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "disabled") {
		t.Errorf("no word of being disabled:\n%s", out.String())
	}
}

func TestRestartCounter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	file := filepath.Join(t.TempDir(), "sub", "restart_counter")
	for want := uint32(1); want <= 3; want++ {
		got, err := nextRestartCounter(file, now)
		if err != nil || got != want {
			t.Fatalf("start %d: counter %d, %v", want, got, err)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "3\n" {
		t.Errorf("file holds %q", b)
	}

	// RFC 5847 5.2: any change is a restart; the counter wraps past 0.
	os.WriteFile(file, []byte("4294967295\n"), 0o600)
	if got, err := nextRestartCounter(file, now); err != nil || got != 1 {
		t.Errorf("after 2^32-1: %d, %v; want 1", got, err)
	}

	os.WriteFile(file, []byte("many\n"), 0o600)
	got, err := nextRestartCounter(file, now)
	if err == nil || !strings.Contains(err.Error(), `"many"`) || got != uint32(now.Unix()) {
		t.Errorf("garbage file: %d, %v; want the clock's value and an error", got, err)
	}

	// A file that cannot be written: the clock's value, and why.
	ro := filepath.Join(t.TempDir(), "restart_counter")
	os.Mkdir(ro, 0o755) // a directory where the file should be
	got, err = nextRestartCounter(ro, now)
	if err == nil || got != uint32(now.Unix()) {
		t.Errorf("unwritable: %d, %v", got, err)
	}
}

func TestRestartNeeded(t *testing.T) {
	a, err := magconfig.Parse("a", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := magconfig.Parse("a", []byte(testConfig))
	if got := restartNeeded(a, b); len(got) != 0 {
		t.Errorf("same file: %v", got)
	}
	c, _ := magconfig.Parse("a", []byte(strings.Replace(testConfig, "2001:db8:ffff::1", "2001:db8:ffff::2", 1)+
		"\nconfig policy\n\toption realm 'other.example'\n"))
	got := restartNeeded(a, c)
	if strings.Join(got, " ") != "LMAAddress Policy" {
		t.Errorf("changed: %v, want LMAAddress Policy", got)
	}
}

// TestNoTunnel: the reduced data plane keeps everything but tunnels and
// the routes through them, in Set and in Change.
func TestNoTunnel(t *testing.T) {
	ctx := context.Background()
	fake := dataplanetest.New("br-access")
	dp := noTunnel{fake}
	hnp := netip.MustParsePrefix("2001:db8:100::/64")
	st := &dataplane.State{
		Tunnels: []dataplane.Tunnel{{Name: "pmip0", Kind: dataplane.IP6,
			Local: netip.MustParseAddr("2001:db8:1:1::2"), Remote: netip.MustParseAddr("2001:db8:ffff::1")}},
		Addresses: []dataplane.Address{{Dev: "br-access", Prefix: netip.MustParsePrefix("fe80::200:5eff:fe00:5213/64"), NoDAD: true}},
		Routes: []dataplane.Route{
			{Table: 100, Dst: netip.MustParsePrefix("::/0"), Dev: "pmip0"},
			{Dst: hnp, Dev: "br-access"},
		},
		Rules: []dataplane.Rule{{Priority: 1000, Src: hnp, IIf: "br-access", Table: 100}},
	}
	if err := dp.Set(ctx, st); err != nil {
		t.Fatal(err)
	}
	got := fake.String()
	if strings.Contains(got, "pmip0") {
		t.Errorf("tunnel or route through it installed:\n%s", got)
	}
	for _, want := range []string{"br-access", "2001:db8:100::/64", "fe80::200:5eff:fe00:5213/64", "1000"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q missing:\n%s", want, got)
		}
	}

	other := netip.MustParsePrefix("2001:db8:200::/64")
	err := dp.Change(ctx,
		dataplane.Op{Action: dataplane.Add, Obj: dataplane.Route{Table: 101, Dst: netip.MustParsePrefix("::/0"), Dev: "pmip-gre6",
			Encap: dataplane.Encap{Dst: netip.MustParseAddr("2001:db8:ffff::1"), Keyed: true, Key: 7}}},
		dataplane.Op{Action: dataplane.Add, Obj: dataplane.Route{Dst: other, Dev: "br-access"}})
	if err != nil {
		t.Fatal(err)
	}
	ops := strings.Join(fake.Kernel.Ops(), "\n")
	if strings.Contains(ops, "pmip-gre6") || !strings.Contains(ops, "2001:db8:200::/64") {
		t.Errorf("Change applied:\n%s", ops)
	}
	if err := dp.Change(ctx, dataplane.Op{Action: dataplane.Add, Obj: st.Tunnels[0]}); err != nil {
		t.Errorf("a Change of only tunnels: %v", err)
	}
	if err := dp.Set(ctx, nil); err != nil || fake.String() != "" {
		t.Errorf("teardown: %v, left:\n%s", err, fake.String())
	}
}
