package mag

import (
	"log/slog"
	"time"

	"github.com/openpmip/pmip/internal/dataplane"
)

// What a client's initial registration spent where, from hostapd's event
// to the client served (issue 5, docs/handover.md 8.4): the engine
// records the instants on the way and logs them as durations on the one
// line it writes once the client is served ("registration accepted,
// client served"), so a handover's log shows where its time went
// without a line, or a system call, per step on the way.
//
//	hostapd event read ─query─► engine attach ─► PBU on the wire ─► PBA read
//	  ─► data plane (routes+rules, sources) ─► DHCP lease, RA ─► served

// regTrace is the instants of one initial registration. Zero instants
// were not seen (a trigger other than the hostapd monitor's event).
type regTrace struct {
	seen   time.Time     // the monitor read hostapd's event (hostapd.Event.Seen)
	query  time.Duration // the monitor's STA <mac> query for the identity
	attach time.Time     // the engine took the trigger
	pbu    time.Time     // the first PBU was handed to the kernel
	pba    time.Time     // the accepted PBA was read
}

// dpReport is what one syncClient did: how many objects of each kind it
// added or removed and how long the kernel took. Requests is how many
// kernel requests that is with a batching data plane (internal/dataplane
// Batcher: a run of routes and rules is one sendmsg, a run of filter
// sources one nftables transaction; any other object one request each).
type dpReport struct {
	routes, rules, sources int
	requests               int
	full                   bool          // the whole state was installed instead
	routed                 time.Duration // until the routes and rules were in
	took                   time.Duration
}

// count fills the report's counts from ops, in the order they go to the
// kernel.
func (r *dpReport) count(ops []dataplane.Op) {
	last := -1 // 0: a route or rule run, 1: a source run
	for _, op := range ops {
		run := 2
		switch op.Obj.(type) {
		case dataplane.Route:
			r.routes++
			run = 0
		case dataplane.Rule:
			r.rules++
			run = 0
		case dataplane.Source:
			r.sources++
			run = 1
		}
		if run == 2 || run != last {
			r.requests++
		}
		last = run
	}
}

// usage is a sample of the process's resource usage (processUsage).
type usage struct {
	cpu       time.Duration // user and system CPU time, all threads
	preempted int64         // involuntary context switches
}

// serveReport collects what the served line reports; the effects of one
// accepted PBA fill it in turn (they run in order, on one goroutine).
type serveReport struct {
	trace  regTrace
	dp     dpReport
	dpDone time.Time // the client's data plane is in the kernel
	access time.Duration
	// atPBA is the process's usage when the PBA was read, hasUsage
	// whether it was measured (Linux).
	atPBA    usage
	hasUsage bool
}

// attrs are the served line's timing attributes, in milliseconds with
// microsecond precision (a duration's text form varies its unit).
func (r *serveReport) attrs(served time.Time) []any {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	t := r.trace
	var out []any
	if !t.seen.IsZero() {
		out = append(out, "event_to_attach_ms", ms(t.attach.Sub(t.seen)), "query_ms", ms(t.query))
	}
	out = append(out,
		"attach_to_pbu_ms", ms(t.pbu.Sub(t.attach)),
		"pbu_to_pba_ms", ms(t.pba.Sub(t.pbu)),
		"pba_to_path_ms", ms(r.dpDone.Sub(t.pba)),
		"dp_routes_ms", ms(r.dp.routed),
		"dp_ms", ms(r.dp.took),
		slog.Group("dp", "routes", r.dp.routes, "rules", r.dp.rules, "sources", r.dp.sources,
			"requests", r.dp.requests, "full", r.dp.full),
		"access_ms", ms(r.access),
		"pba_to_served_ms", ms(served.Sub(t.pba)),
	)
	if u, ok := processUsage(); ok && r.hasUsage {
		// Of pba_to_served_ms, the CPU the MAG used (all its threads) and
		// how often it was preempted: the rest it waited, on a loaded
		// CPU for the CPU (docs/handover.md 9).
		out = append(out, "cpu_ms", ms(u.cpu-r.atPBA.cpu), "preempted", u.preempted-r.atPBA.preempted)
	}
	if !t.seen.IsZero() {
		out = append(out, "event_to_served_ms", ms(served.Sub(t.seen)))
	}
	return out
}
