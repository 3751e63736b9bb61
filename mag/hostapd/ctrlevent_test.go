package hostapd

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCtrlEvent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CtrlEvent
		err  bool
	}{
		{in: "<3>AP-STA-CONNECTED 02:00:00:00:02:00", want: CtrlEvent{Level: 3, Name: "AP-STA-CONNECTED", MAC: mac("02:00:00:00:02:00"), Args: "02:00:00:00:02:00"}},
		{in: "<3>AP-STA-CONNECTED 02:00:00:00:02:00 keyid=home\n", want: CtrlEvent{Level: 3, Name: "AP-STA-CONNECTED", MAC: mac("02:00:00:00:02:00"), Args: "02:00:00:00:02:00 keyid=home"}},
		{in: "IFNAME=wlan0 <3>AP-STA-DISCONNECTED 02:00:00:00:02:00", want: CtrlEvent{Level: 3, Name: "AP-STA-DISCONNECTED", MAC: mac("02:00:00:00:02:00"), Args: "02:00:00:00:02:00"}},
		{in: "<3>CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=1", want: CtrlEvent{Level: 3, Name: "CTRL-EVENT-EAP-PROPOSED-METHOD", Args: "vendor=0 method=1"}},
		{in: "<3>AP-ENABLED", want: CtrlEvent{Level: 3, Name: "AP-ENABLED"}},
		{in: "<3>AP-STA-CONNECTED 03:00:00:00:02:00", want: CtrlEvent{Level: 3, Name: "AP-STA-CONNECTED", Args: "03:00:00:00:02:00"}}, // group address: no station
		{in: "OK\n", err: true},
		{in: "PONG", err: true},
		{in: "<3>", err: true},
		{in: "<x>AP-ENABLED", err: true},
		{in: "<3> AP", err: true},
		{in: "<3>AP-STA-CONNECTED 02:00:00:00:02:00\x01", err: true},
		{in: "<3>\xff\xfe", err: true},
		{in: "IFNAME=wlan0", err: true},
		{in: "", err: true},
	} {
		got, err := ParseCtrlEvent([]byte(tc.in))
		if tc.err {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseCtrlEvent(%q) = %+v, %v; want ErrSyntax", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCtrlEvent(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseCtrlEvent(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	if _, err := ParseCtrlEvent(make([]byte, maxCtrlEvent+1)); !errors.Is(err, ErrSyntax) {
		t.Errorf("oversize datagram: %v", err)
	}
}

// FuzzParseCtrlEvent: no input panics; what parses is a well-formed event
// whose station, if any, is a valid unicast address, and the handoff rule
// and the Event built from it (as the monitor does) are valid.
func FuzzParseCtrlEvent(f *testing.F) {
	for _, s := range []string{
		"<3>AP-STA-CONNECTED 02:00:00:00:02:00", "<3>AP-STA-DISCONNECTED 02:00:00:00:02:00",
		"<3>CTRL-EVENT-EAP-STARTED 02:00:00:00:02:00", "<3>EAPOL-4WAY-HS-COMPLETED 02:00:00:00:02:00",
		"IFNAME=wlan0 <3>AP-STA-CONNECTED 02:00:00:00:02:00 keyid=x", "PONG", "OK\n", "<3>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseCtrlEvent(b)
		if err != nil {
			return
		}
		if ev.Level < 0 || ev.Level > 9 || ev.Name == "" {
			t.Fatalf("bad event %+v from %q", ev, b)
		}
		if ev.MAC != nil && checkMAC(ev.MAC) != nil {
			t.Fatalf("invalid station %v from %q", ev.MAC, b)
		}
		var h HandoffHints
		connected, fast := h.Observe(ev)
		if connected {
			out := Event{Kind: Connected, Interface: "wlan0", MAC: ev.MAC, Source: SourceCtrl, FastReassoc: fast}
			if err := out.Validate(); err != nil {
				t.Fatalf("event %v from %q: %v", out, b, err)
			}
			roundTrip(t, out)
		}
	})
}
