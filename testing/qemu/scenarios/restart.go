package scenarios

import (
	"regexp"
	"strings"
	"time"
)

// lmaRunning is the line pmip-lma logs once it serves everything: the
// store recovered, the engine and the data plane rebuilt, the control
// socket listening (cmd/pmip-lma start).
const lmaRunning = `msg="pmip-lma: running"`

// storeOpenTook finds the store recovery time in pmip-lma's log.
var storeOpenTook = regexp.MustCompile(`msg="pmip-lma: store open" .*took=(\S+)`)

// LMARestart is what RestartLMA measured.
type LMARestart struct {
	// StaleSocket: the killed LMA's control socket file was still there
	// when the new one started (a SIGKILL leaves it), so the new LMA had
	// to replace it.
	StaleSocket bool
	// Running is from the start of the new process to its "running" line.
	Running time.Duration
	// StoreOpen is the store recovery time the LMA logged (0 if absent).
	StoreOpen time.Duration
}

// RestartLMA starts pmip-lma again after KillLMA, as "lma-restarted", and
// waits until it logs that it is running. It does not wait for the
// control socket file: the killed LMA left its own behind, which exists
// (and refuses connections) from the first instant. A restarted LMA that
// exits, or is not running within timeout, fails the test with its log.
func (d *Domain) RestartLMA(timeout time.Duration) LMARestart {
	d.T.Helper()
	var r LMARestart
	r.StaleSocket = strings.TrimSpace(d.sh("[ -S "+lmaSocket+" ] && echo stale || echo none")) == "stale"
	t0 := time.Now()
	argv, err := lmaCommand([]string{d.bins["pmip-lma"], "-config", lmaConf})
	if err != nil {
		d.T.Fatal(err)
	}
	d.start("lma-restarted", "lma", nil, argv...)
	d.WaitLog("lma-restarted", lmaRunning, 0, timeout)
	r.Running = time.Since(t0)
	if m := storeOpenTook.FindStringSubmatch(d.Log("lma-restarted")); m != nil {
		r.StoreOpen, _ = time.ParseDuration(m[1])
	}
	return r
}
