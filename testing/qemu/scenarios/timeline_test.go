package scenarios

import (
	"strings"
	"testing"
	"time"
)

// TestTimeline reads a handover's milestones from hand-made logs in the
// formats the domain's daemons write: wpa_supplicant and hostapd with -t,
// pmip-mag's slog text, the backhaul's Mobility Header messages and the
// stream reports; lines before the roam and other stations are ignored.
func TestTimeline(t *testing.T) {
	const bssid, sta = "02:00:00:00:01:00", "02:00:00:00:02:00"
	at := func(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }
	h := handoverLogs{
		Client: "100.000000: wlan2: CTRL-EVENT-SCAN-RESULTS\n" +
			"100.100000: wlan2: Trying to associate with " + bssid + " (SSID='x' freq=2412 MHz)\n" +
			"100.300000: wlan2: CTRL-EVENT-CONNECTED - Connection to " + bssid + " completed [id=0 id_str=]\n",
		Hostapd: "90.000000: wlan1: AP-STA-CONNECTED 02:00:00:00:09:00\n" +
			"100.350000: wlan1: AP-STA-CONNECTED " + sta + "\n",
		MAG: "time=" + at(99).UTC().Format(time.RFC3339Nano) + ` level=DEBUG msg="hostapd: station connected" station=` + sta + "\n" +
			"time=" + at(100.351).UTC().Format(time.RFC3339Nano) + ` level=DEBUG msg="hostapd: station connected" component=hostapd-monitor bss=wlan1 station=` + sta + " fast_reassoc=true\n" +
			"time=" + at(100.700).UTC().Format(time.RFC3339Nano) + ` level=INFO msg="registration accepted, client served" binding=` + sta + "(alice@example.net)\n",
		MH: []MHPacket{
			{At: at(50), Type: mhBindingUpdate, Seq: 1},
			{At: at(100.360), Type: mhBindingUpdate, Seq: 7},
			{At: at(100.400), Type: mhBindingAck, Seq: 7},
		},
		Streams:   map[string]StreamReport{},
		BSSID:     bssid,
		ClientMAC: sta,
	}
	// The stream's longest pause (a 2 s stall of the host, 10 s
	// before) is not the handover's: the 850 ms one that spans the move is.
	var r StreamReport
	r.MaxGap.At, r.MaxGap.Ms = at(92).UnixNano(), 2000
	r.Gaps = append(r.Gaps, struct {
		At int64   `json:"at_ns"`
		Ms float64 `json:"ms"`
	}{at(92).UnixNano(), 2000}, struct {
		At int64   `json:"at_ns"`
		Ms float64 `json:"ms"`
	}{at(100.900).UnixNano(), 850}, struct {
		At int64   `json:"at_ns"`
		Ms float64 `json:"ms"`
	}{at(103).UnixNano(), 60})
	h.Streams["stream-v4"] = r
	if p := h.pauses()["stream-v4"]; p.Ms != 850 || !p.End.Equal(at(100.900)) {
		t.Errorf("pause over the handover %+v, want 850 ms ending at 100.9", p)
	}
	lines := renderTimeline(h.timeline())
	got := strings.Join(lines, "\n")
	want := []string{
		"-50 ms  stream-v4: last bytes before its pause",
		"+0 ms  client: reassociation request to the new AP",
		"+200 ms  client: connected",
		"+250 ms  new AP's hostapd: AP-STA-CONNECTED",
		"+251 ms  new MAG: hostapd's event received",
		"+260 ms  new MAG: PBU sent",
		"+300 ms  new MAG: PBA received",
		"+600 ms  new MAG: client served",
		"+800 ms  stream-v4: bytes again",
	}
	if len(lines) != len(want) {
		t.Fatalf("timeline:%s\nwant %d lines", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(strings.Join(strings.Fields(lines[i]), " "), strings.Join(strings.Fields(w), " ")) {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
}
