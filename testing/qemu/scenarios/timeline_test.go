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

// TestSummariseSS reads ss -tinH as iproute2 6.1 prints the CN's two
// stream sockets (an IPv4 one on the dual-stack listener).
func TestSummariseSS(t *testing.T) {
	out := "0      0      [::ffff:203.0.113.2]:5001 [::ffff:10.20.0.2]:46510\n" +
		"\t cubic wscale:7,7 rto:212 rtt:8.25/4.1 ato:40 mss:1448 pmtu:1460 rcvmss:536 advmss:1448 cwnd:10\n" +
		"0      0      [2001:db8:cccc::2]:5001 [2001:db8:100::ff:fe00:200]:40222\n" +
		"\t cubic wscale:7,7 rto:204 rtt:1.5/0.75 ato:40 mss:1428 cwnd:10\n" +
		"0      0      [2001:db8:cccc::2]:22 [2001:db8:100::1]:1\n\t cubic rto:300 rtt:9/1\n"
	got := summariseSS(out)
	want := "IPv4 rto 212 ms srtt 8.25 ms (var 4.1); IPv6 rto 204 ms srtt 1.5 ms (var 0.75)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := summariseSS(""); got != "(no stream sockets)" {
		t.Errorf("empty: %q", got)
	}
}
