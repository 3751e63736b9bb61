package hostapd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeHook records what a hook sends and answers identity look-ups from a
// table.
func fakeHook(ids map[string]string) (*hook, *[]Event) {
	var sent []Event
	h := &hook{
		log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		send: func(e Event) error { sent = append(sent, e); return nil },
		identity: func(_ context.Context, ifname string, m net.HardwareAddr) (string, error) {
			id, ok := ids[ifname+" "+m.String()]
			if !ok {
				return "", ErrNoStation
			}
			return id, nil
		},
	}
	return h, &sent
}

func TestHookAction(t *testing.T) {
	h, sent := fakeHook(map[string]string{"wlan0 02:00:00:00:01:00": "alice@example.org"})
	for _, args := range [][]string{
		{"wlan0", "CTRL-EVENT-EAP-STARTED", "02:00:00:00:01:00"},
		{"wlan0", "AP-STA-CONNECTED", "02:00:00:00:01:00"},
		{"wlan0", "AP-STA-CONNECTED", "02:00:00:00:02:00"}, // no identity known
		{"wlan0", "AP-STA-DISCONNECTED", "02:00:00:00:01:00"},
	} {
		if err := h.action(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	want := []Event{
		{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Identity: "alice@example.org", Source: SourceAction},
		{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:02:00"), Source: SourceAction},
		{Kind: Disconnected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Source: SourceAction},
	}
	if diff := cmp.Diff(want, *sent); diff != "" {
		t.Fatalf("sent (-want +got):\n%s", diff)
	}
	if err := h.action([]string{"wlan0", "AP-STA-CONNECTED", "nonsense"}); !errors.Is(err, ErrMAC) {
		t.Fatalf("bad MAC: %v", err)
	}
}

func TestHookUbus(t *testing.T) {
	h, sent := fakeHook(map[string]string{"wlan1 42:48:16:6b:83:ee": "bob@example.org"})
	stream := strings.Join([]string{
		`{ "probe": {"address":"42:48:16:6b:83:ee","target":"ff:ff:ff:ff:ff:ff"} }`,
		`{ "assoc": {"address":"42:48:16:6b:83:ee","signal":-36,"freq":5745} }`,
		`garbage`,
		`{ "probe": {"pad":"` + strings.Repeat("x", maxUbusLine) + `"} }`, // overlong, skipped
		``,
		`{ "sta-authorized": {"address":"42:48:16:6b:83:ee","auth-alg":"open"} }`,
		`{ "disassoc": {"address":"42:48:16:6b:83:ee"} }`, // last line without "\n"
	}, "\n")
	if err := h.ubus("wlan1", strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	sta := mac("42:48:16:6b:83:ee")
	want := []Event{
		{Kind: Connected, Interface: "wlan1", MAC: sta, Source: SourceUbus},
		{Kind: Authorized, Interface: "wlan1", MAC: sta, Identity: "bob@example.org", Source: SourceUbus},
		{Kind: Disconnected, Interface: "wlan1", MAC: sta, Source: SourceUbus},
	}
	if diff := cmp.Diff(want, *sent); diff != "" {
		t.Fatalf("sent (-want +got):\n%s", diff)
	}
}

func TestReadLine(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("ab\n"+strings.Repeat("y", 40)+"\ncd"), 16)
	var got []string
	for {
		line, err := readLine(r, 10)
		switch {
		case errors.Is(err, errLineTooLong):
			got = append(got, "<long>")
			continue
		case len(line) > 0:
			got = append(got, string(line))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"ab", "<long>", "cd"}, got); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
}

func TestRunHookUsage(t *testing.T) {
	var out strings.Builder
	for _, args := range [][]string{nil, {"nope"}, {"ubus"}, {"ubus", "a/b"}, {"action", "wlan0"}} {
		if err := RunHook(args, strings.NewReader(""), &out); err == nil {
			t.Errorf("RunHook(%q) succeeded", args)
		}
	}
	if err := RunHook([]string{"-bogus"}, strings.NewReader(""), &out); err == nil {
		t.Error("unknown flag accepted")
	}
	if !strings.Contains(out.String(), "usage: pmip-mag hook") {
		t.Errorf("no usage printed:\n%s", out.String())
	}
}
