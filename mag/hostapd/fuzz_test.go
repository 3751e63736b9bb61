package hostapd

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundTrip checks that a parsed event is valid and survives the wire.
func roundTrip(t *testing.T, ev Event) {
	t.Helper()
	if err := ev.Validate(); err != nil {
		t.Fatalf("parser returned an invalid event %v: %v", ev, err)
	}
	b, err := MarshalEvent(ev)
	if err != nil {
		t.Fatalf("MarshalEvent(%v): %v", ev, err)
	}
	if len(b) > MaxDatagram {
		t.Fatalf("valid event encodes to %d octets", len(b))
	}
	back, err := UnmarshalEvent(b)
	if err != nil {
		t.Fatalf("UnmarshalEvent(%q): %v", b, err)
	}
	if diff := cmp.Diff(ev, back); diff != "" {
		t.Fatalf("wire round trip (-sent +received):\n%s", diff)
	}
}

func FuzzUnmarshalEvent(f *testing.F) {
	f.Add([]byte("pmip-hostapd 1\nkind=connected\nifname=wlan0\nmac=02:00:00:00:01:00\nsource=action\nidentity=alice@example.org\n"))
	f.Add([]byte("pmip-hostapd 1\nkind=disconnected\nifname=wlan0\nmac=02:00:00:00:01:00\nsource=ubus\n"))
	f.Add([]byte("pmip-hostapd 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := UnmarshalEvent(b)
		if err != nil {
			return
		}
		roundTrip(t, ev)
	})
}

func FuzzParseUbusLine(f *testing.F) {
	f.Add("wlan0", []byte(`{ "assoc": {"address":"42:48:16:6b:83:ee","target":"ae:5a:f1:12:00:4b","signal":-36,"freq":5745} }`))
	f.Add("wlan0", []byte(`{ "disassoc": {"address":"42:48:16:6b:83:ee"} }`))
	f.Add("wlan0", []byte(`{ "sta-authorized": {"address":"42:48:16:6b:83:ee","ifname":"wlan0-1","auth-alg":"open"} }`))
	f.Add("wlan0", []byte(`{ "probe": {"address":"42:48:16:6b:83:ee"} }`))
	f.Fuzz(func(t *testing.T, ifname string, line []byte) {
		ev, ok, err := ParseUbusLine(ifname, line)
		if err != nil || !ok {
			return
		}
		roundTrip(t, ev)
	})
}

func FuzzParseStaInfo(f *testing.F) {
	f.Add([]byte(staOutput), "02:00:00:00:01:00")
	f.Add([]byte("FAIL\n"), "02:00:00:00:01:00")
	f.Add([]byte("02:00:00:00:01:00\ndot1xAuthSessionUserName=a=b\r\n"), "02:00:00:00:01:00")
	f.Fuzz(func(t *testing.T, out []byte, station string) {
		m, err := net.ParseMAC(station)
		if err != nil {
			return
		}
		id, err := ParseStaInfo(out, m)
		if err != nil {
			return
		}
		if id != "" && !bytes.Contains(out, []byte("dot1xAuthSessionUserName="+id)) {
			t.Fatalf("identity %q is not in the output", id)
		}
		if m, err := parseMAC(station); err == nil {
			roundTrip(t, Event{Kind: Authorized, Interface: "wlan0", MAC: m, Identity: id, Source: SourceUbus})
		}
	})
}
