package lma

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// RFC 5213 5.3.2: an authorized MAG registers a new mobile node; the LMA
// assigns a prefix from the pool, answers status 0 with it, stores the
// binding and routes the prefix into the MAG's tunnel.
func TestRegistrationVerticalSlice(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	p := h.newPBU("alice@example.net")
	a := h.register(h.ap1, p)

	if a.Status != mh.StatusAccepted || a.Sequence != p.Sequence || a.Flags&mh.BAFlagP == 0 || a.Lifetime != 3600*time.Second {
		t.Fatalf("PBA %v", a)
	}
	got := hnps(a)
	if len(got) != 1 || got[0] != mustPrefix("2001:db8:100::/64") {
		t.Fatalf("PBA prefixes %v, want the pool's first /64", got)
	}
	// RFC 5213 5.3.6: MN-ID, HI, ATT, LL-ID and Timestamp echoed.
	if id := opt[*mh.MobileNodeIdentifier](t, a.Options); id.String() != "alice@example.net" {
		t.Errorf("MN-ID %v", id)
	}
	if o := opt[*mh.HandoffIndicatorOption](t, a.Options); o.HI != mh.HandoffNewInterface {
		t.Errorf("HI %v", o.HI)
	}
	if o := opt[*mh.AccessTechnologyTypeOption](t, a.Options); o.ATT != mh.ATTIEEE80211 {
		t.Errorf("ATT %v", o.ATT)
	}
	if o := opt[*mh.MobileNodeLinkLayerID](t, a.Options); o.ID.String() != mac1.String() {
		t.Errorf("LL-ID %v", o.ID)
	}
	if o := opt[*mh.Timestamp](t, a.Options); o.Value != mh.TimestampFromTime(t0).Value {
		t.Errorf("timestamp %v", o)
	}
	want := `binding 1 alice@example.net ap1 [2001:db8:100::/64] invalid Prefix active 2026-11-22T13:00:00Z
pool hnp used 1
pool v4 used 0
store b/1 alice@example.net ap1 [2001:db8:100::/64] invalid Prefix active
tunnel pmip6` + tunnelName(1, ap1Addr.Addr())[5:] + ` ip6tnl local 2001:db8:ffff::1 remote 2001:db8:1:1::2 hoplimit 64
` + lmaSysctlLines + `route 2001:db8:100::/64 dev ` + tunnelName(1, ap1Addr.Addr()) + ` table 254 metric 1024
filter table
filter tunnel ` + tunnelName(1, ap1Addr.Addr()) + `
filter tunnel-source ` + tunnelName(1, ap1Addr.Addr()) + ` 2001:db8:100::/64
`
	if diff := cmp.Diff(want, h.state()); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	c := h.e.Counters()
	if c.PBUs != 1 || c.PBAsByStatus[mh.StatusAccepted] != 1 || c.Bindings != 1 || c.Created != 1 {
		t.Errorf("counters %+v", c)
	}
}

