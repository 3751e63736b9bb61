package scenarios

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/mag/magconfig"
)

// These run without QEMU: the configurations the domain writes must pass
// the daemons' own validation, and the capture parser must read what
// tcpdump writes.

func TestConfigsValid(t *testing.T) {
	for _, c := range []Config{{}, {Tunnel: "gre"}, {Transport: "ipv4"}, {Transport: "ipv4", Tunnel: "gre"}} {
		c.defaults()
		aps := apsOf(c.APs)
		if _, err := lmaconfig.Parse("lma.conf", []byte(lmaConfig(c, aps))); err != nil {
			t.Errorf("%+v: LMA config:\n%s\n%v", c, lmaConfig(c, aps), err)
		}
		for _, ap := range aps {
			if _, err := magconfig.Parse("mag.conf", []byte(magConfig(c, ap))); err != nil {
				t.Errorf("%+v: MAG config of %s:\n%s\n%v", c, ap.Name, magConfig(c, ap), err)
			}
		}
	}
}

// pcapOf writes frames as a little-endian microsecond libpcap file.
func pcapOf(frames [][]byte, at []time.Time) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 65535)
	binary.LittleEndian.PutUint32(b[20:], 1)
	for i, f := range frames {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h, uint32(at[i].Unix()))
		binary.LittleEndian.PutUint32(h[4:], uint32(at[i].Nanosecond()/1000))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(f)))
		b = append(append(b, h...), f...)
	}
	return b
}

// mhFrame builds Ethernet + IPv6 (next header 135) + a BU or BA.
func mhFrame(typ uint8, seq uint16, status uint8) []byte {
	f := make([]byte, 14+40+16)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := f[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 16)
	ip[6] = mhProto
	src := netip.MustParseAddr("2001:db8:ffff::11").As16()
	copy(ip[8:], src[:])
	mh := ip[40:]
	mh[0], mh[1], mh[2] = 59, 1, typ
	if typ == mhBindingUpdate {
		binary.BigEndian.PutUint16(mh[6:], seq)
	} else {
		mh[6] = status
		binary.BigEndian.PutUint16(mh[8:], seq)
	}
	return f
}

// udpMHFrame is a BA in UDP/IPv4 port 5436 (RFC 5844 4).
func udpMHFrame(seq uint16) []byte {
	f := make([]byte, 14+20+8+12)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 17
	copy(ip[12:], []byte{198, 51, 100, 1})
	binary.BigEndian.PutUint16(ip[20:], mhUDPPort)
	mh := ip[28:]
	mh[2], mh[6] = mhBindingAck, 0
	binary.BigEndian.PutUint16(mh[8:], seq)
	return f
}

func TestRoundTrips(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	ms := time.Millisecond
	frames := [][]byte{
		mhFrame(mhBindingUpdate, 7, 0),
		mhFrame(mhBindingAck, 7, 152),
		mhFrame(mhBindingUpdate, 8, 0),
		mhFrame(mhBindingUpdate, 8, 0), // a retransmission: the RTT runs from it
		mhFrame(mhBindingAck, 8, 0),
		mhFrame(mhBindingAck, 9, 0), // answers nothing seen
		{1, 2, 3},                   // runt
		mhFrame(mhBindingUpdate, 10, 0),
		udpMHFrame(10),
	}
	at := []time.Time{t0, t0.Add(40 * ms), t0.Add(100 * ms), t0.Add(600 * ms), t0.Add(645 * ms),
		t0.Add(700 * ms), t0.Add(710 * ms), t0.Add(800 * ms), t0.Add(830 * ms)}
	pkts, err := parseMH(pcapOf(frames, at))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 8 {
		t.Fatalf("%d MH packets, want 8: %+v", len(pkts), pkts)
	}
	got := roundTrips(pkts)
	want := []RoundTrip{{7, 152, 40 * ms}, {8, 0, 45 * ms}, {10, 0, 30 * ms}}
	if len(got) != len(want) {
		t.Fatalf("round trips %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("round trip %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseMH([]byte("not a pcap at all, but long enough")); err == nil {
		t.Error("garbage parsed as a pcap")
	}
	// A capture cut in the middle of a record (tcpdump still writing).
	full := pcapOf(frames[:2], at[:2])
	if pkts, err := parseMH(full[:len(full)-5]); err != nil || len(pkts) != 1 {
		t.Errorf("truncated capture: %d packets, %v; want the complete one", len(pkts), err)
	}
}

func TestDiffLines(t *testing.T) {
	a, b := diffLines("x\ny\nz", "y\nz\nw")
	if len(a) != 1 || a[0] != "x" || len(b) != 1 || b[0] != "w" {
		t.Errorf("diffLines: %q %q", a, b)
	}
	if got := nftCounter.ReplaceAllString("\t\tcounter packets 12 bytes 900 drop", "counter"); got != "\t\tcounter drop" {
		t.Errorf("counter normalised to %q", got)
	}
}
