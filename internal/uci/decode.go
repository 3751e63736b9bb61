package uci

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decoder reads typed values out of one section and collects every problem
// it finds, so an operator sees all mistakes of a file at once. Each
// accessor marks its option as known; Err then also reports the options
// nobody asked for, with a did-you-mean among the known ones.
//
// Accessors return the default when the option is absent and the zero
// value (after recording an error) when it is malformed.
type Decoder struct {
	sec   *Section
	known []string
	errs  []error
}

// NewDecoder starts decoding s.
func NewDecoder(s *Section) *Decoder { return &Decoder{sec: s} }

// Section is the section being decoded.
func (d *Decoder) Section() *Section { return d.sec }

// Errorf records an error at option name's line (the section's line if
// the option is absent), prefixed "option <name>: ".
func (d *Decoder) Errorf(name, format string, args ...any) {
	d.errs = append(d.errs, d.sec.OptionErrorf(name, format, args...))
}

// SectionErrorf records an error at the section's line.
func (d *Decoder) SectionErrorf(format string, args ...any) {
	d.errs = append(d.errs, d.sec.Errorf(format, args...))
}

// Has reports whether option name is present, and marks it known.
func (d *Decoder) Has(name string) bool {
	d.mark(name)
	return d.sec.Option(name) != nil
}

// Require records an error for each of names that is absent.
func (d *Decoder) Require(names ...string) {
	for _, n := range names {
		if !d.Has(n) {
			d.SectionErrorf("%s needs option %s", d.sec, n)
		}
	}
}

func (d *Decoder) mark(name string) {
	if !slices.Contains(d.known, name) {
		d.known = append(d.known, name)
	}
}

// scalar returns the value of a single-valued option and its line.
func (d *Decoder) scalar(name string) (string, int, bool) {
	d.mark(name)
	o := d.sec.Option(name)
	if o == nil {
		return "", 0, false
	}
	if o.List {
		d.errs = append(d.errs, &Error{Path: d.sec.Path(), Line: o.Line(),
			Msg: fmt.Sprintf("option %s takes one value: write `option %s '...'`, not list", name, name)})
		return "", 0, false
	}
	return o.Values[0], o.Line(), true
}

// values returns every value of a list option with its line. A single
// `option` is accepted as a one-element list, as OpenWrt's own daemons do.
func (d *Decoder) values(name string) ([]string, []int) {
	d.mark(name)
	o := d.sec.Option(name)
	if o == nil {
		return nil, nil
	}
	return o.Values, o.Lines
}

func (d *Decoder) bad(line int, name, format string, args ...any) {
	d.errs = append(d.errs, &Error{Path: d.sec.Path(), Line: line,
		Msg: "option " + name + ": " + fmt.Sprintf(format, args...)})
}

// String returns the option's text.
func (d *Decoder) String(name, def string) string {
	v, _, ok := d.scalar(name)
	if !ok {
		return def
	}
	return v
}

// Enum returns the option's text, which must be one of allowed.
func (d *Decoder) Enum(name, def string, allowed ...string) string {
	v, line, ok := d.scalar(name)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		d.bad(line, name, "%q is not one of %s%s", v, strings.Join(allowed, ", "), didYouMean(v, allowed))
		return def
	}
	return v
}

// Enums returns the list's values, each of which must be one of allowed.
// Repeated values are errors.
func (d *Decoder) Enums(name string, allowed ...string) []string {
	vals, lines := d.values(name)
	var out []string
	for i, v := range vals {
		switch {
		case !slices.Contains(allowed, v):
			d.bad(lines[i], name, "%q is not one of %s%s", v, strings.Join(allowed, ", "), didYouMean(v, allowed))
		case slices.Contains(out, v):
			d.bad(lines[i], name, "%q is listed twice", v)
		default:
			out = append(out, v)
		}
	}
	return out
}

// Strings returns the list's values.
func (d *Decoder) Strings(name string) []string {
	vals, _ := d.values(name)
	return slices.Clone(vals)
}

// ParseBool reads a boolean as OpenWrt's config_get_bool does.
func ParseBool(s string) (bool, bool) {
	switch s {
	case "1", "on", "true", "yes", "enabled":
		return true, true
	case "0", "off", "false", "no", "disabled":
		return false, true
	}
	return false, false
}

// Bool returns the option as a boolean (1/0, yes/no, on/off, true/false,
// enabled/disabled, as OpenWrt's config_get_bool reads them).
func (d *Decoder) Bool(name string, def bool) bool {
	v, line, ok := d.scalar(name)
	if !ok {
		return def
	}
	b, ok := ParseBool(v)
	if !ok {
		d.bad(line, name, "%q is not a boolean (use 1 or 0)", v)
		return def
	}
	return b
}

// Int returns the option as a decimal integer in [min, max].
func (d *Decoder) Int(name string, def, min, max int64) int64 {
	v, line, ok := d.scalar(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		d.bad(line, name, "%q is not a number", v)
		return def
	}
	if n < min || n > max {
		d.bad(line, name, "%d is out of range [%d, %d]", n, min, max)
		return def
	}
	return n
}

// Seconds returns the option, a whole number of seconds, as a duration in
// [min, max].
func (d *Decoder) Seconds(name string, def, min, max time.Duration) time.Duration {
	return d.duration(name, def, min, max, time.Second, "seconds")
}

// Milliseconds returns the option, a whole number of milliseconds, as a
// duration in [min, max].
func (d *Decoder) Milliseconds(name string, def, min, max time.Duration) time.Duration {
	return d.duration(name, def, min, max, time.Millisecond, "milliseconds")
}

