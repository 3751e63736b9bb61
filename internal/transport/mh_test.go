package transport_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
)

// The hand-built golden PBU and internal/mh were written independently
// from RFC 5213 8.1; they must agree both ways.
func TestGoldenPBUAgreesWithMH(t *testing.T) {
	m, err := mh.Parse(goldenPBU())
	if err != nil {
		t.Fatal(err)
	}
	pbu, ok := m.(*mh.ProxyBindingUpdate)
	if !ok {
		t.Fatalf("mh.Parse returned %T", m)
	}
	if pbu.Sequence != 0x1234 || pbu.Flags != mh.BUFlagA|mh.BUFlagP || pbu.Lifetime != time.Hour {
		t.Fatalf("mh reads %+v", pbu)
	}
	b, err := mh.Marshal(pbu)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, goldenPBU()) {
		t.Fatalf("mh.Marshal\n%x\ngolden\n%x", b, goldenPBU())
	}
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	mh.SetChecksum(src, dst, b)
	if mhChecksum(src, dst, b) != 0 || !mh.VerifyChecksum(src, dst, b) {
		t.Fatal("this test's checksum and mh's disagree")
	}
}

// mhPBU is a PBU from internal/mh, as the MAG engine will build it.
func mhPBU(t testing.TB) (*mh.ProxyBindingUpdate, []byte) {
	t.Helper()
	m := &mh.ProxyBindingUpdate{
		Sequence: 7,
		Flags:    mh.BUFlagA | mh.BUFlagP,
		Lifetime: 10 * time.Minute,
		Options: []mh.Option{
			mh.NewNAI("bob@example.org"),
			&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
			&mh.HandoffIndicatorOption{HI: 1},
			&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
			&mh.Timestamp{Value: 0x0000e8d4a5100000},
		},
	}
	b, err := mh.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

// checkMHPBU parses what a carrier delivered and compares it with what
// was sent.
func checkMHPBU(t *testing.T, want *mh.ProxyBindingUpdate, got []byte) {
	t.Helper()
	m, err := mh.Parse(got)
	if err != nil {
		t.Fatalf("mh.Parse of the received PBU: %v", err)
	}
	sent, err := mh.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := mh.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sent, again); diff != "" {
		t.Fatalf("received PBU differs (-sent +received):\n%s", diff)
	}
}
