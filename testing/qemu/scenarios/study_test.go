package scenarios

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestShippedNice parses the nice values the product ships with (the
// OpenWrt init script's MAG_NICE, handed to procd's nice parameter, and the
// LMA unit's Nice=) and requires the scenarios to start the daemons at the
// same values: the test bed cannot drift from the product.
func TestShippedNice(t *testing.T) {
	value := func(path, pattern string) int {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(pattern).FindAllSubmatch(b, -1)
		if len(m) != 1 {
			t.Fatalf("%s: %d lines match %q, want 1", path, len(m), pattern)
		}
		v, err := strconv.Atoi(string(m[0][1]))
		if err != nil || v < -20 || v > 19 {
			t.Fatalf("%s: nice value %q", path, m[0][1])
		}
		return v
	}
	const initScript = "../../../build/openwrt/pmip/files/pmip.init"
	if mag := value(initScript, `(?m)^MAG_NICE=(-?[0-9]+)$`); mag != shippedMAGNice {
		t.Errorf("%s: MAG_NICE=%d, shippedMAGNice %d", initScript, mag, shippedMAGNice)
	}
	if b, _ := os.ReadFile(initScript); !strings.Contains(string(b), `procd_set_param nice "$MAG_NICE"`) {
		t.Errorf("%s does not hand MAG_NICE to procd", initScript)
	}
	const unit = "../../../docs/pmip-lma.service"
	if lma := value(unit, `(?m)^Nice=(-?[0-9]+)$`); lma != shippedLMANice {
		t.Errorf("%s: Nice=%d, shippedLMANice %d", unit, lma, shippedLMANice)
	}
}

func TestLMACommand(t *testing.T) {
	argv := []string{"/tmp/pmip/pmip-lma", "-config", "lma.conf"}
	t.Setenv(envLMANice, "")
	cmd, err := lmaCommand(argv)
	if err != nil || cmd[0] != "/bin/sh" || !strings.Contains(cmd[2], fmt.Sprintf("renice -n %d -p $$", shippedLMANice)) ||
		!slices.Equal(cmd[3:], argv) {
		t.Errorf("shipped: %q %v", cmd, err)
	}
	t.Setenv(envLMANice, "0")
	if cmd, err := lmaCommand(argv); err != nil || !slices.Equal(cmd, argv) {
		t.Errorf("nice 0: %q %v", cmd, err)
	}
	t.Setenv(envLMANice, "-21")
	if _, err := lmaCommand(argv); err == nil {
		t.Errorf("%s=-21 accepted", envLMANice)
	}
}

func TestClientCommand(t *testing.T) {
	argv := []string{"/sbin/wpa_supplicant", "-t", "-i", "wlan2"}
	t.Setenv(envClientNice, "")
	if cmd, err := clientCommand(argv); err != nil || !slices.Equal(cmd, argv) {
		t.Errorf("default: %q %v, want the argv as it is", cmd, err)
	}
	t.Setenv(envClientNice, "-10")
	cmd, err := clientCommand(argv)
	if err != nil || cmd[0] != "/bin/sh" || !strings.Contains(cmd[2], "renice -n -10 -p $$") || !slices.Equal(cmd[3:], argv) {
		t.Errorf("-10: %q %v", cmd, err)
	}
	for _, bad := range []string{"x", "-21", "20"} {
		t.Setenv(envClientNice, bad)
		if _, err := clientCommand(argv); err == nil {
			t.Errorf("%s=%q accepted", envClientNice, bad)
		}
	}
}

func TestMAGCommand(t *testing.T) {
	argv := []string{"/tmp/pmip/pmip-mag", "-config", "x.conf"}
	t.Setenv(envMAGEnv, "")
	t.Setenv(envMAGNice, "")
	cmd, env, err := magCommand(argv)
	if err != nil || env != nil || len(cmd) != 3+len(argv) ||
		!strings.Contains(cmd[2], fmt.Sprintf("renice -n %d -p $$", shippedMAGNice)) || !slices.Equal(cmd[3:], argv) {
		t.Fatalf("no knobs: the shipped nice value: %q %v %v", cmd, env, err)
	}
	t.Setenv(envMAGNice, "0")
	if cmd, _, err := magCommand(argv); err != nil || !slices.Equal(cmd, argv) {
		t.Fatalf("nice 0: %q %v", cmd, err)
	}
	t.Setenv(envMAGEnv, "GODEBUG=gctrace=1 GOMEMLIMIT=16MiB")
	t.Setenv(envMAGNice, "-10")
	cmd, env, err = magCommand(argv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(env, []string{"GODEBUG=gctrace=1", "GOMEMLIMIT=16MiB"}) {
		t.Errorf("env %v", env)
	}
	if len(cmd) != 3+len(argv) || cmd[0] != "/bin/sh" || !strings.Contains(cmd[2], "renice -n -10 -p $$") ||
		!strings.Contains(cmd[2], `exec "$0" "$@"`) || !slices.Equal(cmd[3:], argv) {
		t.Errorf("argv %q", cmd)
	}
	t.Setenv(envMAGEnv, "GODEBUG")
	if _, _, err := magCommand(argv); err == nil {
		t.Errorf("%s without '=' accepted", envMAGEnv)
	}
	t.Setenv(envMAGEnv, "")
	for _, bad := range []string{"x", "-21", "20", "1; reboot"} {
		t.Setenv(envMAGNice, bad)
		if _, _, err := magCommand(argv); err == nil {
			t.Errorf("%s=%q accepted", envMAGNice, bad)
		}
	}
}
