package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Milestone is one step of a handover as a log or a capture shows it.
type Milestone struct {
	What string
	At   time.Time
}

// handoverLogs is what the timeline of a handover is read from: the
// client's wpa_supplicant log and the new AP's hostapd log (both -t:
// Unix seconds), the new MAG's log (slog text, time=RFC 3339), the
// Mobility Header messages of the new MAG's backhaul capture, and the
// stream reports. All times are the guest's clock.
type handoverLogs struct {
	Client, Hostapd, MAG string
	MH                   []MHPacket
	Streams              map[string]StreamReport
	BSSID, ClientMAC     string
}

var (
	unixLine = regexp.MustCompile(`^(\d+\.\d+): (.*)$`)
	slogTime = regexp.MustCompile(`^time=(\S+) `)
)

// unixLines yields the lines of a -t log at or after since.
func unixLines(log string, since time.Time) []Milestone {
	var out []Milestone
	for _, l := range strings.Split(log, "\n") {
		m := unixLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		t := time.Unix(0, int64(f*1e9))
		if !t.Before(since) {
			out = append(out, Milestone{m[2], t})
		}
	}
	return out
}

// firstWith is the first line containing every one of subs.
func firstWith(ls []Milestone, subs ...string) (time.Time, bool) {
	for _, l := range ls {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(strings.ToLower(l.What), strings.ToLower(s))
		}
		if ok {
			return l.At, true
		}
	}
	return time.Time{}, false
}

// timeline puts a handover's milestones in order. The first is when the
// client left its old AP: its (re)association request to the new one
// (mac80211 drops the old association then), or, break before make, its
// authentication.
//
// Client holds only what wpa_supplicant logged from the roam command on;
// its first line's time bounds what the other sources contribute.
func (h handoverLogs) timeline() []Milestone {
	all := unixLines(h.Client, time.Time{})
	if len(all) == 0 {
		return nil
	}
	since := all[0].At
	var ms []Milestone
	add := func(what string, t time.Time, ok bool) {
		if ok {
			ms = append(ms, Milestone{what, t})
		}
	}
	cl := unixLines(h.Client, since)
	if t, ok := firstWith(cl, "Trying to associate with "+h.BSSID); ok {
		add("client: reassociation request to the new AP", t, ok)
	} else {
		t, ok := firstWith(cl, "Trying to authenticate with "+h.BSSID)
		add("client: authentication at the new AP", t, ok)
	}
	t, ok := firstWith(cl, "CTRL-EVENT-CONNECTED", h.BSSID)
	add("client: connected", t, ok)
	t, ok = firstWith(unixLines(h.Hostapd, since), "AP-STA-CONNECTED "+h.ClientMAC)
	add("new AP's hostapd: AP-STA-CONNECTED", t, ok)
	var mag []Milestone
	for _, l := range strings.Split(h.MAG, "\n") {
		if m := slogTime.FindStringSubmatch(l); m != nil {
			if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && !t.Before(since) {
				mag = append(mag, Milestone{l, t})
			}
		}
	}
	t, ok = firstWith(mag, "station connected", h.ClientMAC)
	add("new MAG: hostapd's event received", t, ok)
	for _, p := range h.MH {
		if p.At.Before(since) {
			continue
		}
		if p.Type == mhBindingUpdate {
			add("new MAG: PBU sent", p.At, true)
			for _, q := range h.MH {
				if q.Type == mhBindingAck && q.Seq == p.Seq && !q.At.Before(p.At) {
					add("new MAG: PBA received", q.At, true)
					break
				}
			}
			break
		}
	}
	t, ok = firstWith(mag, "client served", h.ClientMAC)
	add("new MAG: client served (data plane and DHCP/RA state)", t, ok)
	slices.SortStableFunc(ms, func(a, b Milestone) int { return a.At.Compare(b.At) })
	pauses := pausesOver(h.Streams, ms)
	for _, name := range []string{"stream-v6", "stream-v4"} {
		if p, ok := pauses[name]; ok {
			add(name+": last bytes before its pause", p.End.Add(-time.Duration(p.Ms*float64(time.Millisecond))), true)
			add(name+": bytes again", p.End, true)
		}
	}
	slices.SortStableFunc(ms, func(a, b Milestone) int { return a.At.Compare(b.At) })
	return ms
}

// Pause is a stream's pause over the handover.
type Pause struct {
	Ms  float64
	End time.Time
}

// pauses is each stream's pause over the handover (pausesOver).
func (h handoverLogs) pauses() map[string]Pause {
	return pausesOver(h.Streams, h.timeline())
}

// pausesOver picks, per stream, the longest reported pause that overlaps
// the move: from the client's first milestone to the last milestone of
// the others (the new MAG serving it). A pause elsewhere (the loaded host
// stalling the guest) is not the handover's.
func pausesOver(streams map[string]StreamReport, ms []Milestone) map[string]Pause {
	var from, to time.Time
	for _, m := range ms {
		if strings.HasPrefix(m.What, "client:") && from.IsZero() {
			from = m.At
		}
		if !strings.HasPrefix(m.What, "stream-") {
			to = m.At
		}
	}
	out := map[string]Pause{}
	if from.IsZero() {
		return out
	}
	for name, r := range streams {
		var best Pause
		for _, g := range r.Gaps {
			end := time.Unix(0, g.At)
			start := end.Add(-time.Duration(g.Ms * float64(time.Millisecond)))
			if !end.Before(from) && !start.After(to) && g.Ms > best.Ms {
				best = Pause{g.Ms, end}
			}
		}
		if best.Ms > 0 {
			out[name] = best
		}
	}
	return out
}

// renderTimeline renders milestones, one line each, relative to the
// client's first (its move), or to the first one when the client's are
// missing.
func renderTimeline(ms []Milestone) []string {
	if len(ms) == 0 {
		return []string{"(no milestones found)"}
	}
	t0 := ms[0].At
	for _, m := range ms {
		if strings.HasPrefix(m.What, "client:") {
			t0 = m.At
			break
		}
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%+6.0f ms  %s", m.At.Sub(t0).Seconds()*1000, m.What))
	}
	return out
}
