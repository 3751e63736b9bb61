package scenarios

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Knobs for studying where a handover's time goes in the guest
// (docs/handover.md 9). None is set by default: the scenarios measure the
// domain as it ships.
const (
	// envMAGEnv, if set, is added to the MAGs' environment: KEY=VALUE
	// words separated by spaces, e.g. "GODEBUG=gctrace=1" (the
	// collector's cycles in the MAG's log) or "GOMEMLIMIT=16MiB".
	envMAGEnv = "PMIP_MAG_ENV"
	// envMAGNice, if set, is the nice value the MAGs run at (-20..19),
	// as an AP's init system may set it (procd's nice parameter): the
	// guest's one CPU runs the correspondent, the client, the LMA and
	// both APs, and MAG2's handover path otherwise waits behind them.
	envMAGNice = "PMIP_MAG_NICE"
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
	n := os.Getenv(envMAGNice)
	if n == "" {
		return argv, env, nil
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < -20 || v > 19 {
		return nil, nil, fmt.Errorf("%s=%q: want a nice value from -20 to 19", envMAGNice, n)
	}
	// busybox has renice but no nice applet: the shell renices itself
	// and execs the MAG, which keeps the priority.
	sh := fmt.Sprintf(`/bin/busybox renice -n %d -p $$ >/dev/null && exec "$0" "$@"`, v)
	return append([]string{"/bin/sh", "-c", sh}, argv...), env, nil
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
