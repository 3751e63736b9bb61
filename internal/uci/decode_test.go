package uci

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func section(t *testing.T, body string) *Section {
	t.Helper()
	f, err := Parse("/etc/pmip/lma.conf", []byte("config lma 'main'\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	return f.Sections[0]
}

func TestDecoderValues(t *testing.T) {
	s := section(t, `
	option s 'text'
	option e 'gre'
	option b 'yes'
	option n '42'
	option sec '3600'
	option ms '1500'
	option a6 '2001:db8::1'
	option a4 '192.0.2.1'
	option p '2001:db8:100::/40'
	option ap '192.0.2.10/24'
	option mac '02:00:5E:10:00:01'
	list l 'x'
	list l 'y'
	option single '2001:db8::2'
	list addrs '2001:db8::3'
	list addrs '192.0.2.3'
	list prefixes '10.0.0.0/8'
	list enums 'ip6ip6'
	list enums 'gre'
`)
	d := NewDecoder(s)
	if got := d.String("s", "def"); got != "text" {
		t.Errorf("String = %q", got)
	}
	if got := d.String("absent", "def"); got != "def" {
		t.Errorf("String default = %q", got)
	}
	if got := d.Enum("e", "ip6ip6", "ip6ip6", "gre"); got != "gre" {
		t.Errorf("Enum = %q", got)
	}
	if got := d.Bool("b", false); !got {
		t.Errorf("Bool = %v", got)
	}
	if got := d.Bool("absent_b", true); !got {
		t.Errorf("Bool default = %v", got)
	}
	if got := d.Int("n", 0, 0, 100); got != 42 {
		t.Errorf("Int = %d", got)
	}
	if got := d.Seconds("sec", 0, 0, time.Hour); got != time.Hour {
		t.Errorf("Seconds = %v", got)
	}
	if got := d.Milliseconds("ms", 0, 0, time.Minute); got != 1500*time.Millisecond {
		t.Errorf("Milliseconds = %v", got)
	}
	if got := d.Addr("a6", IPv6); got != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("Addr v6 = %v", got)
	}
	if got := d.Addr("a4", IPv4); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("Addr v4 = %v", got)
	}
	if got := d.Addr("absent_a", IPv4); got.IsValid() {
		t.Errorf("Addr absent = %v", got)
	}
	if got := d.Prefix("p", IPv6); got != netip.MustParsePrefix("2001:db8:100::/40") {
		t.Errorf("Prefix = %v", got)
	}
	if got := d.AddrPrefix("ap", IPv4); got != netip.MustParsePrefix("192.0.2.10/24") {
		t.Errorf("AddrPrefix = %v", got)
	}
	if got := d.MAC("mac").String(); got != "02:00:5e:10:00:01" {
		t.Errorf("MAC = %v", got)
	}
	if diff := cmp.Diff([]string{"x", "y"}, d.Strings("l")); diff != "" {
		t.Errorf("Strings: %s", diff)
	}
	if got := d.Addrs("single", IPv6); len(got) != 1 || got[0] != netip.MustParseAddr("2001:db8::2") {
		t.Errorf("Addrs from a single option = %v", got)
	}
	if got := d.Addrs("addrs", AnyFamily); len(got) != 2 {
		t.Errorf("Addrs = %v", got)
	}
	if got := d.Prefixes("prefixes", IPv4); len(got) != 1 || got[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("Prefixes = %v", got)
	}
	if diff := cmp.Diff([]string{"ip6ip6", "gre"}, d.Enums("enums", "ip6ip6", "gre")); diff != "" {
		t.Errorf("Enums: %s", diff)
	}
	if err := d.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

// Every malformed value gets one error naming the file, the line, the
// option and what is wrong; unknown options get a did-you-mean.
func TestDecoderErrors(t *testing.T) {
	s := section(t, `option lifetime 'abc'
	option timeout '-1'
	option big '99999999999999999999999'
	option count '7'
	option flag 'maybe'
	option mode 'gree'
	option v6 '192.0.2.1'
	option v4 '2001:db8::1'
	option zoned 'fe80::1%eth0'
	option pfx '2001:db8::1/64'
	option pfx4 '10.0.0.0/33'
	option mac '02:00:5e:10:00:01:02:03'
	list single 'a'
	list addrs '2001:db8::1'
	list addrs '2001:db8::1'
	option lma_adress '2001:db8::1'
	option colour 'blue'
	list kinds 'ipv4'
	list kinds 'ipv8'
`)
	d := NewDecoder(s)
	d.Seconds("lifetime", time.Hour, 0, 24*time.Hour)
	d.Milliseconds("timeout", time.Second, 0, time.Minute)
	d.Seconds("big", 0, 0, time.Hour)
	d.Int("count", 1, 1, 5)
	d.Bool("flag", false)
	d.Enum("mode", "ip6ip6", "ip6ip6", "gre")
	d.Addr("v6", IPv6)
	d.Addr("v4", IPv4)
	d.Addr("zoned", IPv6)
	d.Prefix("pfx", IPv6)
	d.Prefix("pfx4", IPv4)
	d.MAC("mac")
	d.String("single", "")
	d.Addrs("addrs", IPv6)
	d.Addr("lma_address", IPv6)
	d.Enums("kinds", "ipv4", "ipv6")
	d.Require("required_thing")
	want := strings.Join([]string{
		`/etc/pmip/lma.conf:1: config lma 'main' needs option required_thing`,
		`/etc/pmip/lma.conf:2: option lifetime: "abc" is not a number of seconds`,
		`/etc/pmip/lma.conf:3: option timeout: -1 milliseconds is out of range [0, 60000]`,
		`/etc/pmip/lma.conf:4: option big: 99999999999999999999999 seconds is out of range [0, 3600]`,
		`/etc/pmip/lma.conf:5: option count: 7 is out of range [1, 5]`,
		`/etc/pmip/lma.conf:6: option flag: "maybe" is not a boolean (use 1 or 0)`,
		`/etc/pmip/lma.conf:7: option mode: "gree" is not one of ip6ip6, gre (did you mean "gre"?)`,
		`/etc/pmip/lma.conf:8: option v6: "192.0.2.1" is not an IPv6 address`,
		`/etc/pmip/lma.conf:9: option v4: "2001:db8::1" is not an IPv4 address`,
		`/etc/pmip/lma.conf:10: option zoned: "fe80::1%eth0": zones are not allowed here`,
		`/etc/pmip/lma.conf:11: option pfx: 2001:db8::1/64 has host bits set (did you mean 2001:db8::/64?)`,
		`/etc/pmip/lma.conf:12: option pfx4: "10.0.0.0/33" is not an IPv4 prefix (address/length)`,
		`/etc/pmip/lma.conf:13: option mac: "02:00:5e:10:00:01:02:03" is not a MAC address (aa:bb:cc:dd:ee:ff)`,
		"/etc/pmip/lma.conf:14: option single takes one value: write `option single '...'`, not list",
		`/etc/pmip/lma.conf:16: option addrs: 2001:db8::1 is listed twice`,
		`/etc/pmip/lma.conf:17: unknown option lma_adress in config lma 'main' (did you mean lma_address?)`,
		`/etc/pmip/lma.conf:18: unknown option colour in config lma 'main'`,
		`/etc/pmip/lma.conf:20: option kinds: "ipv8" is not one of ipv4, ipv6 (did you mean "ipv4"?)`,
	}, "\n")
	err := d.Err()
	if err == nil {
		t.Fatal("Err = nil")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"1": true, "yes": true, "on": true, "true": true, "enabled": true,
		"0": false, "no": false, "off": false, "false": false, "disabled": false} {
		got, ok := ParseBool(in)
		if !ok || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", in, got, ok)
		}
	}
	if _, ok := ParseBool("Yes"); ok {
		t.Error(`ParseBool("Yes") accepted`)
	}
}
