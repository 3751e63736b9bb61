package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/uci"
	"github.com/openpmip/pmip/mag/magconfig"
)

// shellData renders a UCI file as the _sec/_opt/_list calls
// testdata/procd-harness.sh loads, naming anonymous sections cfgNN as
// libuci names them cfgXXXXXX.
func shellData(t *testing.T, f *uci.File) string {
	t.Helper()
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	var b strings.Builder
	for i, s := range f.Sections {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("cfg%02x", i)
		}
		fmt.Fprintf(&b, "_sec %s %s\n", q(s.Type), name)
		for _, o := range s.Options {
			cmd := "_opt"
			if o.List {
				cmd = "_list"
			}
			for _, v := range o.Values {
				fmt.Fprintf(&b, "%s %s %s %s\n", cmd, name, o.Name, q(v))
			}
		}
	}
	return b.String()
}

// TestInitScriptProcd runs files/pmip.init's start_service against UCI
// configurations, with procd and /lib/functions.sh stubbed by
// testdata/procd-harness.sh, under every POSIX shell at hand (dash is close
// to OpenWrt's ash; busybox sh is ash), and compares the procd calls with
// what each configuration must start.
//
//	config ──► harness: config_* over the parsed file
//	               │
//	               ▼
//	           pmip.init start_service ──procd_*──► text compared below
func TestInitScriptProcd(t *testing.T) {
	shells := [][]string{{"sh"}}
	if _, err := exec.LookPath("dash"); err == nil {
		shells = append(shells, []string{"dash"})
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		if exec.Command(bb, "sh", "-c", "true").Run() == nil {
			shells = append(shells, []string{bb, "sh"})
		}
	}
	init, err := filepath.Abs("../pmip/files/pmip.init")
	if err != nil {
		t.Fatal(err)
	}
	defaultConf, err := os.ReadFile("../pmip/files/pmip.config")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../../docs/mag.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	magWith := func(flags string) string {
		return "instance mag\n" +
			"  command /usr/sbin/pmip-mag -config /etc/config/pmip" + flags + "\n" +
			"  nice -10\n" +
			"  file /etc/config/pmip\n" +
			"  respawn 3600 5 5\n" +
			"  stdout 1\n" +
			"  stderr 1\n" +
			"end\n"
	}
	magInstance := magWith(" -hostapd-ctrl-dir /var/run/hostapd")
	cliHook := func(iface, socket, ctrl string) string {
		return "instance hook_" + iface + "\n" +
			"  command /usr/sbin/hostapd_cli -p " + ctrl + " -i " + iface + " -a /usr/libexec/pmip/pmip-hostapd-action\n" +
			"  env PMIP_MAG=/usr/sbin/pmip-mag PMIP_MAG_SOCKET=" + socket + " PMIP_HOSTAPD_CTRL=" + ctrl + "\n" +
			"  respawn 3600 5 0\n" +
			"  stderr 1\n" +
			"end\n"
	}
	const tail = "start_service returned 0\nreload_trigger pmip\n"
	tests := []struct {
		name   string
		config string
		want   string
	}{
		{
			name:   "shipped default: disabled, starts nothing",
			config: string(defaultConf),
			want:   "config_load pmip\n" + tail,
		},
		{
			name:   "documented example: the daemon reads hostapd's control sockets itself (hook ctrl), no hook process",
			config: string(example),
			want: "config_load pmip\n" +
				"mkdir -p /var/run/pmip-mag\n" +
				magInstance +
				tail,
		},
		{
			name: "cli hooks: one hostapd_cli per BSS, in the control directory of the file; none on a wired link by default",
			config: `config mag 'ap'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8:1::2'
	option hostapd_hook 'cli'
	option hostapd_ctrl_dir '/run/hostapd'
config access 'lan'
	option interface 'br-lan'
	list hostapd_iface 'phy0-ap0'
	list hostapd_iface 'phy1-ap0'
config access 'wired'
	option interface 'lan4'
	option att '802.3'
config policy
	option realm 'example.net'
`,
			want: "config_load pmip\n" +
				"mkdir -p /var/run/pmip-mag\n" +
				magWith(" -hostapd-ctrl-dir /run/hostapd") +
				cliHook("phy0-ap0", "/var/run/pmip-mag/hostapd.sock", "/run/hostapd") +
				cliHook("phy1-ap0", "/var/run/pmip-mag/hostapd.sock", "/run/hostapd") +
				tail,
		},
		{
			name: "control sockets off: cli hooks by default, hostapd_cli's own directory, no flag",
			config: `config mag 'ap'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8:1::2'
	option hostapd_ctrl_dir 'off'
config access 'lan'
	option interface 'wlan0'
config access 'wired'
	option interface 'lan4'
	option att '802.3'
	list hostapd_iface 'lan4'
config policy
	option realm 'example.net'
`,
			want: "config_load pmip\n" +
				"mkdir -p /var/run/pmip-mag\n" +
				magWith("") +
				cliHook("wlan0", "/var/run/pmip-mag/hostapd.sock", "/var/run/hostapd") +
				cliHook("lan4", "/var/run/pmip-mag/hostapd.sock", "/var/run/hostapd") +
				tail,
		},
		{
			name: "ubus hooks; default triggers; hostapd_iface defaults to the interface; no hook without the hostapd trigger",
			config: `config mag 'ap'
	option lma_address '2001:db8::1'
	list proxy_coa '2001:db8:1::2'
	option hostapd_hook 'ubus'
	option hostapd_socket '/tmp/pmip/ev.sock'
config access 'radio0'
	option interface 'wlan0'
config access 'radio1'
	option interface 'wlan1'
	list trigger 'dhcp'
	list trigger 'rs'
config policy
	option realm 'example.net'
`,
			want: "config_load pmip\n" +
				"mkdir -p /tmp/pmip\n" +
				magInstance +
				"instance hook_wlan0\n" +
				"  command /usr/libexec/pmip/pmip-ubus-subscriber wlan0\n" +
				"  env PMIP_MAG=/usr/sbin/pmip-mag PMIP_MAG_SOCKET=/tmp/pmip/ev.sock\n" +
				"  respawn 3600 5 0\n" +
				"  stderr 1\n" +
				"end\n" +
				tail,
		},
	}
	harness, err := filepath.Abs("testdata/procd-harness.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		f, err := uci.Parse("pmip", []byte(tt.config))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		// What the init script is given, the daemon must accept too.
		if _, err := magconfig.FromFile(f); err != nil {
			t.Fatalf("%s: magconfig refuses the configuration:\n%v", tt.name, err)
		}
		data := filepath.Join(t.TempDir(), "uci.sh")
		if err := os.WriteFile(data, []byte(shellData(t, f)), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, sh := range shells {
			t.Run(filepath.Base(sh[0])+"/"+tt.name, func(t *testing.T) {
				cmd := exec.Command(sh[0], append(sh[1:], harness)...)
				cmd.Env = append(os.Environ(), "UCI_DATA="+data, "INIT="+init)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
				}
				if diff := cmp.Diff(tt.want, string(out)); diff != "" {
					t.Errorf("procd calls (-want +got):\n%s\nstderr:\n%s", diff, stderr.String())
				}
			})
		}
	}
}
