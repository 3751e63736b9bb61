package lma

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// records renders every binding of the running engine as the record it
// would store (generation included), sorted: what a restart must give
// back byte for byte.
func (h *harness) records() []string {
	h.t.Helper()
	h.sync()
	var out []string
	err := h.e.call(context.Background(), func() {
		for b := range h.e.bc.all {
			out = append(out, hex.EncodeToString(appendBinding(nil, h.e.bc, b)))
		}
	})
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// restartSame stops and restarts the engine on the same store and
// fails unless it recovers every binding exactly, with the same pools,
// stored records and routes. (Tunnels may differ: one a handoff left
// idle is removed by a restart before its delayed cleanup.)
func (h *harness) restartSame(what string) {
	h.t.Helper()
	sessions := func() string {
		var keep []string
		for _, l := range strings.Split(h.state(), "\n") {
			if !strings.Contains(l, "tunnel ") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	recs, state := h.records(), sessions()
	h.stop()
	h.start()
	if got := h.records(); fmt.Sprint(got) != fmt.Sprint(recs) {
		h.t.Fatalf("%s: records after restart\n%v\nwant\n%v", what, got, recs)
	}
	if got := sessions(); got != state {
		h.t.Fatalf("%s: state after restart\n%s\nwant\n%s", what, got, state)
	}
}

func (s *memStore) get(k []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[string(k)]
	return v, ok
}

// A refresh (RFC 5213 5.3.3) writes only its refresh record: the
// binding's record stays as the registration wrote it. A restart gives
// back the refreshed lifetime, times, timestamp and sequence number: the
// session outlives the registration's lifetime, and a PBU older than the
// refresh is refused as a replay (RFC 5213 5.5).
func TestRefreshRecordOnly(t *testing.T) {
	h := newHarnessWith(t, testCfg(t, true, ""), true)
	a := h.register(h.ap1, h.newPBU("alice@example.net", lifetime(40*time.Second)))
	p := hnps(a)[0].String()
	h.sync()
	full, ok := h.st.get(bindingKey(1))
	if !ok {
		t.Fatal("no binding record after the registration")
	}
	if _, ok := h.st.get(refreshKey(1)); ok {
		t.Fatal("refresh record after a registration")
	}
	h.clk.Advance(30 * time.Second)
	refreshedAt := h.clk.Now()
	h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(p)))
	h.sync()
	if now, _ := h.st.get(bindingKey(1)); !bytes.Equal(now, full) {
		t.Error("the refresh rewrote the binding record")
	}
	v, ok := h.st.get(refreshKey(1))
	if !ok {
		t.Fatal("no refresh record after the refresh")
	}
	x, err := decodeRefresh(v)
	if err != nil {
		t.Fatal(err)
	}
	if x.gen != 1 || x.lifetime != time.Hour || !time.Unix(0, x.deadline).Equal(refreshedAt.Add(time.Hour)) {
		t.Errorf("refresh record %+v", x)
	}
	h.restartSame("after a refresh")
	replay := h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(p), replace(mh.TimestampFromTime(refreshedAt.Add(-100*time.Millisecond))))
	h.send(h.ap1, replay)
	if s := h.pba(h.ap1).Status; s != mh.StatusTimestampLowerThanPrevAccepted {
		t.Errorf("a PBU older than the refresh after a restart: %v, want %v", s, mh.StatusTimestampLowerThanPrevAccepted)
	}

	// Down past the registration's 40 s: the refresh's hour holds.
	h.stop()
	h.clk.Advance(time.Minute)
	h.start()
	if bs, _ := h.e.Bindings(context.Background(), BindingFilter{}); len(bs) != 1 || !bs[0].Expires.Equal(refreshedAt.Add(time.Hour)) {
		t.Fatalf("after a restart past the registration's lifetime: %+v", bs)
	}
}

