package scenarios

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// AddrReport is pmip-probe addrs' report (testing/qemu/cmd/pmip-probe):
// Unix-nanosecond times of the guest's clock.
type AddrReport struct {
	Start    int64  `json:"start_ns"`
	Up       int64  `json:"up_ns"`
	V4       int64  `json:"v4_ns"`
	V4IP     string `json:"v4"`
	V6       int64  `json:"v6_ns"`
	V6IP     string `json:"v6"`
	TimedOut bool   `json:"timed_out"`
}

// Attachment is what the client got from associating.
type Attachment struct {
	AddrReport
	// ToV4 and ToV6 run from the association (the link authorized) to
	// the address being usable.
	ToV4, ToV6 time.Duration
}

// wpaCli runs wpa_cli against the client's wpa_supplicant.
func (d *Domain) wpaCli(args string) string {
	d.T.Helper()
	return d.nsSh("client", "/sbin/wpa_cli -p "+wpaCtrl+" -i "+d.radio+" "+args)
}

// Associate starts the client on ap: wpa_supplicant with WPA2-EAP
// (EAP-PSK as Identity), wpa_cli -a starting udhcpc once connected, and
// the kernel's SLAAC; it waits until the client has an IPv4 home address
// and an IPv6 address in its home network prefix, and reports when each
// came.
func (d *Domain) Associate(ap *AP) Attachment {
	d.T.Helper()
	conf := filepath.Join(d.vmFor("client").ShareDir(), "pmip", "wpa.conf")
	if err := os.WriteFile(conf, []byte(wpaConfig(ap.BSSID, d.Cfg.LegacyRoam)), 0o644); err != nil {
		d.T.Fatal(err)
	}
	d.start("addrs", "client", nil, d.bins["pmip-probe"], "addrs", "-i", d.radio, "-v4", V4Pool, "-v6", HNPPool, "-timeout", "120s")
	// The network starts disabled so wpa_cli -a is attached before the
	// association it must see.
	supplicant, err := clientCommand([]string{"/sbin/wpa_supplicant", "-t", "-i", d.radio, "-c", shareDir + "/wpa.conf"})
	if err != nil {
		d.T.Fatal(err)
	}
	d.start("wpa_supplicant", "client", nil, supplicant...)
	d.waitPath("client", wpaCtrl+"/"+d.radio, 30*time.Second)
	d.start("wpa_cli", "client", nil, "/sbin/wpa_cli", "-p", wpaCtrl, "-i", d.radio, "-a", scriptDir+"/client-action.sh")
	time.Sleep(300 * time.Millisecond) // wpa_cli attaches; a miss shows below as no IPv4 address, never a false pass
	d.wpaCli("enable_network 0")
	d.WaitLog("addrs", "}\n", 0, 150*time.Second)
	out := d.Log("addrs")
	var rep AddrReport
	if err := json.Unmarshal([]byte(firstLine(out)), &rep); err != nil {
		d.T.Fatalf("pmip-probe addrs: %v: %q", err, out)
	}
	if rep.TimedOut {
		d.T.Fatalf("the client did not get its addresses within 120 s: link up at %s, IPv4 %q, IPv6 %q",
			rel(rep.Start, rep.Up), rep.V4IP, rep.V6IP)
	}
	a := Attachment{AddrReport: rep, ToV4: time.Duration(rep.V4 - rep.Up), ToV6: time.Duration(rep.V6 - rep.Up)}
	return a
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func rel(start, t int64) string {
	if t == 0 {
		return "never"
	}
	return fmt.Sprintf("+%v", time.Duration(t-start).Round(time.Millisecond))
}

// WPAStatus returns wpa_cli status as key=value pairs.
func (d *Domain) WPAStatus() map[string]string {
	d.T.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(d.wpaCli("status"), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			m[k] = v
		}
	}
	return m
}