// Every rejection of RFC 5213 5.3.1, 5.3.2, 5.5, RFC 5844 3.2.1 and 4, and
// RFC 5845 6.2: the right status, the PBU's options echoed, and nothing
// changed in the cache, the pools, the store or the data plane.
func TestPBURejected(t *testing.T) {
	tests := []struct {
		name   string
		from   func(*harness) *transporttest.Conn
		nai    string
		opts   []pbuOpt
		status mh.Status
	}{
		{"RFC 5213 5.3.1: no MN-ID option", nil, "alice@example.net", []pbuOpt{without(mh.OptMobileNodeIdentifier)}, mh.StatusMissingMNIdentifierOption},
		{"RFC 5213 5.3.1: a 0-length NAI identifies nobody", nil, "", nil, mh.StatusMissingMNIdentifierOption},
		{"RFC 5213 5.3.1: MAG not configured", func(h *harness) *transporttest.Conn { return h.rog }, "alice@example.net", nil, mh.StatusMAGNotAuthorizedForProxyReg},
		{"RFC 5213 5.3.1: no policy for the mobile node", nil, "mallory@elsewhere.org", nil, mh.StatusProxyRegNotEnabled},
		{"RFC 5213 5.3.1: no Handoff Indicator", nil, "alice@example.net", []pbuOpt{without(mh.OptHandoffIndicator)}, mh.StatusMissingHandoffIndicatorOption},
		{"RFC 5213 5.3.1: no Access Technology Type", nil, "alice@example.net", []pbuOpt{without(mh.OptAccessTechnologyType)}, mh.StatusMissingAccessTechTypeOption},
		{"RFC 5213 5.3.1: no Home Network Prefix and no IPv4 request", nil, "alice@example.net", []pbuOpt{without(mh.OptHomeNetworkPrefix)}, mh.StatusMissingHomeNetworkPrefixOption},
		{"RFC 5213 8.4: reserved Handoff Indicator 0", nil, "alice@example.net", []pbuOpt{hi(0)}, mh.StatusReasonUnspecified},
		{"RFC 5213 8.4: unassigned Handoff Indicator 9", nil, "alice@example.net", []pbuOpt{hi(9)}, mh.StatusReasonUnspecified},
		{"RFC 5213 5.5: no Timestamp option", nil, "alice@example.net", []pbuOpt{without(mh.OptTimestamp)}, mh.StatusTimestampMismatch},
		{"RFC 5213 5.5: timestamp past the validity window", nil, "alice@example.net", []pbuOpt{replace(mh.TimestampFromTime(t0.Add(-301 * time.Millisecond)))}, mh.StatusTimestampMismatch},
		{"RFC 5213 5.5: timestamp ahead of the validity window", nil, "alice@example.net", []pbuOpt{replace(mh.TimestampFromTime(t0.Add(2 * time.Second)))}, mh.StatusTimestampMismatch},
		{"RFC 5213 5.3.2: requested prefix outside the pool", nil, "alice@example.net", []pbuOpt{hnp("2001:db8:999::/64")}, mh.StatusNotAuthorizedForHomeNetworkPrefix},
		{"RFC 5213 5.3.2: static policy, prefix not the mobile's", nil, "printer@example.net", []pbuOpt{hnp("2001:db8:200:2::/64"), with(&mh.GREKey{HasKey: true, Key: 9})}, mh.StatusNotAuthorizedForHomeNetworkPrefix},
		{"RFC 5844 3.2.1: two IPv4 home address requests", nil, "alice@example.net", []pbuOpt{with(&mh.IPv4HomeAddressRequest{Prefix: mustPrefix("0.0.0.0/0")}, &mh.IPv4HomeAddressRequest{Prefix: mustPrefix("0.0.0.0/0")})}, mh.StatusMultipleIPv4HoANotSupported},
		{"RFC 5844 3.2.1: IPv4 request, no IPv4 service", nil, "bob@v6.example.net", []pbuOpt{v4req("0.0.0.0/0")}, mh.StatusNotAuthorizedForIPv4MobilityService},
		{"RFC 5844 3.2.1: home prefix for an IPv4-only node", nil, "carol@v4.example.net", []pbuOpt{v4req("0.0.0.0/0")}, mh.StatusNotAuthorizedForIPv6MobilityService},
		{"RFC 5844 3.2.1: requested IPv4 address outside the pool", nil, "alice@example.net", []pbuOpt{v4req("192.0.2.7/32")}, mh.StatusNotAuthorizedForIPv4HomeAddress},
		{"RFC 5844 3.2.1: static IPv4 address, another requested", nil, "printer@example.net", []pbuOpt{v4req("10.30.0.6/32"), with(&mh.GREKey{HasKey: true, Key: 9})}, mh.StatusNotAuthorizedForIPv4HomeAddress},
		{"RFC 5845 6.2: GRE key required by policy, none offered", nil, "printer@example.net", nil, mh.StatusGREKeyOptionRequired},
		{"RFC 5845 6.2: GRE required, MAG may not use GRE", func(h *harness) *transporttest.Conn { return h.ap2 }, "printer@example.net", []pbuOpt{with(&mh.GREKey{HasKey: true, Key: 9})}, mh.StatusAdministrativelyProhibited},
		{"RFC 5844 4: IPv4 transport without IPv4 care-of address", func(h *harness) *transporttest.Conn { return h.ap4 }, "alice@example.net", nil, mh.StatusInvalidCareOfAddress},
		{"RFC 5844 4: IPv4 care-of address not the source", func(h *harness) *transporttest.Conn { return h.ap4 }, "alice@example.net", []pbuOpt{with(&mh.IPv4CareOfAddress{Addr: netip.MustParseAddr("203.0.113.9")})}, mh.StatusInvalidCareOfAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testCfg(t, true, ""))
			before := h.state()
			from := h.ap1
			if tt.from != nil {
				from = tt.from(h)
			}
			p := h.newPBU(tt.nai, tt.opts...)
			if tt.nai == "" {
				replace(&mh.MobileNodeIdentifier{Subtype: mh.MNIDNAI})(p)
			}
			h.send(from, p)
			a := h.pba(from)
			if a.Status != tt.status {
				t.Fatalf("status %v, want %v", a.Status, tt.status)
			}
			if a.Sequence != p.Sequence || a.Lifetime != 0 {
				t.Errorf("PBA sequence %d lifetime %v", a.Sequence, a.Lifetime)
			}
			// RFC 5213 5.3.6: the HNP options of a rejected PBU are
			// echoed.
			wantHNP := mh.OptionsOf[*mh.HomeNetworkPrefix](p.Options)
			if len(hnps(a)) != len(wantHNP) {
				t.Errorf("PBA prefixes %v, PBU had %d", hnps(a), len(wantHNP))
			}
			if tt.status == mh.StatusTimestampMismatch {
				// RFC 5213 5.5: the LMA's own time in the reply.
				if ts := opt[*mh.Timestamp](t, a.Options); ts.Value != mh.TimestampFromTime(t0).Value {
					t.Errorf("timestamp %v, want the LMA's clock", ts)
				}
			}
			if diff := cmp.Diff(before, h.state()); diff != "" {
				t.Errorf("a rejected PBU changed state (-before +after):\n%s", diff)
			}
		})
	}
}

