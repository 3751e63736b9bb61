package hostapd

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Event
		ok   bool
		err  error
	}{
		{name: "connected", args: []string{"wlan0", "AP-STA-CONNECTED", "02:00:00:00:01:00"},
			want: Event{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Source: SourceAction}, ok: true},
		{name: "connected with extra words", args: []string{"wlan0-1", "AP-STA-CONNECTED", "02:00:00:00:01:0A", "keyid=k1", "ip_addr=10.0.0.2"},
			want: Event{Kind: Connected, Interface: "wlan0-1", MAC: mac("02:00:00:00:01:0a"), Source: SourceAction}, ok: true},
		{name: "disconnected", args: []string{"phy0-ap0", "AP-STA-DISCONNECTED", "f2:11:22:33:44:55"},
			want: Event{Kind: Disconnected, Interface: "phy0-ap0", MAC: mac("f2:11:22:33:44:55"), Source: SourceAction}, ok: true},
		{name: "other event ignored", args: []string{"wlan0", "CTRL-EVENT-EAP-SUCCESS", "02:00:00:00:01:00"}},
		{name: "4-way handshake ignored", args: []string{"wlan0", "EAPOL-4WAY-HS-COMPLETED", "02:00:00:00:01:00"}},
		{name: "event without mac ignored when not ours", args: []string{"wlan0", "CTRL-EVENT-TERMINATING"}},
		{name: "too few arguments", args: []string{"wlan0"}, err: ErrSyntax},
		{name: "connected without mac", args: []string{"wlan0", "AP-STA-CONNECTED"}, err: ErrSyntax},
		{name: "bad mac", args: []string{"wlan0", "AP-STA-CONNECTED", "02:00:00:00:01"}, err: ErrMAC},
		{name: "eui-64 mac", args: []string{"wlan0", "AP-STA-CONNECTED", "02:00:00:00:00:00:01:00"}, err: ErrMAC},
		{name: "multicast mac", args: []string{"wlan0", "AP-STA-CONNECTED", "01:00:5e:00:00:01"}, err: ErrMAC},
		{name: "broadcast mac", args: []string{"wlan0", "AP-STA-DISCONNECTED", "ff:ff:ff:ff:ff:ff"}, err: ErrMAC},
		{name: "zero mac", args: []string{"wlan0", "AP-STA-DISCONNECTED", "00:00:00:00:00:00"}, err: ErrMAC},
		{name: "interface with slash", args: []string{"../x", "AP-STA-CONNECTED", "02:00:00:00:01:00"}, err: ErrInterface},
		{name: "interface too long", args: []string{"wlan0123456789ab", "AP-STA-CONNECTED", "02:00:00:00:01:00"}, err: ErrInterface},
		{name: "empty interface", args: []string{"", "AP-STA-CONNECTED", "02:00:00:00:01:00"}, err: ErrInterface},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseAction(tt.args)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("event (-want +got):\n%s", diff)
			}
		})
	}
}

// staOutput is what hostapd 2.10 prints for `hostapd_cli -i wlan0 sta MAC`
// on a WPA2-EAP BSS (abridged; the order is hostapd's).
const staOutput = `02:00:00:00:01:00
flags=[AUTH][ASSOC][AUTHORIZED][WMM][HT]
aid=1
capability=0x1
listen_interval=5
supported_rates=82 84 8b 96 0c 12 18 24 30 48 60 6c
timeout_next=NULLFUNC POLL
dot11RSNAStatsSTAAddress=02:00:00:00:01:00
dot11RSNAStatsVersion=1
dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4
dot1xPaeState=AUTHENTICATED
dot1xBackendAuthState=IDLE
dot1xAuthSessionId=E6C8A40B6D5F7E23
dot1xAuthSessionTime=3
dot1xAuthSessionTerminateCause=999
dot1xAuthSessionUserName=alice@example.org
dot1xAuthSessionAuthenticMethod=1
last_eap_type_as=4 (MD5)
connected_time=3
`

