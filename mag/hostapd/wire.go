package hostapd

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The hook-to-MAG wire format: one Event per unix datagram, UTF-8 text,
// lines ended by "\n", a version line first, then key=value lines:
//
//	pmip-hostapd 1
//	kind=connected            connected | disconnected | authorized
//	ifname=wlan0              the hostapd BSS interface
//	mac=02:00:00:00:01:00     the station
//	source=action             action | ubus | ctrl
//	identity=alice@example.org   optional: the 802.1X identity
//	fast_reassoc=1            optional, connected only: Event.FastReassoc
//
// Values run to the end of their line and never hold control characters
// (Event.Validate). A receiver of version 1 ignores keys it does not know,
// so later version-1 senders may add optional keys; a change that old
// receivers must not misread takes a new version number, which they
// refuse. A datagram is at most MaxDatagram octets.
const (
	wireMagic   = "pmip-hostapd"
	wireVersion = 1
	// MaxDatagram bounds one encoded event (the longest valid one is
	// well under 400 octets).
	MaxDatagram = 1024
)

// MarshalEvent encodes a valid event for the wire.
func MarshalEvent(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d\n", wireMagic, wireVersion)
	fmt.Fprintf(&b, "kind=%s\nifname=%s\nmac=%s\nsource=%s\n", e.Kind, e.Interface, e.MAC, e.Source)
	if e.Identity != "" {
		fmt.Fprintf(&b, "identity=%s\n", e.Identity)
	}
	if e.FastReassoc {
		b.WriteString("fast_reassoc=1\n")
	}
	return b.Bytes(), nil
}

// UnmarshalEvent decodes and validates one datagram.
func UnmarshalEvent(b []byte) (Event, error) {
	if len(b) > MaxDatagram {
		return Event{}, fmt.Errorf("%w: datagram of %d octets, at most %d", ErrSyntax, len(b), MaxDatagram)
	}
	s := string(b)
	s, _ = strings.CutSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	rest, ok := strings.CutPrefix(lines[0], wireMagic+" ")
	version, err := strconv.Atoi(rest)
	if !ok || err != nil || strconv.Itoa(version) != rest {
		return Event{}, fmt.Errorf("%w: first line %q is not %q", ErrSyntax, lines[0], fmt.Sprintf("%s %d", wireMagic, wireVersion))
	}
	if version != wireVersion {
		return Event{}, fmt.Errorf("%w: wire version %d, this MAG speaks %d", ErrSyntax, version, wireVersion)
	}
	var e Event
	seen := make(map[string]bool, 5)
	for i, line := range lines[1:] {
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			return Event{}, fmt.Errorf("%w: line %d %q is not key=value", ErrSyntax, i+2, line)
		}
		if seen[key] {
			return Event{}, fmt.Errorf("%w: key %q repeated", ErrSyntax, key)
		}
		seen[key] = true
		switch key {
		case "kind":
			k, ok := parseKind(value)
			if !ok {
				return Event{}, fmt.Errorf("%w: kind %q", ErrSyntax, value)
			}
			e.Kind = k
		case "ifname":
			e.Interface = value
		case "mac":
			mac, err := parseMAC(value)
			if err != nil {
				return Event{}, err
			}
			e.MAC = mac
		case "source":
			src, ok := parseSource(value)
			if !ok {
				return Event{}, fmt.Errorf("%w: source %q", ErrSyntax, value)
			}
			e.Source = src
		case "identity":
			e.Identity = value
		case "fast_reassoc":
			if value != "0" && value != "1" {
				return Event{}, fmt.Errorf("%w: fast_reassoc %q, want 0 or 1", ErrSyntax, value)
			}
			e.FastReassoc = value == "1"
		}
	}
	for _, k := range []string{"kind", "ifname", "mac", "source"} {
		if !seen[k] {
			return Event{}, fmt.Errorf("%w: %s missing", ErrSyntax, k)
		}
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}