// A refresh record written before a handoff rewrote the binding (RFC
// 5213 5.3.4) belongs to the previous generation: a restart does not
// apply it to the new record, and removes it.
func TestStaleRefreshRecord(t *testing.T) {
	h := newHarnessWith(t, testCfg(t, true, ""), true)
	a := h.register(h.ap1, h.newPBU("alice@example.net"))
	p := hnps(a)[0].String()
	h.clk.Advance(time.Second)
	h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(p)))
	h.clk.Advance(time.Second)
	// The handoff's shorter lifetime: were the old refresh record
	// applied, the session would come back with the refresh's hour.
	h.send(h.ap2, h.newPBU("alice@example.net", hi(mh.HandoffBetweenMAGsSameInterface), hnp(p), lifetime(100*time.Second)))
	if s := h.pba(h.ap2).Status; s != mh.StatusAccepted {
		t.Fatalf("handoff: %v", s)
	}
	h.drain(h.ap1) // the revocation at ap1
	h.sync()
	v, ok := h.st.get(refreshKey(1))
	if !ok {
		t.Fatal("the refresh record went with the handoff: this test no longer tests anything")
	}
	if x, _ := decodeRefresh(v); x.gen != 1 {
		t.Fatalf("refresh record of generation %d", x.gen)
	}
	h.restartSame("after a handoff")
	if _, ok := h.st.get(refreshKey(1)); ok {
		t.Error("the stale refresh record is still stored after the restart")
	}
}

// Whatever sequence of registrations, refreshes with and without
// changes, handoffs, deregistrations and expiries the MAGs cause, a
// restart gives back exactly the bindings the engine held, generation
// and refreshed fields included.
func TestRecoveryAfterAnySequence(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			h := newHarnessWith(t, testCfg(t, true, ""), true)
			mns := []string{"alice@example.net", "bob@example.net", "carol@v6.example.net"}
			prefix := map[string]string{}
			for step := range 150 {
				mn := mns[rng.IntN(len(mns))]
				from, other := h.ap1, h.ap2
				if rng.IntN(2) == 0 {
					from, other = h.ap2, h.ap1
				}
				opts := []pbuOpt{lifetime(time.Duration(5+rng.IntN(50)) * 4 * time.Second)}
				if p, ok := prefix[mn]; ok {
					opts = append(opts, hnp(p))
					switch rng.IntN(3) {
					case 0:
						opts = append(opts, hi(mh.HandoffStateNotChanged))
					case 1:
						opts = append(opts, hi(mh.HandoffBetweenMAGsSameInterface))
					}
				}
				switch rng.IntN(8) {
				case 0:
					opts = append(opts, lifetime(0)) // deregistration
				case 1:
					opts = append(opts, v4req("0.0.0.0/0"))
				case 2:
					opts = append(opts, with(&mh.LinkLocalAddress{Addr: netip.MustParseAddr(fmt.Sprintf("fe80::%x", 1+rng.IntN(3)))}))
				case 3:
					opts = append(opts, replace(&mh.AccessTechnologyTypeOption{ATT: mh.ATT3GPPEUTRAN}))
				}
				h.send(from, h.newPBU(mn, opts...))
				if a := h.pba(from); a.Status.Accepted() {
					if ps := hnps(a); len(ps) > 0 {
						prefix[mn] = ps[0].String()
					}
				}
				h.drain(other)
				h.drain(from)
				h.advance(time.Duration(rng.IntN(30)) * time.Second)
				h.drain(h.ap1)
				h.drain(h.ap2)
				if step%10 == 9 {
					h.restartSame(fmt.Sprintf("step %d", step))
				}
			}
		})
	}
}

// The refresh record's layout, octet by octet.
func TestRefreshRecordGolden(t *testing.T) {
	b := &binding{gen: 7, lifetime: time.Hour, updated: 0x0102030405060708, deadline: 0x1112131415161718, timestamp: 0x2122232425262728, seq: 0x3132}
	got := appendRefresh(nil, b)
	want, _ := hex.DecodeString("01" + "00000007" + "0000034630b8a000" + "0102030405060708" + "1112131415161718" + "2122232425262728" + "3132")
	if !bytes.Equal(got, want) {
		t.Fatalf("refresh record\n%x\nwant\n%x", got, want)
	}
	x, err := decodeRefresh(got)
	if err != nil {
		t.Fatal(err)
	}
	var back binding
	x.apply(&back)
	back.gen = x.gen
	if back != *b {
		t.Errorf("decoded %+v, want %+v", back, *b)
	}
	for _, bad := range [][]byte{got[:len(got)-1], append(got[:len(got):len(got)], 0), append([]byte{2}, got[1:]...)} {
		if _, err := decodeRefresh(bad); err == nil {
			t.Errorf("decodeRefresh(%x) accepted", bad)
		}
	}
}

