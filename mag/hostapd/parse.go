package hostapd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// hostapd control-interface event names (hostapd src/common/wpa_ctrl.h
// AP_STA_CONNECTED, AP_STA_DISCONNECTED).
const (
	eventConnected    = "AP-STA-CONNECTED"
	eventDisconnected = "AP-STA-DISCONNECTED"
)

// OpenWrt hostapd ubus notification types (ubus.c: hostapd_ubus_notify
// "assoc"/"disassoc", hostapd_ubus_notify_authorized "sta-authorized").
const (
	ubusAssoc      = "assoc"
	ubusDisassoc   = "disassoc"
	ubusAuthorized = "sta-authorized"
)

// ParseAction reads the arguments hostapd_cli -a passes its action
// script: $1 interface, $2 event, $3 station MAC, then event-specific
// words (ip_addr=, keyid=, ...) that are ignored. hostapd_cli calls the
// script for every control event; ok is false, with no error, for events
// other than AP-STA-CONNECTED and AP-STA-DISCONNECTED.
func ParseAction(args []string) (ev Event, ok bool, err error) {
	if len(args) < 2 {
		return Event{}, false, fmt.Errorf("%w: action needs <ifname> <event> <mac>, got %d arguments", ErrSyntax, len(args))
	}
	switch args[1] {
	case eventConnected:
		ev.Kind = Connected
	case eventDisconnected:
		ev.Kind = Disconnected
	default:
		return Event{}, false, nil
	}
	if len(args) < 3 {
		return Event{}, false, fmt.Errorf("%w: %s without a station address", ErrSyntax, args[1])
	}
	if err := checkInterface(args[0]); err != nil {
		return Event{}, false, err
	}
	if ev.MAC, err = parseMAC(args[2]); err != nil {
		return Event{}, false, err
	}
	ev.Interface = args[0]
	ev.Source = SourceAction
	return ev, true, nil
}

// ParseStaInfo reads the output of `hostapd_cli -i IF sta MAC` and
// returns the station's 802.1X identity (field dot1xAuthSessionUserName;
// empty when the BSS does not use 802.1X). The first line is the station
// address and must be mac; hostapd prints "FAIL" or nothing for a station
// it does not know, which gives ErrNoStation.
func ParseStaInfo(out []byte, mac net.HardwareAddr) (string, error) {
	st, err := ParseStation(out, mac)
	return st.Identity, err
}

// Station is what hostapd tells of one associated station.
type Station struct {
	// Identity is the 802.1X identity (dot1xAuthSessionUserName), ""
	// when the BSS does not use 802.1X.
	Identity string
	// Authorized: the station's port is authorized (flags [AUTHORIZED]:
	// 802.1X and the 4-way handshake done), so Identity is final.
	Authorized bool
	// AKM is the station's AKM suite selector (AKMSuiteSelector, e.g.
	// 00-0f-ac-1 WPA-EAP, 00-0f-ac-3 FT-EAP, IEEE 802.11 9.4.2.24.3),
	// "" on an open BSS.
	AKM string
}

// ParseStation reads hostapd's answer to STA MAC (what `hostapd_cli sta
// MAC` prints) as ParseStaInfo does, with the authorization flag.
func ParseStation(out []byte, mac net.HardwareAddr) (Station, error) {
	st, err := parseStationEntry(out)
	if err != nil {
		if errors.Is(err, ErrNoStation) {
			return Station{}, fmt.Errorf("%w: %v", ErrNoStation, mac)
		}
		return Station{}, err
	}
	if !bytes.Equal(st.MAC, mac) {
		return Station{}, fmt.Errorf("%w: sta output is for %v, asked for %v", ErrSyntax, st.MAC, mac)
	}
	return st.Station, nil
}

// noIdentity are the values hostapd prints for dot1xAuthSessionUserName
// when it knows no identity: "N/A" (hostapd 2.10 after a fast
// reassociation, measured in the QEMU tier), "(null)" (a NULL identity
// through printf on C libraries that print one so).
var noIdentity = map[string]bool{"N/A": true, "(null)": true}

// maxAKMLen bounds the AKM selector kept: "00-0f-ac-18" is 11 octets.
const maxAKMLen = 32

