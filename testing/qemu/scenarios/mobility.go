package scenarios

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// StreamReport is pmip-probe recv's last line.
type StreamReport struct {
	Bytes  int64 `json:"bytes"`
	MaxGap struct {
		At          int64   `json:"at_ns"`
		Ms          float64 `json:"ms"`
		BytesBefore int64   `json:"bytes_before"`
	} `json:"max_gap"`
	Gaps []struct {
		At int64   `json:"at_ns"` // when the pause ended
		Ms float64 `json:"ms"`
	} `json:"gaps"`
	Err      string  `json:"err"`
	MeanMbps float64 `json:"mean_mbps"`
}

const stopFile = "/tmp/pmip/stop-streams"

// streams are the TCP streams from the CN to the client, one per family.
var streams = []struct{ name, addr string }{
	{"stream-v4", CN4 + ":5001"},
	{"stream-v6", "[" + CN6 + "]:5001"},
}

// StartStreams starts pmip-probe serve on the CN and, in the client, one
// receiving stream over IPv4 and one over IPv6, and waits until data
// flows on both.
func (d *Domain) StartStreams() {
	d.T.Helper()
	d.shOn(d.vmFor("client"), "rm -f "+stopFile)
	// The kernel paces the streams (pmip-probe serve: SO_MAX_PACING_RATE,
	// so the sender does not wake every 5 ms and take the CPU from the
	// system under test, docs/handover.md 9.6). TCP sizes each paced
	// burst from the pacing rate, plus, since Linux 5.18, a share of 64 KB
	// that grows as the path's minimum RTT shrinks (tcp_tso_rtt_log):
	// on the guest's millisecond RTTs that made bursts of tens of KB a
	// few hundred ms apart, and every one a "pause". Without it the CN
	// sends ~2 MSS every ~15 ms, the resolution of the gap measurement.
	d.nsSh("cn", "f=/proc/sys/net/ipv4/tcp_tso_rtt_log; if [ -e $f ]; then echo 0 > $f; fi; echo 1 > /proc/sys/net/ipv4/tcp_min_tso_segs")
	d.start("serve", "cn", nil, d.bins["pmip-probe"], "serve", "-l", fmt.Sprintf("[::]:%d", streamPort))
	d.WaitLog("serve", "listening", 0, 30*time.Second)
	for _, s := range streams {
		d.start(s.name, "client", nil, d.bins["pmip-probe"], "recv", "-c", s.addr, "-for", "300s", "-stop-file", stopFile)
	}
	for _, s := range streams {
		d.WaitLog(s.name, `"bytes":`, d.mark(s.name), 30*time.Second)
		d.waitBytes(s.name, 1, 30*time.Second)
	}
}

// streamBytes is the last progress line's byte count of a stream.
func (d *Domain) streamBytes(name string) int64 {
	lines := strings.Split(strings.TrimSpace(d.Log(name)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var p struct {
			Bytes *int64 `json:"bytes"`
		}
		if json.Unmarshal([]byte(lines[i]), &p) == nil && p.Bytes != nil {
			return *p.Bytes
		}
	}
	return 0
}

// waitBytes waits until a stream has received at least n more bytes than
// it had when called.
func (d *Domain) waitBytes(name string, n int64, timeout time.Duration) {
	d.T.Helper()
	base := d.streamBytes(name)
	d.Eventually(name+" receiving", timeout, 100*time.Millisecond, func() error {
		if ended, err := d.exited(name); ended {
			return fmt.Errorf("%s ended: %v\n%s", name, err, tail(d.Log(name), 1500))
		}
		if got := d.streamBytes(name) - base; got < n {
			return errorf("%d new bytes, want %d", got, n)
		}
		return nil
	})
}

// StopStreams ends the client's streams and returns their reports; a
// stream that was reset or ended fails the test.
func (d *Domain) StopStreams() map[string]StreamReport {
	d.T.Helper()
	d.shOn(d.vmFor("client"), "touch "+stopFile)
	reps := map[string]StreamReport{}
	for _, s := range streams {
		d.Eventually(s.name+" to end", 10*time.Second, 100*time.Millisecond, func() error {
			if ended, _ := d.exited(s.name); !ended {
				return errorf("still running")
			}
			return nil
		})
		_, err := d.exited(s.name)
		lines := strings.Split(strings.TrimSpace(d.Log(s.name)), "\n")
		var r StreamReport
		if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &r); jerr != nil {
			d.T.Fatalf("%s: no report (%v, exit %v):\n%s", s.name, jerr, err, tail(d.Log(s.name), 1500))
		}
		if err != nil || r.Err != "" {
			d.T.Errorf("%s broke: %s (exit %v) after %d bytes: the TCP connection did not survive", s.name, r.Err, err, r.Bytes)
		}
		reps[s.name] = r
	}
	d.stop("serve")
	return reps
}