func TestParseStaInfo(t *testing.T) {
	station := mac("02:00:00:00:01:00")
	tests := []struct {
		name string
		out  string
		want string
		err  error
	}{
		{name: "802.1X", out: staOutput, want: "alice@example.org"},
		{name: "CRLF", out: strings.ReplaceAll(staOutput, "\n", "\r\n"), want: "alice@example.org"},
		{name: "PSK, no identity", out: "02:00:00:00:01:00\nflags=[AUTH][ASSOC][AUTHORIZED]\naid=1\n"},
		{name: "identity with = and spaces", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=a=b c@x\n", want: "a=b c@x"},
		{name: "empty identity", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=\n"},
		{name: "hostapd's placeholder after a fast reassociation", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=N/A\n"},
		{name: "a NULL identity printed", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=(null)\n"},
		{name: "first identity wins", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=one\ndot1xAuthSessionUserName=two\n", want: "one"},
		{name: "leading blank line", out: "\n02:00:00:00:01:00\ndot1xAuthSessionUserName=bob\n", want: "bob"},
		{name: "unknown station", out: "FAIL\n", err: ErrNoStation},
		{name: "no output", out: "", err: ErrNoStation},
		{name: "other station", out: "02:00:00:00:02:00\ndot1xAuthSessionUserName=eve\n", err: ErrSyntax},
		{name: "not sta output", out: "Usage: hostapd_cli\n", err: ErrSyntax},
		{name: "control character", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=a\x1bb\n", err: ErrIdentity},
		{name: "not UTF-8", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=\xff\xfe\n", err: ErrIdentity},
		{name: "too long", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=" + strings.Repeat("a", 254) + "\n", err: ErrIdentity},
		{name: "longest", out: "02:00:00:00:01:00\ndot1xAuthSessionUserName=" + strings.Repeat("a", 253) + "\n", want: strings.Repeat("a", 253)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStaInfo([]byte(tt.out), station)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("identity = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseUbusLine(t *testing.T) {
	sta := mac("42:48:16:6b:83:ee")
	tests := []struct {
		name string
		line string
		want Event
		ok   bool
		err  error
	}{
		{name: "assoc", line: `{ "assoc": {"address":"42:48:16:6b:83:ee","target":"ae:5a:f1:12:00:4b","signal":-36,"freq":5745} }`,
			want: Event{Kind: Connected, Interface: "wlan1", MAC: sta, Source: SourceUbus}, ok: true},
		{name: "disassoc", line: `{ "disassoc": {"address":"42:48:16:6b:83:ee"} }`,
			want: Event{Kind: Disconnected, Interface: "wlan1", MAC: sta, Source: SourceUbus}, ok: true},
		{name: "sta-authorized with ifname", line: `{ "sta-authorized": {"address":"42:48:16:6b:83:ee","vlan":3,"ifname":"wlan1-1","auth-alg":"open","rate-limit":[0,0]} }`,
			want: Event{Kind: Authorized, Interface: "wlan1-1", MAC: sta, Source: SourceUbus}, ok: true},
		{name: "probe ignored", line: `{ "probe": {"address":"42:48:16:6b:83:ee","target":"ff:ff:ff:ff:ff:ff","signal":-37,"freq":5745,"ht_capabilities":{"ht_capabilities_info":2543}} }`},
		{name: "auth ignored", line: `{ "auth": {"address":"42:48:16:6b:83:ee"} }`},
		{name: "blank", line: "  \t"},
		{name: "not JSON", line: `assoc 42:48:16:6b:83:ee`, err: ErrSyntax},
		{name: "truncated", line: `{ "assoc": {"address":"42:48:16:6b:83:ee"`, err: ErrSyntax},
		{name: "trailing data", line: `{ "assoc": {"address":"42:48:16:6b:83:ee"} } {}`, err: ErrSyntax},
		{name: "two notifications", line: `{ "assoc": {"address":"42:48:16:6b:83:ee"}, "disassoc": {"address":"42:48:16:6b:83:ee"} }`, err: ErrSyntax},
		{name: "empty object", line: `{}`, err: ErrSyntax},
		{name: "array", line: `[1]`, err: ErrSyntax},
		{name: "null body", line: `{ "assoc": null }`, err: ErrSyntax},
		{name: "no address", line: `{ "assoc": {"freq":5745} }`, err: ErrSyntax},
		{name: "address not a string", line: `{ "assoc": {"address":42} }`, err: ErrSyntax},
		{name: "bad address", line: `{ "disassoc": {"address":"42:48:16"} }`, err: ErrMAC},
		{name: "group address", line: `{ "assoc": {"address":"43:48:16:6b:83:ee"} }`, err: ErrMAC},
		{name: "bad ifname member", line: `{ "sta-authorized": {"address":"42:48:16:6b:83:ee","ifname":"a b"} }`, err: ErrInterface},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseUbusLine("wlan1", []byte(tt.line))
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWire(t *testing.T) {
	ev := Event{Kind: Authorized, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Identity: "alice@example.org", Source: SourceUbus}
	golden := "pmip-hostapd 1\nkind=authorized\nifname=wlan0\nmac=02:00:00:00:01:00\nsource=ubus\nidentity=alice@example.org\n"
	b, err := MarshalEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != golden {
		t.Fatalf("MarshalEvent =\n%s\nwant\n%s", b, golden)
	}
	got, err := UnmarshalEvent([]byte(golden))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}

	base := "pmip-hostapd 1\nkind=connected\nifname=wlan0\nmac=02:00:00:00:01:00\nsource=action\n"
	if _, err := UnmarshalEvent([]byte(base + "future=1\n")); err != nil {
		t.Errorf("unknown key in version 1 refused: %v", err)
	}
	if _, err := UnmarshalEvent([]byte(strings.TrimSuffix(base, "\n"))); err != nil {
		t.Errorf("no final newline refused: %v", err)
	}
	bad := []struct {
		name, in string
		err      error
	}{
		{"empty", "", ErrSyntax},
		{"version 2", strings.Replace(base, " 1\n", " 2\n", 1), ErrSyntax},
		{"version 01", strings.Replace(base, " 1\n", " 01\n", 1), ErrSyntax},
		{"no version", strings.Replace(base, "pmip-hostapd 1\n", "", 1), ErrSyntax},
		{"missing mac", strings.Replace(base, "mac=02:00:00:00:01:00\n", "", 1), ErrSyntax},
		{"repeated key", base + "kind=disconnected\n", ErrSyntax},
		{"not key=value", base + "junk\n", ErrSyntax},
		{"blank line", base + "\n\n", ErrSyntax},
		{"bad kind", strings.Replace(base, "connected", "roamed", 1), ErrSyntax},
		{"bad source", strings.Replace(base, "action", "radius", 1), ErrSyntax},
		{"bad mac", strings.Replace(base, "02:00:00:00:01:00", "zz", 1), ErrMAC},
		{"bad ifname", strings.Replace(base, "wlan0", "", 1), ErrInterface},
		{"bad identity", base + "identity=\x7f\n", ErrIdentity},
		{"oversize", base + "identity=" + strings.Repeat("a", MaxDatagram) + "\n", ErrSyntax},
	}
	for _, tt := range bad {
		if _, err := UnmarshalEvent([]byte(tt.in)); !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, err := MarshalEvent(Event{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00")}); !errors.Is(err, ErrSyntax) {
		t.Errorf("MarshalEvent without a source: %v", err)
	}
	if _, err := MarshalEvent(Event{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Source: SourceAction, Identity: "a\nkind=disconnected"}); !errors.Is(err, ErrIdentity) {
		t.Errorf("MarshalEvent with a newline in the identity: %v", err)
	}
}

func TestStrings(t *testing.T) {
	if Connected.String() != "connected" || Kind(9).String() != "Kind(9)" || SourceUbus.String() != "ubus" || Source(0).String() != "Source(0)" {
		t.Fatal("String methods")
	}
	ev := Event{Kind: Authorized, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Identity: "bob", Source: SourceUbus}
	if got, want := ev.String(), `authorized 02:00:00:00:01:00 on wlan0 via ubus identity "bob"`; got != want {
		t.Fatalf("String = %s, want %s", got, want)
	}
}
