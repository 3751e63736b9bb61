// Package hostapd turns hostapd's station events into attach and detach
// events for the MAG (issue 4, "Attach and detach detection").
//
//	hostapd ctrl socket ◄─ATTACH/PING/STA─► Monitor (in the MAG; monitor.go) ────────────────┐
//	hostapd ──► hostapd_cli -a pmip-hostapd-action ──► pmip-mag hook action IF EVENT MAC ─┐  │
//	hostapd ──► ubus subscribe hostapd.IF | pmip-mag hook ubus IF ─────────────────────────┤  │
//	                                                  one datagram per Event (wire.go)    │  │
//	                                                                                      ▼  ▼
//	                                    MAG engine ◄── Listener (unix datagram socket) ◄──┘ Event
//
// The Monitor is the default path (pmip-mag's hostapd_hook 'ctrl'): no
// process per event, and it alone sees the EAP events from which
// HandoffHints tells a fast reassociation (Event.FastReassoc,
// docs/handover.md 5.3). The hook side runs inside the MAG binary
// (RunHook), so the scripts in hostapd-hooks/ hold no logic and need no
// nc(1) with unix socket support, which busybox often lacks. The parsers here are the only code that reads
// what hostapd prints; everything they return is validated (interface
// name, unicast MAC, identity) so the engine can trust an Event.
package hostapd

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is what happened to a station.
type Kind uint8

// Kinds of station events.
const (
	// Connected: from hostapd_cli (AP-STA-CONNECTED), the station is
	// associated and its port authorized (802.1X and the 4-way handshake
	// done), so the identity is known. From ubus ("assoc"), the station
	// has only associated: on a WPA/802.1X BSS it is not yet authorized
	// and an Authorized event with the identity follows. An engine that
	// wants the identity as the MN-ID registers on Authorized there.
	Connected Kind = iota + 1
	// Disconnected: the station left (AP-STA-DISCONNECTED, ubus "disassoc").
	Disconnected
	// Authorized: the station's port was authorized (ubus
	// "sta-authorized"); its 802.1X identity, if any, is now known.
	Authorized
)

var kindNames = [...]string{Connected: "connected", Disconnected: "disconnected", Authorized: "authorized"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

func parseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// Source is where an event came from.
type Source uint8

// Sources of station events.
const (
	// SourceAction is a hostapd_cli -a action script invocation.
	SourceAction Source = iota + 1
	// SourceUbus is an OpenWrt `ubus subscribe hostapd.IF` notification.
	SourceUbus
	// SourceCtrl is the MAG's own Monitor on hostapd's control socket
	// (ATTACH): like SourceAction, Connected comes after 802.1X and the
	// 4-way handshake, with the identity.
	SourceCtrl
)

var sourceNames = [...]string{SourceAction: "action", SourceUbus: "ubus", SourceCtrl: "ctrl"}

func (s Source) String() string {
	if int(s) < len(sourceNames) && sourceNames[s] != "" {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

func parseSource(s string) (Source, bool) {
	for k, n := range sourceNames {
		if n != "" && n == s {
			return Source(k), true
		}
	}
	return 0, false
}

// Event is one station event on one access interface.
type Event struct {
	Kind      Kind
	Interface string           // the hostapd BSS interface, e.g. wlan0
	MAC       net.HardwareAddr // the station, 6 octets, unicast
	// Identity is the station's 802.1X identity (hostapd's
	// dot1xAuthSessionUserName), an NAI the MAG uses as the Mobile Node
	// Identifier (RFC 4283, RFC 5213 6.9.1.1); empty when unknown (open
	// or PSK networks, or a Disconnected event).
	Identity string
	Source   Source
	// FastReassoc: a Connected station ran no EAP at this BSS since its
	// previous connection or disconnection here (an 802.11r FT or
	// PMKSA-cache reassociation): it was authenticated in this ESS a
	// moment ago and moves between MAGs (HandoffHints, docs/handover.md
	// 5.3). Only a source that sees the EAP events can tell (SourceCtrl).
	FastReassoc bool
	// Seen is when the Monitor read hostapd's event datagram, Query how
	// long its STA <mac> query for the identity then took (a Connected
	// event); zero from other sources. The MAG reports them with the
	// registration's steps (issue 5: a handover's time). Not carried by
	// the wire format.
	Seen  time.Time
	Query time.Duration
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s on %s via %s", e.Kind, e.MAC, e.Interface, e.Source)
	if e.Identity != "" {
		s += fmt.Sprintf(" identity %q", e.Identity)
	}
	if e.FastReassoc {
		s += " fast reassociation"
	}
	return s
}

// Errors of this package, wrapped with context by every parser.
var (
	ErrSyntax    = errors.New("hostapd: malformed input")
	ErrInterface = errors.New("hostapd: bad interface name")
	ErrMAC       = errors.New("hostapd: bad station MAC address")
	ErrIdentity  = errors.New("hostapd: bad identity")
	ErrNoStation = errors.New("hostapd: station not known to hostapd")
)

// MaxIdentityLen is the longest identity accepted: an NAI is at most 253
// octets (RFC 7542 2.2), which also fits the Mobile Node Identifier option
// (RFC 4283 3: 8-bit length including the subtype octet).
const MaxIdentityLen = 253

// Validate reports whether e is complete and well-formed.
func (e Event) Validate() error {
	if e.Kind < Connected || e.Kind > Authorized {
		return fmt.Errorf("%w: unknown kind %d", ErrSyntax, e.Kind)
	}
	if e.Source < SourceAction || e.Source > SourceCtrl {
		return fmt.Errorf("%w: unknown source %d", ErrSyntax, e.Source)
	}
	if e.FastReassoc && e.Kind != Connected {
		return fmt.Errorf("%w: fast reassociation on a %s event", ErrSyntax, e.Kind)
	}
	if err := checkInterface(e.Interface); err != nil {
		return err
	}
	if err := checkMAC(e.MAC); err != nil {
		return err
	}
	return checkIdentity(e.Identity)
}

// checkInterface applies the kernel's rules for interface names
// (dev_valid_name): 1 to 15 octets, not "." or "..", no '/', ':' or
// white space.
func checkInterface(s string) error {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return fmt.Errorf("%w: %q", ErrInterface, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == ':' || c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: %q", ErrInterface, s)
		}
	}
	return nil
}

// parseMAC reads a station address: exactly six octets, unicast, not zero.
func parseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrMAC, s)
	}
	if err := checkMAC(mac); err != nil {
		return nil, err
	}
	return mac, nil
}

func checkMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("%w: %v is not 6 octets", ErrMAC, mac)
	}
	if mac[0]&1 != 0 {
		return fmt.Errorf("%w: %v is a group address", ErrMAC, mac)
	}
	if mac[0]|mac[1]|mac[2]|mac[3]|mac[4]|mac[5] == 0 {
		return fmt.Errorf("%w: %v is zero", ErrMAC, mac)
	}
	return nil
}

// checkIdentity accepts an NAI-like identity: UTF-8 (RFC 7542 2.2), at
// most MaxIdentityLen octets, no control characters (they would break the
// line-based wire format and logs). Empty means unknown.
func checkIdentity(s string) error {
	if len(s) > MaxIdentityLen {
		return fmt.Errorf("%w: %d octets, at most %d", ErrIdentity, len(s), MaxIdentityLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not UTF-8", ErrIdentity)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return fmt.Errorf("%w: %q has control characters", ErrIdentity, s)
	}
	return nil
}
