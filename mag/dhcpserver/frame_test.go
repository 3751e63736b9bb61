package dhcpserver

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// goldenFrame is an OFFER-sized frame built by hand: Ethernet to
// 02:11:22:33:44:55 from 02:00:5e:00:00:01, IPv4 10.20.0.1 -> 10.20.0.17
// (TOS 0xc0, DF, TTL 64, checksum 0x25d3), UDP 67 -> 68 carrying "hello"
// (checksum 0xa741, computed independently with a pseudo-header).
const goldenFrame = "021122334455" + "02005e000001" + "0800" +
	"45c00021" + "00004000" + "4011" + "25d3" + "0a140001" + "0a140011" +
	"00430044" + "000d" + "a741" + "68656c6c6f"

func TestAppendUDPFrameGolden(t *testing.T) {
	want, err := hex.DecodeString(goldenFrame)
	if err != nil {
		t.Fatal(err)
	}
	got := appendUDPFrame(nil, mac{2, 0, 0x5e, 0, 0, 1}, mac{2, 0x11, 0x22, 0x33, 0x44, 0x55},
		netip.MustParseAddr("10.20.0.1"), netip.MustParseAddr("10.20.0.17"), 67, 68, []byte("hello"))
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n got %x\nwant %x", got, want)
	}
}

func TestParseUDPFrame(t *testing.T) {
	// A client frame: 0.0.0.0:68 -> 255.255.255.255:67, with two bytes
	// of Ethernet padding that the parser must cut off.
	src := mac{2, 0x11, 0x22, 0x33, 0x44, 0x55}
	b := appendUDPFrame(nil, src, broadcastMAC, netip.IPv4Unspecified(),
		netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, []byte("dhcp!"))
	b = append(b, 0, 0)
	f, err := parseUDPFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.srcMAC != src || f.dstMAC != broadcastMAC || f.srcIP != netip.IPv4Unspecified() ||
		f.dstIP.String() != "255.255.255.255" || string(f.payload) != "dhcp!" {
		t.Errorf("parsed %+v", f)
	}

	// Zero UDP checksum: not computed, accepted (RFC 768).
	nock := bytes.Clone(b)
	nock[14+20+6], nock[14+20+7] = 0, 0
	if _, err := parseUDPFrame(nock); err != nil {
		t.Errorf("zero udp checksum: %v", err)
	}

	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", b[:10], io.ErrUnexpectedEOF},
		{"short ip", b[:20], io.ErrUnexpectedEOF},
		{"short udp", fixLen(b[:14+20+4], 24), io.ErrUnexpectedEOF},
		{"ip checksum", flip(b, 14+11), errBadChecksum},
		{"udp checksum", flip(b, 14+20+9), errBadChecksum},
		{"version", set(b, 14, 0x65), errBadIPHeader},
		{"not ipv4", set(b, 12, 0x86), errNotIPv4},
	} {
		if _, err := parseUDPFrame(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func flip(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0xff; return c }
func set(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

// fixLen rewrites the IPv4 total length and header checksum.
func fixLen(b []byte, total int) []byte {
	c := bytes.Clone(b)
	ip := c[etherHeaderLen:]
	ip[2], ip[3] = byte(total>>8), byte(total)
	ip[10], ip[11] = 0, 0
	ck := checksum(ip[:ipv4HeaderLen], 0)
	ip[10], ip[11] = byte(ck>>8), byte(ck)
	return c
}

func TestChecksumRFC1071(t *testing.T) {
	// RFC 1071 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	if got := checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0); got != ^uint16(0xddf2) {
		t.Errorf("checksum %#x, want %#x", got, ^uint16(0xddf2))
	}
}

func TestMACString(t *testing.T) {
	if got := (mac{0x02, 0xab, 0, 0x10, 0xff, 1}).String(); got != "02:ab:00:10:ff:01" {
		t.Errorf("got %s", got)
	}
}

func TestLastAddr(t *testing.T) {
	for in, want := range map[string]string{"10.20.0.17/24": "10.20.0.255", "10.0.0.1/8": "10.255.255.255", "192.0.2.4/31": "192.0.2.5"} {
		if got := lastAddr(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLeaseValidateMessages(t *testing.T) {
	l := Lease{Addr: netip.MustParsePrefix("10.0.0.5/24"), Router: netip.MustParseAddr("10.0.1.1"), Lifetime: time.Hour}
	err := l.validate()
	if !errors.Is(err, errBadLease) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("got %v", err)
	}
}