// A version 1 binding record (before generations) is still read, as
// generation 0.
func TestBindingRecordVersion1(t *testing.T) {
	c := newCache()
	b := c.load(&bindingRecord{id: 9, mn: mnKey{subtype: mh.MNIDNAI, id: "alice@example.net"}, mag: "ap1",
		coa: netip.MustParseAddr("2001:db8:1:1::2"), tunnel: "ip6ip6", hnps: []netip.Prefix{netip.MustParsePrefix("2001:db8:100::/64")},
		policy: "staff", lifetime: time.Hour, registered: 1, updated: 2, deadline: 3, timestamp: 4, seq: 5, gen: 3})
	v2 := appendBinding(nil, c, b)
	if v2[0] != recordVersion {
		t.Fatalf("record version %d", v2[0])
	}
	rec, err := decodeBinding(v2)
	if err != nil || rec.gen != 3 || rec.seq != 5 {
		t.Fatalf("version 2: %+v, %v", rec, err)
	}
	v1 := append([]byte{recordVersion1}, v2[1:len(v2)-4]...)
	rec, err = decodeBinding(v1)
	if err != nil || rec.gen != 0 || rec.seq != 5 || rec.deadline != 3 {
		t.Fatalf("version 1: %+v, %v", rec, err)
	}
	if _, err := decodeBinding(append([]byte{3}, v2[1:]...)); err == nil {
		t.Error("version 3 accepted")
	}
}

// FuzzRecords: no stored bytes make the decoders panic, and a refresh
// record that decodes encodes back to the same bytes.
func FuzzRecords(f *testing.F) {
	f.Add(appendRefresh(nil, &binding{gen: 1, lifetime: time.Hour, seq: 1}))
	c := newCache()
	b := c.load(&bindingRecord{id: 1, mn: mnKey{subtype: mh.MNIDNAI, id: "a@b"}, mag: "ap1", coa: netip.MustParseAddr("2001:db8::1"), tunnel: "gre", greUpSet: true, greUp: 4})
	f.Add(appendBinding(nil, c, b))
	f.Fuzz(func(t *testing.T, data []byte) {
		if x, err := decodeRefresh(data); err == nil {
			var back binding
			x.apply(&back)
			back.gen = x.gen
			if got := appendRefresh(nil, &back); !bytes.Equal(got, data) {
				t.Fatalf("refresh record %x encodes back as %x", data, got)
			}
		}
		_, _ = decodeBinding(data)
	})
}

// A refresh moves the session's end (RFC 5213 5.3.3): the timer armed
// for the registration's lifetime fires early, finds nothing due, and
// the session ends at the refreshed lifetime's end, not before.
func TestRefreshMovesExpiry(t *testing.T) {
	for _, submitter := range []bool{false, true} {
		t.Run(fmt.Sprintf("submitter=%v", submitter), func(t *testing.T) {
			h := newHarnessWith(t, testCfg(t, true, ""), submitter)
			a := h.register(h.ap1, h.newPBU("alice@example.net", lifetime(40*time.Second)))
			h.advance(30 * time.Second)
			h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(hnps(a)[0].String()), lifetime(40*time.Second)))
			h.advance(20 * time.Second) // past the first deadline
			if bs, _ := h.e.Bindings(context.Background(), BindingFilter{}); len(bs) != 1 {
				t.Fatalf("%d bindings 10 s after the registration's lifetime, 20 s before the refresh's", len(bs))
			}
			h.advance(19 * time.Second)
			if bs, _ := h.e.Bindings(context.Background(), BindingFilter{}); len(bs) != 1 {
				t.Fatalf("%d bindings a second before the refresh's lifetime ends", len(bs))
			}
			h.advance(2 * time.Second)
			if bs, _ := h.e.Bindings(context.Background(), BindingFilter{}); len(bs) != 0 {
				t.Fatalf("%d bindings after the refresh's lifetime", len(bs))
			}
		})
	}
}