// Handover is scenario 2: with TCP streams from the CN running, the
// client roams from one AP to the other (Roam: make before break with
// 802.11r FT). It keeps both addresses, the streams keep going, and the
// LMA's binding moves to the new MAG: the new MAG's PBU says Handoff
// Indicator 3 (RFC 5213 8.4; the client reassociated without EAP, so it
// comes from another MAG of the domain), the LMA moves the session at
// once (5.4.1) and revokes the old MAG's binding (RFC 5846), and the old
// MAG releases it. Afterwards the LMA holds exactly one binding for the
// client, through the new MAG, and the old MAG none.
func (d *Domain) Handover(from, to *AP, a Attachment) time.Duration {
	d.T.Helper()
	d.Say("TCP streams from the CN to the client over IPv4 and IPv6 (%s, %s)", a.V4IP, a.V6IP)
	d.StartStreams()
	before := d.ClientAddrs()
	slices.Sort(before)
	d.waitBytes("stream-v6", 50_000, 30*time.Second)
	b0 := map[string]int64{}
	for _, s := range streams {
		b0[s.name] = d.streamBytes(s.name)
	}
	if d.Cfg.LegacyRoam {
		d.Say("client roams %s -> %s (leaves %s, associates with WPA2-EAP at %s)", from.Name, to.Name, from.Name, to.Name)
	} else {
		d.Say("client roams %s -> %s (wpa_cli ft_ds: 802.11r FT through %s, then reassociates with %s; make before break)", from.Name, to.Name, from.Name, to.Name)
	}
	if os.Getenv(envHandoverPcap) == "1" {
		// The streams at both ends, to tmpfs (writing each packet to the
		// share would load the guest while the move is timed); copied
		// to the results when the streams stop.
		// And the new AP's access bridge, ARP and ICMPv6 only: when the
		// MAG wrote its announcements (a packet tap sees a frame as it
		// is sent), against when the client received them.
		caps := []struct{ name, ns, iface, filter string }{
			{"cn", "cn", "eth0", fmt.Sprintf("tcp port %d or arp or icmp6", streamPort)},
			{"client", "client", d.radio, fmt.Sprintf("tcp port %d or arp or icmp6", streamPort)},
			{"ap", to.Name, "br-lan", "arp or icmp6"},
		}
		for _, c := range caps {
			argv := []string{"/usr/bin/tcpdump", "-Z", "root", "-s", "96", "-i", c.iface, "-w", "/tmp/pmip/stream-" + c.name + ".pcap"}
			if c.name == "ap" {
				// A few frames: written as they come, or the stop
				// (SIGKILL) loses tcpdump's buffer.
				argv = append(argv, "-U")
			}
			d.start("tcpdump-stream-"+c.name, c.ns, nil, append(argv, c.filter)...)
			d.WaitLog("tcpdump-stream-"+c.name, "listening on", 0, 30*time.Second)
		}
		defer func() {
			for _, c := range caps {
				d.stop("tcpdump-stream-" + c.name)
			}
			d.trySh("sleep 1; cp /tmp/pmip/stream-*.pcap " + resultsDir + "/")
		}()
	}
	d.Say("correspondent's TCP before the move: %s", d.cnTCP())
	stopTrace := d.startSchedTrace()
	t0, clientMark := d.Roam(to)
	// From the log alone (no process in the guest while it is timed).
	eap := "no EAP"
	if strings.Contains(d.Log("wpa_supplicant")[clientMark:], "CTRL-EVENT-EAP-STARTED") {
		eap = "full EAP: the fast move failed"
	}
	d.Say("client connected to %s %.0f ms after the command (%s at the new AP)", to.Name, ms(time.Since(t0)), eap)
	defer func() {
		if d.T.Failed() {
			// What happened, for the failure's report.
			h := handoverLogs{Client: d.Log("wpa_supplicant")[clientMark:], Hostapd: d.Log("hostapd-" + to.Name),
				MAG: d.Log("mag-" + to.Name), MH: d.backhaulMH(to), BSSID: to.BSSID, ClientMAC: d.ClientMAC}
			d.Logf("handover timeline of the failed move:\n%s", strings.Join(renderTimeline(h.timeline()), "\n"))
		}
	}()
	// Data must flow again through the new MAG, for a while.
	for _, s := range streams {
		d.waitBytes(s.name, 100_000, 30*time.Second)
	}
	d.Say("correspondent's TCP after the move: %s", d.cnTCP())
	reps := d.StopStreams()
	stopTrace()
	d.LastRoamMethod = d.RoamMethod(to, clientMark)
	d.Say("802.11 method of the handover: %s", d.LastRoamMethod)
	after := d.ClientAddrs()
	slices.Sort(after)
	if !slices.Equal(before, after) {
		d.T.Errorf("the client's addresses changed over the handover: %v -> %v (RFC 5213 5.3.2: the LMA keeps the home prefix and address)", before, after)
	}
	// The gap is each stream's pause over the handover: the longest one
	// that overlaps the move (from the client's reassociation request to
	// the new MAG serving it), not a stall of the loaded host elsewhere
	// in the stream (docs/handover.md 8), all on the guest's clock.
	h := handoverLogs{Client: d.Log("wpa_supplicant")[clientMark:], Hostapd: d.Log("hostapd-" + to.Name),
		MAG: d.Log("mag-" + to.Name), MH: d.backhaulMH(to), Streams: reps, BSSID: to.BSSID, ClientMAC: d.ClientMAC}
	pauses := h.pauses()
	var gap float64
	for _, s := range streams {
		r := reps[s.name]
		p, ok := pauses[s.name]
		if !ok {
			d.T.Errorf("%s: no pause found over the handover (the logs lack the move's milestones); longest pause %.0f ms", s.name, r.MaxGap.Ms)
			p.Ms = r.MaxGap.Ms
		}
		d.Say("%s: %d bytes, %d bytes before the handover, pause over the handover %.0f ms (longest of the stream %.0f ms)", s.name, r.Bytes, b0[s.name], p.Ms, r.MaxGap.Ms)
		if r.Bytes <= b0[s.name] {
			d.T.Errorf("%s: no bytes after the handover (%d before, %d at the end)", s.name, b0[s.name], r.Bytes)
		}
		gap = max(gap, p.Ms)
	}
	d.Record("handover traffic gap", gap, "ms")
	d.Say("handover timeline, from the client's reassociation request (guest clock):")
	for _, l := range renderTimeline(h.timeline()) {
		d.Say("  %s", l)
	}
	bs, err := d.Bindings()
	if err != nil {
		d.T.Fatal(err)
	}
	// One binding, not one per MAG: the LMA moved the session rather than
	// opening a second one (RFC 5213 5.4.1; a second one would come with
	// new addresses, which the check above would also catch).
	if len(bs) != 1 || bs[0].State != "active" || bs[0].MAG != to.Name || bs[0].MobileNode != Identity {
		d.T.Errorf("after the handover the LMA holds %+v, want exactly one active binding for %s via %s", bs, Identity, to.Name)
	}
	d.checkReleased(from, to)
	d.Say("same addresses %v; LMA binding now via %s, %s released it", after, to.Name, from.Name)
	return time.Duration(gap * float64(time.Millisecond))
}