// Messages the LMA drops without an answer (RFC 6275 9.2; RFC 5213 5.3.1
// for the P flag), changing nothing.
func TestSilentDrops(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	before := h.state()
	good, _ := mh.Marshal(h.newPBU("alice@example.net"))
	noP := h.newPBU("alice@example.net")
	noP.Flags = mh.BUFlagA
	b := func(m mh.Message) []byte { x, _ := mh.Marshal(m); return x }
	lying := append([]byte(nil), good...)
	lying[1] = 200 // header length beyond the message
	garbage := append(append([]byte(nil), good...), 1, 2, 3, 4, 5, 6, 7, 8)
	badOpt := append([]byte(nil), good...)
	badOpt[len(badOpt)-1] = 0xff // padding's last octet turned into a lying length
	for name, data := range map[string][]byte{
		"no P flag":             b(noP),
		"header length lies":    lying,
		"garbage after the end": garbage,
		"repeated MN-ID":        b(h.newPBU("alice@example.net", with(mh.NewNAI("bob@example.net")))),
		"repeated timestamp":    b(h.newPBU("alice@example.net", with(mh.TimestampFromTime(t0)))),
		"payload proto":         append([]byte{58}, good[1:]...),
		"too short":             good[:5],
	} {
		h.sendRaw(h.ap1, data)
		h.sync()
		if h.ap1.Pending() != 0 {
			t.Errorf("%s: answered", name)
			h.drain(h.ap1)
		}
	}
	_ = badOpt
	if diff := cmp.Diff(before, h.state()); diff != "" {
		t.Errorf("dropped messages changed state:\n%s", diff)
	}
}
