package hostapd

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeHostapd is hostapd's control interface for one BSS: a unix
// datagram socket at dir/ifname answering STA <mac> from stations.
//
//	QueryStation ──"STA 02:..."──> dir/wlan0 (fakeHostapd) ──answer──> back to the sender
func fakeHostapd(t *testing.T, dir, ifname string, stations map[string]string) {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, ifname), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			req := string(buf[:n])
			answer, ok := "FAIL\n", false
			if mac, found := strings.CutPrefix(req, "STA "); found {
				answer, ok = stations[mac]
				if !ok {
					answer = "FAIL\n"
				}
			}
			if answer == "silence" {
				continue
			}
			c.WriteToUnix([]byte(answer), from)
		}
	}()
}

func TestQueryStation(t *testing.T) {
	dir := t.TempDir()
	fakeHostapd(t, dir, "wlan0", map[string]string{
		"02:00:00:00:01:00": staOutput,
		"02:00:00:00:02:00": "02:00:00:00:02:00\nflags=[AUTH][ASSOC][AUTHORIZED]\naid=2\n",
		"02:00:00:00:03:00": "02:00:00:00:03:00\nflags=[AUTH][ASSOC]\naid=3\n",
		"02:00:00:00:04:00": "silence",
	})
	tests := []struct {
		name  string
		iface string
		mac   string
		want  Station
		err   error
	}{
		{name: "802.1X, authorized", iface: "wlan0", mac: "02:00:00:00:01:00", want: Station{Identity: "alice@example.org", Authorized: true}},
		{name: "PSK, authorized", iface: "wlan0", mac: "02:00:00:00:02:00", want: Station{Authorized: true}},
		{name: "associated, not yet authorized", iface: "wlan0", mac: "02:00:00:00:03:00", want: Station{}},
		{name: "unknown station", iface: "wlan0", mac: "02:00:00:00:09:00", err: ErrNoStation},
		{name: "hostapd silent: the deadline", iface: "wlan0", mac: "02:00:00:00:04:00", err: context.DeadlineExceeded},
		{name: "no such BSS", iface: "wlan1", mac: "02:00:00:00:01:00", err: errAny},
		{name: "bad interface name", iface: "../x", mac: "02:00:00:00:01:00", err: ErrInterface},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Answers that must come get 10 s (a loaded host delays the
			// fake's goroutine); only "hostapd silent" waits for the
			// deadline, and a short one keeps that case quick.
			limit := 10 * time.Second
			if errors.Is(tt.err, context.DeadlineExceeded) {
				limit = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			got, err := QueryStation(ctx, dir, tt.iface, mac(tt.mac))
			switch {
			case tt.err == errAny && err != nil:
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("err %v, want %v", err, tt.err)
			case tt.err == nil && err != nil:
				t.Fatalf("err %v", err)
			case got != tt.want:
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// errAny: any error will do (the OS's, for a missing socket).
var errAny = errors.New("any error")

func TestParseStationFlags(t *testing.T) {
	st, err := ParseStation([]byte(staOutput), mac("02:00:00:00:01:00"))
	if err != nil || st != (Station{Identity: "alice@example.org", Authorized: true}) {
		t.Errorf("ParseStation = %+v, %v", st, err)
	}
	// Only the flags line counts, and only the first.
	st, err = ParseStation([]byte("02:00:00:00:01:00\nflags=[AUTH]\nflags=[AUTHORIZED]\nx=[AUTHORIZED]\n"), mac("02:00:00:00:01:00"))
	if err != nil || st.Authorized {
		t.Errorf("ParseStation = %+v, %v; want not authorized", st, err)
	}
}
