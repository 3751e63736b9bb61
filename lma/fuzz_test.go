package lma

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// fuzzSeeds are PBUs of the kinds issue 3 lists: valid ones, garbage after
// a valid header, lengths that lie, repeated options, a 0-length NAI,
// prefix lengths 0 and 129.
func fuzzSeeds(t testing.TB) [][]byte {
	base := func(opts ...mh.Option) []byte {
		p := &mh.ProxyBindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: time.Hour, Options: append([]mh.Option{
			mh.NewNAI("alice@example.net"),
			&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
			&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
			&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
			&mh.MobileNodeLinkLayerID{ID: mac1},
			mh.TimestampFromTime(t0),
		}, opts...)}
		b, err := mh.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := base()
	var seeds [][]byte
	seeds = append(seeds, valid)
	seeds = append(seeds, base(&mh.IPv4HomeAddressRequest{Prefix: netip.MustParsePrefix("0.0.0.0/0")}))
	seeds = append(seeds, base(&mh.GREKey{HasKey: true, Key: 7}))
	seeds = append(seeds, base(mh.NewNAI("bob@example.net")))                                                // repeated MN-ID
	seeds = append(seeds, base(&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:100:5::/64")})) // mixed prefixes
	seeds = append(seeds, append(append([]byte(nil), valid...), 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0))
	lie := append([]byte(nil), valid...)
	lie[1]++
	seeds = append(seeds, lie)
	short := append([]byte(nil), valid...)
	short[1]--
	seeds = append(seeds, short[:len(short)-8])
	// A 0-length NAI: MN-ID option of length 1 (subtype only).
	zero, _ := mh.Marshal(&mh.ProxyBindingUpdate{Flags: mh.BUFlagP, Lifetime: time.Hour, Options: []mh.Option{
		&mh.MobileNodeIdentifier{Subtype: mh.MNIDNAI}, &mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
		&mh.HandoffIndicatorOption{HI: 1}, &mh.AccessTechnologyTypeOption{ATT: 4}, mh.TimestampFromTime(t0)}})
	seeds = append(seeds, zero)
	// Prefix lengths 0 (with a non-zero prefix) and 129.
	for _, bits := range []byte{0, 129} {
		b := append([]byte(nil), valid...)
		for i := 6; i+3 < len(b); i++ {
			if b[i] == byte(mh.OptHomeNetworkPrefix) && b[i+1] == 18 {
				b[i+3] = bits
				b[i+4] = 0x20
				break
			}
		}
		seeds = append(seeds, b)
	}
	// A deregistration, and an option whose length runs past the end.
	dereg := append([]byte(nil), valid...)
	binary.BigEndian.PutUint16(dereg[10:12], 0)
	seeds = append(seeds, dereg)
	run := append([]byte(nil), valid...)
	run[len(run)-9] = 0xff
	seeds = append(seeds, run)
	return seeds
}

// FuzzPBU drives arbitrary Mobility Headers from an authorized MAG (or
// over IPv4 transport, or from a stranger) into the engine: no panic; a
// reply, if any, is a well-formed PBA; a rejected or dropped message
// changes nothing in the cache, the pools, the store or the data plane. A
// message of an unknown MH Type gets a Binding Error, status 2, instead
// (RFC 6275 9.2).
func FuzzPBU(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(byte(0), s)
	}
	f.Add(byte(1), fuzzSeeds(f)[0])
	f.Add(byte(2), fuzzSeeds(f)[0])
	f.Fuzz(func(t *testing.T, from byte, data []byte) {
		if len(data) > 2048 {
			return
		}
		h := newHarness(t, testCfg(t, true, ""))
		conn := h.ap1
		switch from % 3 {
		case 1:
			conn = h.ap4
		case 2:
			conn = h.rog
		}
		before := h.state()
		h.sendRaw(conn, data)
		h.sync()
		var accepted bool
		for conn.Pending() > 0 {
			m := h.recv(conn)
			if be, ok := m.(*mh.BindingError); ok {
				p, err := mh.Parse(data)
				if _, unknown := p.(*mh.UnknownMessage); err != nil || !unknown || be.Status != mh.BindingErrorUnrecognizedMHType {
					t.Fatalf("%v in answer to %v (parse error %v)", be, p, err)
				}
				continue
			}
			a, ok := m.(*mh.ProxyBindingAck)
			if !ok {
				t.Fatalf("reply is not a PBA: %v", m)
			}
			if a.Status.Accepted() {
				accepted = true
			}
		}
		after := h.state()
		if !accepted && after != before {
			// RFC 6275 11.7.1: an accepted PBU without the A flag is
			// not answered; that is the one silent change allowed.
			if p, err := mh.Parse(data); err == nil {
				if pbu, ok := p.(*mh.ProxyBindingUpdate); ok && pbu.Flags&mh.BUFlagA == 0 {
					return
				}
			}
			t.Fatalf("rejected or dropped message changed state:\n%s", after)
		}
		if accepted {
			p, err := mh.Parse(data)
			if err != nil {
				t.Fatalf("accepted an unparseable message: %v", err)
			}
			if _, ok := p.(*mh.ProxyBindingUpdate); !ok {
				t.Fatalf("accepted a %T", p)
			}
		}
	})
}

// A flood from one MAG (issue 3, "Bad input"): thousands of malformed,
// rejected and valid PBUs; the LMA stays consistent and keeps serving.
func TestFlood(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	seeds := fuzzSeeds(t)
	for i := range 3000 {
		s := seeds[i%len(seeds)]
		if i%7 == 0 {
			s = append([]byte(nil), s...)
			s[i%len(s)] ^= byte(i)
		}
		h.sendRaw(h.ap1, s)
	}
	h.drain(h.ap1)
	a := h.register(h.ap2, h.newPBU("zed@example.net"))
	if len(hnps(a)) != 1 {
		t.Fatalf("after the flood: %v", a)
	}
	bs, _ := h.e.Bindings(t.Context(), BindingFilter{})
	ps, _ := h.e.Pools(t.Context())
	if ps[0].Used != uint64(len(bs)) {
		t.Errorf("pool used %d for %d bindings", ps[0].Used, len(bs))
	}
	c := h.e.Counters()
	t.Logf("flood: %d PBUs, %d malformed, %d bindings, statuses %v", c.PBUs, c.Malformed, c.Bindings, c.PBAsByStatus)
}