// parseStationEntry reads one station of hostapd's table (the answer to
// STA, STA-FIRST or STA-NEXT), whose first line is its address.
func parseStationEntry(out []byte) (ListedStation, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	first := true
	var st ListedStation
	found, flags, akm := false, false, false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			if strings.TrimSpace(line) == "" {
				continue
			}
			first = false
			got, err := net.ParseMAC(strings.TrimSpace(line))
			if err != nil {
				if strings.HasPrefix(line, "FAIL") {
					return ListedStation{}, ErrNoStation
				}
				return ListedStation{}, fmt.Errorf("%w: sta output starts with %q, not a station address", ErrSyntax, line)
			}
			if err := checkMAC(got); err != nil {
				return ListedStation{}, fmt.Errorf("%w: sta output: %v", ErrSyntax, err)
			}
			st.MAC = got
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		switch {
		case !ok:
		case key == "flags" && !flags:
			flags = true
			st.Authorized = strings.Contains(value, "[AUTHORIZED]")
		case key == "dot1xAuthSessionUserName" && !found:
			found = true
			st.Identity = value
			if noIdentity[value] {
				// hostapd prints a placeholder when its EAPOL state
				// machine holds no identity: seen as "N/A" after an
				// FT or PMKSA-cache (re)association (hostapd 2.10,
				// docs/handover.md 5.4). It is nobody's NAI.
				st.Identity = ""
			}
		case key == "AKMSuiteSelector" && !akm:
			akm = true
			if len(value) <= maxAKMLen && !strings.ContainsFunc(value, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
				st.AKM = value
			}
		}
	}
	if err := sc.Err(); err != nil {
		return ListedStation{}, fmt.Errorf("%w: sta output: %v", ErrSyntax, err)
	}
	if first {
		return ListedStation{}, fmt.Errorf("%w (empty sta output)", ErrNoStation)
	}
	if err := checkIdentity(st.Identity); err != nil {
		return ListedStation{}, err
	}
	return st, nil
}

// ParseUbusLine reads one line printed by `ubus subscribe hostapd.IF`,
// which has the form
//
//	{ "assoc": {"address":"42:48:16:6b:83:ee","target":...,"signal":-36,"freq":5745} }
//	{ "disassoc": {"address":"42:48:16:6b:83:ee"} }
//	{ "sta-authorized": {"address":"42:48:16:6b:83:ee","auth-alg":"open","ifname":"wlan0"} }
//
// ifname is the interface of the subscribed object; a notification's own
// "ifname" member, when present, takes precedence. ok is false, with no
// error, for blank lines and for notification types other than assoc,
// disassoc and sta-authorized (probe, auth, beacon-report ...).
func ParseUbusLine(ifname string, line []byte) (ev Event, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Event{}, false, nil
	}
	var outer map[string]json.RawMessage
	if err := strictJSON(line, &outer); err != nil {
		return Event{}, false, fmt.Errorf("%w: ubus line: %v", ErrSyntax, err)
	}
	if len(outer) != 1 {
		return Event{}, false, fmt.Errorf("%w: ubus line has %d notifications, want 1", ErrSyntax, len(outer))
	}
	var typ string
	var body json.RawMessage
	for typ, body = range outer {
	}
	switch typ {
	case ubusAssoc:
		ev.Kind = Connected
	case ubusDisassoc:
		ev.Kind = Disconnected
	case ubusAuthorized:
		ev.Kind = Authorized
	default:
		return Event{}, false, nil
	}
	var b struct {
		Address *string `json:"address"`
		Ifname  *string `json:"ifname"`
	}
	if err := strictJSON(body, &b); err != nil {
		return Event{}, false, fmt.Errorf("%w: ubus %s: %v", ErrSyntax, typ, err)
	}
	if b.Address == nil {
		return Event{}, false, fmt.Errorf("%w: ubus %s without an address", ErrSyntax, typ)
	}
	if b.Ifname != nil {
		ifname = *b.Ifname
	}
	if err := checkInterface(ifname); err != nil {
		return Event{}, false, err
	}
	if ev.MAC, err = parseMAC(*b.Address); err != nil {
		return Event{}, false, err
	}
	ev.Interface = ifname
	ev.Source = SourceUbus
	return ev, true, nil
}

// strictJSON decodes exactly one JSON value into v, refusing trailing data.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