// checkReleased checks that the old MAG no longer lists the client in its
// Binding Update List (it deregistered, or the LMA's revocation made it
// drop the binding, RFC 5846) and that the new MAG does.
func (d *Domain) checkReleased(from, to *AP) {
	d.T.Helper()
	d.Eventually(from.Name+" releasing the client", 10*time.Second, 200*time.Millisecond, func() error {
		old, err := d.MAGBindings(from)
		if err != nil {
			return err
		}
		for _, b := range old {
			if strings.EqualFold(b.MAC, d.ClientMAC) {
				return errorf("%s still lists %s (%s, %s)", from.Name, b.MAC, b.MobileNode, b.State)
			}
		}
		return nil
	})
	cur, err := d.MAGBindings(to)
	if err != nil {
		d.T.Fatal(err)
	}
	if !slices.ContainsFunc(cur, func(b MAGBinding) bool { return strings.EqualFold(b.MAC, d.ClientMAC) && b.MobileNode == Identity }) {
		d.T.Errorf("%s's Binding Update List has no entry for %s as %s: %+v", to.Name, d.ClientMAC, Identity, cur)
	}
}

// Baseline is the kernel state of the LMA and the MAGs with no client.
type Baseline map[string]string

// TakeBaseline records the kernel state of the LMA's and every AP's
// namespace, to compare with after a detach. It first waits for every
// IPv6 address to leave the tentative state: the local route of an
// address appears when its duplicate address detection ends, and an
// AP's radio interface (a bridge port that keeps its kernel link-local
// address) may have come up a moment ago, which once made a detach find
// that route "left over".
func (d *Domain) TakeBaseline() Baseline {
	d.T.Helper()
	// An address on a link without carrier stays tentative for good:
	// after 10 s the baseline is taken anyway, and says so.
	tentative := func() string {
		for _, ns := range append([]string{"lma"}, apNames(d.APs)...) {
			if out := strings.TrimSpace(d.nsSh(ns, "ip -6 addr show tentative")); out != "" {
				return ns + ": " + out
			}
		}
		return ""
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		t := tentative()
		if t == "" {
			break
		}
		if time.Now().After(deadline) {
			d.Say("baseline taken with addresses still tentative after 10 s: %s", t)
			break
		}
	}
	b := Baseline{"lma": d.KernelState("lma")}
	for _, ap := range d.APs {
		b[ap.Name] = d.KernelState(ap.Name)
	}
	return b
}

