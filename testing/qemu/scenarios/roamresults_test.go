package scenarios

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// logLine is one line of a -t log (hostapd, wpa_supplicant): Unix seconds
// with microseconds, then the message.
type logLine struct {
	T   float64
	Msg string
}

var tsLine = regexp.MustCompile(`^(\d+\.\d+): (.*)$`)

func readTimedLog(path string) ([]logLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []logLine
	for _, l := range strings.Split(string(b), "\n") {
		m := tsLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		t, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		out = append(out, logLine{t, m[2]})
	}
	return out, nil
}

var pingReply = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from`)

// readPingReplies returns the times of ping -D's replies.
func readPingReplies(path string) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ts []float64
	for _, l := range strings.Split(string(b), "\n") {
		if m := pingReply.FindStringSubmatch(l); m != nil {
			if t, err := strconv.ParseFloat(m[1], 64); err == nil {
				ts = append(ts, t)
			}
		}
	}
	slices.Sort(ts)
	return ts, nil
}

// hookRecord is a line of pmip-hapmon's output.
type hookRecord struct {
	T       int64  `json:"t_ns"`
	Event   string `json:"event"`
	Handoff int    `json:"handoff"`
}

// readHookRecords reads pmip-hapmon's JSON lines; a missing file is none.
func readHookRecords(path string) []hookRecord {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rs []hookRecord
	for _, l := range strings.Split(string(b), "\n") {
		var r hookRecord
		if json.Unmarshal([]byte(l), &r) == nil && r.T != 0 {
			rs = append(rs, r)
		}
	}
	return rs
}

// firstHook is the first record in [from, to] (Unix seconds) whose event
// starts with prefix, and its time.
func firstHook(rs []hookRecord, from, to float64, prefix string) (hookRecord, float64, bool) {
	for _, r := range rs {
		t := float64(r.T) / 1e9
		if t >= from && t <= to && strings.HasPrefix(r.Event, prefix) {
			return r, t, true
		}
	}
	return hookRecord{}, 0, false
}

// roamStep is one step's window in wpa_supplicant's log.
type roamStep struct {
	Name, BSSID string
	Start, Done float64
}

func findSteps(wpa []logLine) []roamStep {
	var steps []roamStep
	for _, l := range wpa {
		f := strings.Fields(strings.TrimPrefix(l.Msg, "NOTE: "))
		if !strings.HasPrefix(l.Msg, "NOTE: ") || len(f) < 2 {
			continue
		}
		switch {
		case f[0] == "STEP" && len(f) >= 3:
			steps = append(steps, roamStep{Name: f[1], BSSID: f[2], Start: l.T})
		case f[0] == "DONE" && len(steps) > 0 && steps[len(steps)-1].Name == f[1]:
			steps[len(steps)-1].Done = l.T
		}
	}
	return steps
}

// first returns the time of the first line in [from, to] containing s.
func first(ls []logLine, from, to float64, s string) (float64, bool) {
	for _, l := range ls {
		if l.T >= from && l.T <= to && strings.Contains(l.Msg, s) {
			return l.T, true
		}
	}
	return 0, false
}

// events lists the AP-STA-*, EAP and FT lines of a hostapd log in a
// window, relative to t0.
func events(ls []logLine, from, to, t0 float64) []string {
	var out []string
	for _, l := range ls {
		if l.T < from || l.T > to {
			continue
		}
		for _, k := range []string{"AP-STA-", "CTRL-EVENT-EAP-", "EAPOL-4WAY", "reassociation request", "FT: RRB", "RRB", "pull", "push", "deauthenticated", "disassociated", "authenticated", "associated"} {
			if strings.Contains(l.Msg, k) {
				msg := l.Msg
				if len(msg) > 140 {
					msg = msg[:140] + "..."
				}
				out = append(out, fmt.Sprintf("+%.0fms %s", (l.T-t0)*1000, msg))
				break
			}
		}
	}
	return out
}

// staFields picks fields of hostapd_cli all_sta for the study's station.
func staFields(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no dump)"
	}
	var keep []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.EqualFold(l, staMAC) {
			in = true
			continue
		}
		if !in {
			continue
		}
		if len(l) == 17 && strings.Count(l, ":") == 5 {
			break
		}
		for _, k := range []string{"flags=", "AKMSuiteSelector=", "dot1xAuthSessionUserName=", "connected_time=", "dot1xAuthSessionAuthenticMethod="} {
			if strings.HasPrefix(l, k) {
				keep = append(keep, l)
			}
		}
	}
	if !in {
		return "(station not listed)"
	}
	return strings.Join(keep, " ")
}

// readRoamResults turns one case's logs into a line per step.
func readRoamResults(dir string) ([]string, error) {
	wpa, err := readTimedLog(filepath.Join(dir, "wpa.log"))
	if err != nil {
		return nil, err
	}
	hap := map[string][]logLine{}
	for _, ap := range roamAPs {
		if hap[ap.name], err = readTimedLog(filepath.Join(dir, "hostapd-"+ap.name+".log")); err != nil {
			return nil, err
		}
	}
	var replies []float64
	for _, ap := range roamAPs {
		r, err := readPingReplies(filepath.Join(dir, "ping-"+ap.name+".log"))
		if err != nil {
			return nil, err
		}
		replies = append(replies, r...)
	}
	slices.Sort(replies)
	steps := findSteps(wpa)
	if len(steps) == 0 {
		return nil, fmt.Errorf("no steps marked in %s/wpa.log", dir)
	}
	var out []string
	for i, s := range steps {
		if s.Done == 0 {
			out = append(out, fmt.Sprintf("%s: did not finish", s.Name))
			continue
		}
		// The window ends where the next step begins.
		end := s.Done + 2
		if i+1 < len(steps) {
			end = steps[i+1].Start
		}
		target := "ap1"
		if s.BSSID == bssid2 {
			target = "ap2"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s:", s.Name)
		auth, okAuth := first(wpa, s.Start, end, "Trying to authenticate")
		conn, okConn := first(wpa, s.Start, end, "CTRL-EVENT-CONNECTED")
		if okAuth && okConn {
			fmt.Fprintf(&b, " 802.11 authentication->connected %.0f ms;", (conn-auth)*1000)
		}
		if okConn {
			fmt.Fprintf(&b, " note->connected %.0f ms;", (conn-s.Start)*1000)
		}
		if _, eap := first(wpa, s.Start, end, "CTRL-EVENT-EAP-STARTED"); eap {
			b.WriteString(" full EAP;")
		} else if strings.Contains(s.Name, "assoc") || strings.Contains(s.Name, "bbm") || strings.Contains(s.Name, "roam") || strings.Contains(s.Name, "ftds") {
			b.WriteString(" no EAP;")
		}
		if pre, ok := first(wpa, s.Start, end, "RSN: pre-authentication with"); ok {
			fmt.Fprintf(&b, " pre-auth done +%.0f ms;", (pre-s.Start)*1000)
		}
		if tc, ok := first(hap[target], s.Start, end, "AP-STA-CONNECTED"); ok {
			fmt.Fprintf(&b, " %s AP-STA-CONNECTED +%.0f ms", target, (tc-s.Start)*1000)
			if okAuth {
				fmt.Fprintf(&b, " (%.0f ms after the first authentication frame)", (tc-auth)*1000)
			}
			b.WriteString(";")
			// How long the event took to reach a MAG-like reader, from
			// hostapd's log line.
			for _, p := range []struct{ name, file string }{{"ctrl-socket monitor", "mon-"}, {"action script", "act-"}} {
				if r, th, ok := firstHook(readHookRecords(filepath.Join(dir, p.file+target+".log")), tc-0.05, end+1, "AP-STA-CONNECTED"); ok {
					fmt.Fprintf(&b, " via %s +%.1f ms;", p.name, (th-tc)*1000)
					if r.Handoff != 0 {
						// pmip-hapmon's rule (docs/handover.md 5.3).
						fmt.Fprintf(&b, " rule: HI %d;", r.Handoff)
					}
				}
			}
		}
		if !strings.HasPrefix(s.Name, "assoc") && len(replies) > 0 {
			gap, at := maxGap(replies, s.Start-0.5, end)
			fmt.Fprintf(&b, " data gap %.0f ms (ends +%.0f ms);", gap*1000, (at-s.Start)*1000)
		}
		for _, ap := range roamAPs {
			fmt.Fprintf(&b, "\n    %s events: %s", ap.name, strings.Join(events(hap[ap.name], s.Start, end, s.Start), " | "))
			fmt.Fprintf(&b, "\n    %s sta: %s", ap.name, staFields(filepath.Join(dir, "sta-"+s.Name+"-"+ap.name+".txt")))
		}
		out = append(out, b.String())
	}
	return out, nil
}

// maxGap is the longest interval between consecutive ping replies (from
// either AP) in [from, to], and when it ended.
func maxGap(ts []float64, from, to float64) (gap, end float64) {
	prev := -1.0
	for _, t := range ts {
		if t < from || t > to {
			continue
		}
		if prev >= 0 && t-prev > gap {
			gap, end = t-prev, t
		}
		prev = t
	}
	return gap, end
}