// Roam moves the client to ap and waits until it is connected there; it
// returns when the move began and the offset of wpa_supplicant's log
// there (for RoamMethod).
//
// The move is make before break (docs/handover.md 5, 8): wpa_cli ft_ds,
// 802.11r FT over the DS (the FT Request and Response travel through the
// current AP), then a reassociation with ap; the old AP is not told. It
// runs no EAP (the PMK-R1 is at ap already), so the new
// AP's hostapd reports a connection without EAP, its MAG registers with
// Handoff Indicator 3 (RFC 5213 8.4, 6.9.1.1) and the LMA moves the
// session at once and revokes the old MAG's binding (RFC 5846).
//
// With Config.LegacyRoam the move is break before make, as the studies
// measured it: the client deauthenticates from its AP, which hostapd
// reports (AP-STA-DISCONNECTED) so the old MAG deregisters, then
// associates with ap, full EAP again, and the new MAG's Handoff
// Indicator 4 finds the deregistered session (RFC 5213 5.4.1.3).
func (d *Domain) Roam(ap *AP) (time.Time, int) {
	d.T.Helper()
	cli := "/sbin/wpa_cli -p " + wpaCtrl + " -i " + d.radio
	mark := d.mark("wpa_supplicant")
	t0 := time.Now()
	if d.Cfg.LegacyRoam {
		d.nsSh("client", cli+" bssid 0 "+ap.BSSID+" && "+cli+" disconnect && "+cli+" reconnect")
	} else {
		d.nsSh("client", cli+" bssid 0 "+ap.BSSID+" && "+cli+" ft_ds "+ap.BSSID)
	}
	// Wait on wpa_supplicant's own log, which streams to the host, not by
	// polling wpa_cli in the guest: each poll is two processes there
	// (0.1-2.5 s of the guest's CPU under TCG), taken from hostapd and
	// the MAGs while the handover is being timed.
	d.WaitLog("wpa_supplicant", "CTRL-EVENT-CONNECTED - Connection to "+ap.BSSID, mark, 60*time.Second)
	return t0, mark
}

// RoamMethod checks that the client is connected to ap and names how it
// (re)authenticated since its log's offset mark (Roam's). Call it once the
// handover is over: it runs wpa_cli in the guest.
func (d *Domain) RoamMethod(ap *AP, mark int) string {
	d.T.Helper()
	st := d.WPAStatus()
	if st["wpa_state"] != "COMPLETED" || !strings.EqualFold(st["bssid"], ap.BSSID) {
		d.T.Fatalf("the client reported a connection to %s but its status says wpa_state %s bssid %s", ap.Name, st["wpa_state"], st["bssid"])
	}
	return roamMethod(d.Log("wpa_supplicant")[mark:], st["key_mgmt"], d.Cfg.LegacyRoam)
}

// roamMethod names the 802.11 method of a move from what wpa_supplicant
// logged during it and its key_mgmt afterwards.
func roamMethod(log, keyMgmt string, legacy bool) string {
	how := "reassociation"
	if legacy {
		how = "break before make"
	}
	switch {
	case strings.Contains(log, "CTRL-EVENT-EAP-STARTED"):
		return fmt.Sprintf("full EAP (%s, %s)", keyMgmt, how)
	case strings.Contains(keyMgmt, "FT"):
		return "802.11r FT-EAP over the DS (no EAP at the new AP, PMK-R1 pushed)"
	default:
		return fmt.Sprintf("PMKSA caching (%s, no EAP at the new AP, %s)", keyMgmt, how)
	}
}

// Disconnect makes the client leave the network (wpa_cli disconnect: a
// deauthentication the AP reports as AP-STA-DISCONNECTED).
func (d *Domain) Disconnect() {
	d.T.Helper()
	d.wpaCli("disconnect")
}

// ClientAddrs returns the global addresses on the client's radio.
func (d *Domain) ClientAddrs() []string {
	d.T.Helper()
	out := d.nsSh("client", "ip -o addr show dev "+d.radio+" scope global")
	var addrs []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				addrs = append(addrs, strings.Split(f[i+1], "/")[0])
			}
		}
	}
	return addrs
}

// Ping pings dst from the client count times, one probe at a time, and
// fails the test on loss. One ping per probe with a 10 s wait each:
// `ping -c N` waits for its last reply only max(2 RTT, interval) once a
// reply came (iputils), so a slow guest lost the last probe of a healthy
// path; and -w would count a neighbour discovery failure against -c.
func (d *Domain) Ping(dst string, count int) string {
	d.T.Helper()
	out := d.nsSh("client", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); `+
		`ping -c 1 -W 10 %s || { echo "pmip: probe $i of %d lost"; exit 0; }; done`, count, dst, count))
	if strings.Contains(out, "pmip: probe ") {
		d.T.Fatalf("ping %s from the client lost packets:\n%s", dst, out)
	}
	return out
}
