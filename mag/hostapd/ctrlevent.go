package hostapd

import (
	"bytes"
	"fmt"
	"net"
	"unicode/utf8"
)

// Names of the control-interface events the monitor acts on (hostapd
// src/common/wpa_ctrl.h: AP_STA_CONNECTED, AP_STA_DISCONNECTED,
// WPA_EVENT_EAP_STARTED, WPA_EVENT_EAP_SUCCESS, and the
// EAPOL-4WAY-HS-COMPLETED of src/ap/wpa_auth_glue.c). Each names the
// station's address as its first word.
const (
	CtrlEventConnected    = eventConnected
	CtrlEventDisconnected = eventDisconnected
	CtrlEventEAPStarted   = "CTRL-EVENT-EAP-STARTED"
	CtrlEventEAPSuccess   = "CTRL-EVENT-EAP-SUCCESS"
	CtrlEvent4WayDone     = "EAPOL-4WAY-HS-COMPLETED"
)

// CtrlEvent is one unsolicited message of hostapd's control interface
// to an attached monitor: "<level>NAME [ARGS]", e.g.
// "<3>AP-STA-CONNECTED 02:00:00:00:02:00 keyid=x".
type CtrlEvent struct {
	Level int    // hostapd's message level (MSG_INFO is 3)
	Name  string // AP-STA-CONNECTED ...
	// MAC is the first argument when it is a unicast station address,
	// nil otherwise (events about no station, e.g. AP-ENABLED or
	// CTRL-EVENT-EAP-PROPOSED-METHOD).
	MAC net.HardwareAddr
	// Args is what follows the name, as sent (printable ASCII and
	// UTF-8; without trailing white space).
	Args string
}

// maxCtrlEvent bounds one event datagram: hostapd formats events in a
// 4096-octet buffer (wpa_msg).
const maxCtrlEvent = ctrlReplyMax

// ParseCtrlEvent reads one event datagram. It fails (ErrSyntax) on
// anything that is not "<digit>NAME ...": replies to commands ("OK",
// "PONG", "FAIL") are not events. A datagram of the global control
// interface carries an "IFNAME=<ifname> " prefix, which is skipped; the
// per-BSS sockets the monitor attaches to send none.
func ParseCtrlEvent(b []byte) (CtrlEvent, error) {
	if len(b) > maxCtrlEvent {
		return CtrlEvent{}, fmt.Errorf("%w: event of %d octets, at most %d", ErrSyntax, len(b), maxCtrlEvent)
	}
	if rest, ok := bytes.CutPrefix(b, []byte("IFNAME=")); ok {
		_, after, found := bytes.Cut(rest, []byte(" "))
		if !found {
			return CtrlEvent{}, fmt.Errorf("%w: IFNAME= prefix without an event", ErrSyntax)
		}
		b = after
	}
	b = bytes.TrimRight(b, " \t\r\n\x00")
	if len(b) < 4 || b[0] != '<' || b[1] < '0' || b[1] > '9' || b[2] != '>' {
		return CtrlEvent{}, fmt.Errorf("%w: %q is not a <level>EVENT datagram", ErrSyntax, clip(b))
	}
	if !utf8.Valid(b) || bytes.ContainsFunc(b, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
		return CtrlEvent{}, fmt.Errorf("%w: event %q has control characters or is not UTF-8", ErrSyntax, clip(b))
	}
	ev := CtrlEvent{Level: int(b[1] - '0')}
	name, args, _ := bytes.Cut(b[3:], []byte(" "))
	if len(name) == 0 {
		return CtrlEvent{}, fmt.Errorf("%w: event without a name", ErrSyntax)
	}
	ev.Name, ev.Args = string(name), string(args)
	first, _, _ := bytes.Cut(args, []byte(" "))
	if len(first) == 17 { // "xx:xx:xx:xx:xx:xx": hostapd's MACSTR
		if mac, err := net.ParseMAC(string(first)); err == nil && checkMAC(mac) == nil {
			ev.MAC = mac
		}
	}
	return ev, nil
}

// StationEvent reports whether the event is one of those that name a
// station (CtrlEventConnected ...), with a valid station address.
func (ev CtrlEvent) StationEvent() bool {
	return ev.MAC != nil && isStationEventName(ev.Name)
}

func isStationEventName(name string) bool {
	switch name {
	case CtrlEventConnected, CtrlEventDisconnected, CtrlEventEAPStarted, CtrlEventEAPSuccess, CtrlEvent4WayDone:
		return true
	}
	return false
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