func (d *Decoder) duration(name string, def, min, max, unit time.Duration, units string) time.Duration {
	v, line, ok := d.scalar(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		d.bad(line, name, "%q is not a number of %s", v, units)
		return def
	}
	if err != nil || n < int64(min/unit) || n > int64(max/unit) {
		d.bad(line, name, "%s %s is out of range [%d, %d]", v, units, min/unit, max/unit)
		return def
	}
	t := time.Duration(n) * unit
	if t < min || t > max {
		d.bad(line, name, "%d %s is out of range [%d, %d]", n, units, min/unit, max/unit)
		return def
	}
	return t
}

// Family restricts the addresses an accessor accepts.
type Family int

const (
	AnyFamily Family = iota
	IPv4
	IPv6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "IP"
}

func (f Family) match(a netip.Addr) bool {
	switch f {
	case IPv4:
		return a.Is4()
	case IPv6:
		return a.Is6() && !a.Is4In6()
	}
	return a.Is4() || a.Is6() && !a.Is4In6()
}

func (d *Decoder) parseAddr(name string, line int, v string, fam Family) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || !fam.match(a) {
		d.bad(line, name, "%q is not an %s address", v, fam)
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		d.bad(line, name, "%q: zones are not allowed here", v)
		return netip.Addr{}, false
	}
	return a, true
}

// Addr returns the option as an address of family fam, the zero Addr if
// absent.
func (d *Decoder) Addr(name string, fam Family) netip.Addr {
	v, line, ok := d.scalar(name)
	if !ok {
		return netip.Addr{}
	}
	a, _ := d.parseAddr(name, line, v, fam)
	return a
}

// Addrs returns the list as addresses of family fam. Repeats are errors.
func (d *Decoder) Addrs(name string, fam Family) []netip.Addr {
	vals, lines := d.values(name)
	var out []netip.Addr
	for i, v := range vals {
		a, ok := d.parseAddr(name, lines[i], v, fam)
		if !ok {
			continue
		}
		if slices.Contains(out, a) {
			d.bad(lines[i], name, "%s is listed twice", a)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (d *Decoder) parsePrefix(name string, line int, v string, fam Family) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(v)
	if err != nil || !fam.match(p.Addr()) {
		d.bad(line, name, "%q is not an %s prefix (address/length)", v, fam)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		d.bad(line, name, "%s has host bits set (did you mean %s?)", v, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

// Prefix returns the option as a prefix of family fam with no host bits
// set, the zero Prefix if absent.
func (d *Decoder) Prefix(name string, fam Family) netip.Prefix {
	v, line, ok := d.scalar(name)
	if !ok {
		return netip.Prefix{}
	}
	p, _ := d.parsePrefix(name, line, v, fam)
	return p
}

// Prefixes returns the list as prefixes of family fam. Repeats are errors.
func (d *Decoder) Prefixes(name string, fam Family) []netip.Prefix {
	vals, lines := d.values(name)
	var out []netip.Prefix
	for i, v := range vals {
		p, ok := d.parsePrefix(name, lines[i], v, fam)
		if !ok {
			continue
		}
		if slices.Contains(out, p) {
			d.bad(lines[i], name, "%s is listed twice", p)
			continue
		}
		out = append(out, p)
	}
	return out
}

// AddrPrefix returns the option as an address with a prefix length
// ("192.0.2.10/24"): host bits are the point, so they are kept.
func (d *Decoder) AddrPrefix(name string, fam Family) netip.Prefix {
	v, line, ok := d.scalar(name)
	if !ok {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !fam.match(p.Addr()) {
		d.bad(line, name, "%q is not an %s address with a prefix length (address/length)", v, fam)
		return netip.Prefix{}
	}
	return p
}

// ParseMAC parses an EUI-48 written aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff.
func ParseMAC(s string) (net.HardwareAddr, bool) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 || strings.Contains(s, ".") {
		return nil, false
	}
	return mac, true
}

// MAC returns the option as an EUI-48 (aa:bb:cc:dd:ee:ff), nil if absent.
func (d *Decoder) MAC(name string) net.HardwareAddr {
	v, line, ok := d.scalar(name)
	if !ok {
		return nil
	}
	mac, ok := ParseMAC(v)
	if !ok {
		d.bad(line, name, "%q is not a MAC address (aa:bb:cc:dd:ee:ff)", v)
		return nil
	}
	return mac
}

// Err reports every error recorded so far plus one for each option of the
// section no accessor asked for, sorted by line, joined with errors.Join.
// It returns nil when the section is clean.
func (d *Decoder) Err() error {
	errs := slices.Clone(d.errs)
	for _, o := range d.sec.Options {
		if slices.Contains(d.known, o.Name) {
			continue
		}
		msg := fmt.Sprintf("unknown option %s in %s", o.Name, d.sec)
		if sug := Suggest(o.Name, d.known); sug != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", sug)
		}
		errs = append(errs, &Error{Path: d.sec.Path(), Line: o.Line(), Msg: msg})
	}
	SortErrors(errs)
	return errors.Join(errs...)
}

// SortErrors orders errors by file and line (*Error first, stable).
func SortErrors(errs []error) {
	slices.SortStableFunc(errs, func(a, b error) int {
		var ea, eb *Error
		if !errors.As(a, &ea) || !errors.As(b, &eb) {
			return 0
		}
		if c := strings.Compare(ea.Path, eb.Path); c != 0 {
			return c
		}
		return ea.Line - eb.Line
	})
}

func didYouMean(v string, allowed []string) string {
	if s := Suggest(v, allowed); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
