package scenarios

import (
	"slices"
	"strings"
	"testing"
)

func TestMAGCommand(t *testing.T) {
	argv := []string{"/tmp/pmip/pmip-mag", "-config", "x.conf"}
	t.Setenv(envMAGEnv, "")
	t.Setenv(envMAGNice, "")
	cmd, env, err := magCommand(argv)
	if err != nil || !slices.Equal(cmd, argv) || env != nil {
		t.Fatalf("no knobs: %v %v %v", cmd, env, err)
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
