// Package hostapdtest is a fake hostapd control interface for tests: one
// unix datagram socket per BSS that speaks the commands the MAG uses
// (ATTACH, DETACH, PING, STA, STA-FIRST, STA-NEXT, DEAUTHENTICATE) and
// sends events to its attached monitors, as hostapd's ctrl_iface.c does.
//
//	test ──SetStation / Event / Stop──► AP (DIR/IFNAME, unixgram) ◄──ATTACH/PING/STA...── Monitor
//	                                      └──"<3>AP-STA-CONNECTED ..."──► every attached monitor
//
// Stop removes the socket as a hostapd that exits does; Start at the same
// path afterwards is a restarted hostapd, which knows no monitors.
package hostapdtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Station is one entry of the fake's station table.
type Station struct {
	MAC        string // 02:00:00:00:02:00
	Authorized bool
	Identity   string // dot1xAuthSessionUserName; "" prints none
	AKM        string // AKMSuiteSelector, e.g. 00-0f-ac-3; "" prints none
}

// Text is the station as hostapd prints it (ctrl_iface_ap.c
// hostapd_ctrl_iface_sta_mib, abridged).
func (s Station) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nflags=[AUTH][ASSOC]", s.MAC)
	if s.Authorized {
		b.WriteString("[AUTHORIZED]")
	}
	b.WriteString("[WMM]\naid=1\ncapability=0x1\nlisten_interval=5\ntimeout_next=NULLFUNC POLL\n")
	if s.AKM != "" {
		fmt.Fprintf(&b, "AKMSuiteSelector=%s\n", s.AKM)
	}
	if s.Identity != "" {
		fmt.Fprintf(&b, "dot1xPaeState=AUTHENTICATED\ndot1xAuthSessionUserName=%s\n", s.Identity)
	}
	b.WriteString("connected_time=1\n")
	return b.String()
}

// AP is the fake control interface of one BSS.
type AP struct {
	t    testing.TB
	path string
	conn *net.UnixConn
	done chan struct{}

	mu         sync.Mutex
	stations   []Station // hostapd's list order
	monitors   []*net.UnixAddr
	requests   []string
	silentPing bool
	stopped    bool
	before     func(req string)
}

// Start creates the control socket dir/ifname and serves it until Stop
// or the end of the test.
func Start(t testing.TB, dir, ifname string) *AP {
	t.Helper()
	path := filepath.Join(dir, ifname)
	os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("hostapdtest: %v", err)
	}
	a := &AP{t: t, path: path, conn: c, done: make(chan struct{})}
	go a.serve()
	t.Cleanup(a.Stop)
	return a
}

// Stop closes and removes the socket, as hostapd does when it exits.
func (a *AP) Stop() {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.stopped = true
	a.mu.Unlock()
	a.conn.Close()
	<-a.done
	os.Remove(a.path)
}

// SetStation adds or replaces a station (new ones go to the head of
// the list, as hostapd's ap_sta_add does).
func (a *AP) SetStation(s Station) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.indexLocked(s.MAC); i >= 0 {
		a.stations[i] = s
		return
	}
	a.stations = slices.Insert(a.stations, 0, s)
}

// RemoveStation drops a station from the table, without an event.
func (a *AP) RemoveStation(mac string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.indexLocked(mac); i >= 0 {
		a.stations = slices.Delete(a.stations, i, i+1)
	}
}

func (a *AP) indexLocked(mac string) int {
	return slices.IndexFunc(a.stations, func(s Station) bool { return strings.EqualFold(s.MAC, mac) })
}

// SilentPing makes the fake ignore PING (a wedged hostapd).
func (a *AP) SilentPing(silent bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.silentPing = silent
}

// BeforeAnswer has f run with each command before the fake answers it
// (hostapd still busy with its own work, as after AP-STA-CONNECTED); nil
// removes it.
func (a *AP) BeforeAnswer(f func(req string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.before = f
}

// Event sends "<3>text" to every attached monitor.
func (a *AP) Event(text string) { a.Raw([]byte("<3>" + text)) }

// Raw sends b as it is to every attached monitor.
func (a *AP) Raw(b []byte) {
	a.mu.Lock()
	mons := slices.Clone(a.monitors)
	a.mu.Unlock()
	for _, m := range mons {
		a.conn.WriteToUnix(b, m)
	}
}

// Monitors is how many monitors are attached.
func (a *AP) Monitors() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.monitors)
}

// Requests returns the commands received so far, in order.
func (a *AP) Requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// Count is how many commands received so far start with prefix.
func (a *AP) Count(prefix string) int {
	n := 0
	for _, r := range a.Requests() {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (a *AP) serve() {
	defer close(a.done)
	buf := make([]byte, 4096)
	for {
		n, from, err := a.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		if from == nil || from.Name == "" {
			continue // hostapd cannot answer an unbound sender either
		}
		a.mu.Lock()
		before := a.before
		a.mu.Unlock()
		if before != nil {
			before(string(buf[:n]))
		}
		reply, ok := a.handle(string(buf[:n]), from)
		if ok {
			a.conn.WriteToUnix([]byte(reply), from)
		}
	}
}

func (a *AP) handle(req string, from *net.UnixAddr) (reply string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, req)
	verb, arg, _ := strings.Cut(req, " ")
	switch verb {
	case "PING":
		return "PONG\n", !a.silentPing
	case "ATTACH":
		a.monitors = append(a.monitors, from)
		return "OK\n", true
	case "DETACH":
		i := slices.IndexFunc(a.monitors, func(m *net.UnixAddr) bool { return m.Name == from.Name })
		if i < 0 {
			return "FAIL\n", true
		}
		a.monitors = slices.Delete(a.monitors, i, i+1)
		return "OK\n", true
	case "STA":
		if i := a.indexLocked(arg); i >= 0 {
			return a.stations[i].Text(), true
		}
		return "FAIL\n", true
	case "STA-FIRST":
		if len(a.stations) == 0 {
			return "", true
		}
		return a.stations[0].Text(), true
	case "STA-NEXT":
		i := a.indexLocked(arg)
		switch {
		case i < 0:
			return "FAIL\n", true
		case i+1 == len(a.stations):
			return "", true
		}
		return a.stations[i+1].Text(), true
	case "DEAUTHENTICATE":
		mac, _, _ := strings.Cut(arg, " ")
		if i := a.indexLocked(mac); i >= 0 {
			a.stations = slices.Delete(a.stations, i, i+1)
			for _, m := range a.monitors {
				a.conn.WriteToUnix([]byte("<3>AP-STA-DISCONNECTED "+mac), m)
			}
		}
		return "OK\n", true
	}
	return "UNKNOWN COMMAND\n", true
}
