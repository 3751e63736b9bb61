package scenarios

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The nice values the product ships with: build/openwrt/pmip/files/pmip.init
// starts pmip-mag with `procd_set_param nice`, docs/pmip-lma.service runs
// pmip-lma with `Nice=`. The scenarios start the daemons at the same
// values, so they measure the domain as it ships; TestShippedNice parses
// both files and fails when these constants drift from them.
const (
	shippedMAGNice = -10
	shippedLMANice = -10
)

// Knobs for studying where a handover's time goes in the guest
// (docs/handover.md 9). None is set by default: the scenarios measure the
// domain as it ships.
const (
	// envMAGEnv, if set, is added to the MAGs' environment: KEY=VALUE
	// words separated by spaces, e.g. "GODEBUG=gctrace=1" (the
	// collector's cycles in the MAG's log) or "GOMEMLIMIT=16MiB".
	envMAGEnv = "PMIP_MAG_ENV"
	// envMAGNice, if set, overrides the nice value the MAGs run at
	// (-20..19; shippedMAGNice by default, as the AP's procd sets it):
	// the guest's one CPU runs the correspondent, the client, the LMA
	// and both APs, and MAG2's handover path otherwise waits behind them
	// (docs/handover.md 9.1).
	envMAGNice = "PMIP_MAG_NICE"
	// envLMANice, if set, overrides the LMA's nice value
	// (shippedLMANice by default, as the appliance's systemd unit sets
	// it).
	envLMANice = "PMIP_LMA_NICE"
	// envClientNice, if set, runs the client's wpa_supplicant at that
	// nice value (0 by default). A real client has its own CPU; in the
	// guest it shares one with the daemons at their shipped -10, and
	// after a move its supplicant can wait 80-130 ms to authorise its
	// port, while its 802.11 stack drops the new MAG's announcements as
	// unauthorised-port traffic (docs/handover.md 9.9). -10 here gives
	// the client back the CPU it would have, to measure the domain
	// without that artefact.
	envClientNice = "PMIP_CLIENT_NICE"
	// envSchedTrace=1 records the guest kernel's scheduler switches and
	// wake-ups (tracefs sched_switch, sched_wakeup, monotonic clock)
	// from just before the move until the streams stop, into
	// results/<test>/sched.trace: who had the CPU while MAG2 waited.
	envSchedTrace = "PMIP_SCHED_TRACE"
)

// magCommand is the argv and environment that start a MAG, with the
// study knobs applied.
func magCommand(argv []string) (cmd, env []string, err error) {
	for _, kv := range strings.Fields(os.Getenv(envMAGEnv)) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, nil, fmt.Errorf("%s: %q is not KEY=VALUE", envMAGEnv, kv)
		}
		env = append(env, kv)
	}
	nice, err := niceValue(envMAGNice, shippedMAGNice)
	if err != nil {
		return nil, nil, err
	}
	return niced(nice, argv), env, nil
}

// lmaCommand is the argv that starts the LMA at its nice value.
func lmaCommand(argv []string) ([]string, error) {
	nice, err := niceValue(envLMANice, shippedLMANice)
	if err != nil {
		return nil, err
	}
	return niced(nice, argv), nil
}

// clientCommand is the argv that starts the client's wpa_supplicant at
// envClientNice's value (as it is by default).
func clientCommand(argv []string) ([]string, error) {
	nice, err := niceValue(envClientNice, 0)
	if err != nil {
		return nil, err
	}
	return niced(nice, argv), nil
}

// niceValue is the nice value the environment variable name asks for, or
// shipped when it is unset.
func niceValue(name string, shipped int) (int, error) {
	n := os.Getenv(name)
	if n == "" {
		return shipped, nil
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < -20 || v > 19 {
		return 0, fmt.Errorf("%s=%q: want a nice value from -20 to 19", name, n)
	}
	return v, nil
}

// niced runs argv at nice value v (0: as it is).
func niced(v int, argv []string) []string {
	if v == 0 {
		return argv
	}
	// busybox has renice but no nice applet: the shell renices itself
	// and execs the daemon, which keeps the priority.
	sh := fmt.Sprintf(`/bin/busybox renice -n %d -p $$ >/dev/null && exec "$0" "$@"`, v)
	return append([]string{"/bin/sh", "-c", sh}, argv...)
}

// startSchedTrace starts the scheduler trace of envSchedTrace, if asked;
// the function it returns stops it and writes the trace to the results.
func (d *Domain) startSchedTrace() (stop func()) {
	d.T.Helper()
	if os.Getenv(envSchedTrace) != "1" {
		return func() {}
	}
	const t = "/sys/kernel/tracing"
	d.sh(`T=` + t + `; [ -d $T/events ] || mount -t tracefs nodev $T; echo 0 > $T/tracing_on; echo > $T/trace; ` +
		`echo 16384 > $T/buffer_size_kb; echo mono > $T/trace_clock; ` +
		`echo 1 > $T/events/sched/sched_switch/enable; echo 1 > $T/events/sched/sched_wakeup/enable; echo 1 > $T/tracing_on`)
	return func() {
		d.sh(`T=` + t + `; echo 0 > $T/tracing_on; cat $T/trace > ` + resultsDir + `/sched.trace; echo > $T/trace; ` +
			`echo 0 > $T/events/sched/sched_switch/enable; echo 0 > $T/events/sched/sched_wakeup/enable`)
	}
}