// Detach is scenario 3: the client disconnects from ap; the MAG
// deregisters it (RFC 5213 6.9.1.3, lifetime 0), the LMA keeps the entry
// for MinDelayBeforeBCEDelete (5.3.5) and then deletes it, and every
// tunnel, route, rule and nftables element made for the client is gone
// on both sides, back to the baseline taken before the client came.
func (d *Domain) Detach(ap *AP, base Baseline) {
	d.T.Helper()
	d.Say("client disconnects from %s", ap.Name)
	t0 := time.Now()
	d.Disconnect()
	var deregAt time.Duration
	d.Eventually("the LMA deregistering the binding", 20*time.Second, 100*time.Millisecond, func() error {
		bs, err := d.Bindings()
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.State == "active" {
				return errorf("binding of %s via %s still active", b.MobileNode, b.MAG)
			}
		}
		deregAt = time.Since(t0)
		return nil
	})
	d.Say("MAG %s deregistered the client %.0f ms after the disconnect; the LMA waits MinDelayBeforeBCEDelete (%v)",
		ap.Name, ms(deregAt), d.Cfg.MinDelayBeforeBCEDelete)
	var cleanAt time.Duration
	d.Eventually("kernel state back to the baseline", d.Cfg.MinDelayBeforeBCEDelete+20*time.Second, 250*time.Millisecond, func() error {
		for _, ns := range append([]string{"lma"}, apNames(d.APs)...) {
			now := d.KernelState(ns)
			if extra, missing := diffLines(now, base[ns]); len(extra) > 0 || len(missing) > 0 {
				return errorf("%s: left over %q, missing %q", ns, extra, missing)
			}
		}
		cleanAt = time.Since(t0)
		return nil
	})
	bs, err := d.Bindings()
	if err != nil {
		d.T.Fatal(err)
	}
	if len(bs) != 0 {
		d.T.Errorf("the LMA still holds %d bindings after MinDelayBeforeBCEDelete: %+v", len(bs), bs)
	}
	d.Say("binding cache empty; tunnels, routes, rules and nftables of the LMA and the MAGs back to the baseline %.0f ms after the disconnect", ms(cleanAt))
}

// envHandoverPcap=1 captures the streams (and ARP and ICMPv6, the
// neighbour resolution they wait for) at the CN and the client during
// scenario 2 (results/<test>/stream-*.pcap): the retransmissions and what
// reached the client, for docs/handover.md 8; and ARP and ICMPv6 on the
// new AP's access bridge (stream-ap.pcap): when the MAG sent them.
const envHandoverPcap = "PMIP_HANDOVER_PCAP"

var ssRTO = regexp.MustCompile(`rto:(\d+(?:\.\d+)?)\b.*?rtt:([\d.]+)/([\d.]+)`)

// cnTCP summarises the correspondent's sending sockets (ss -tin): each
// stream's retransmission timeout and smoothed RTT decide how long a
// stream pauses after an outage (docs/handover.md 6.2).
func (d *Domain) cnTCP() string {
	d.T.Helper()
	out := d.nsSh("cn", fmt.Sprintf("ss -tinH state established '( sport = :%d )'", streamPort))
	d.Logf("ss -tin in cn:\n%s", out)
	return summariseSS(out)
}

// summariseSS reads ss -tinH's sockets of the stream port: the address
// line, then the counters' line.
func summariseSS(out string) string {
	var parts []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasSuffix(f[len(f)-2], fmt.Sprintf(":%d", streamPort)) {
			continue
		}
		fam := "IPv6"
		if strings.Contains(f[len(f)-1], ".") {
			fam = "IPv4" // [::ffff:10.20.0.2]:port on the dual-stack listener
		}
		if i+1 < len(lines) {
			if m := ssRTO.FindStringSubmatch(lines[i+1]); m != nil {
				parts = append(parts, fmt.Sprintf("%s rto %s ms srtt %s ms (var %s)", fam, m[1], m[2], m[3]))
				continue
			}
		}
		parts = append(parts, fam+" (no counters)")
	}
	if len(parts) == 0 {
		return "(no stream sockets)"
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}
