package lma

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openpmip/pmip/internal/mh"
)

// The per-binding parts of the cache hold no pointers, so that the
// collector has nothing to mark in them with a million bindings: the
// bindings, their identifiers and every index map's keys and values.
func TestCachePointerFree(t *testing.T) {
	c := newCache()
	for _, v := range []any{binding{}, slotIDs{}, c.byID, c.byMN, c.byHNP, c.byHoA, c.byUp} {
		typ := reflect.TypeOf(v)
		if typ.Kind() == reflect.Map {
			for _, kv := range []reflect.Type{typ.Key(), typ.Elem()} {
				if p := pointerIn(kv); p != "" {
					t.Errorf("%v: %s", typ, p)
				}
			}
			continue
		}
		if p := pointerIn(typ); p != "" {
			t.Errorf("%v: %s", typ, p)
		}
	}
}

// pointerIn names a field of t that holds a pointer, "" if none does.
func pointerIn(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		return pointerIn(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if p := pointerIn(t.Field(i).Type); p != "" {
				return t.Field(i).Name + "." + p
			}
		}
		return ""
	}
	return t.String()
}

// Identifiers up to the inline lengths live in the slot, longer ones in
// the long map; either reads back the same, and a slot given back keeps
// nothing in the long map.
func TestCacheIdentifiers(t *testing.T) {
	c := newCache()
	for _, mnLen := range []int{1, 26, mnInline, mnInline + 1, 254, 300} {
		for _, llLen := range []int{0, 6, llInline, llInline + 1, 253} {
			mn := mnKey{subtype: mh.MNIDNAI, id: strings.Repeat("m", mnLen-1) + "@"}
			ll := strings.Repeat("\x02", llLen)
			b := c.alloc()
			c.setMN(b, mn)
			c.setLLID(b, ll)
			if got := c.mn(b); got != mn {
				t.Errorf("mn %d octets: read back %d", mnLen, len(got.id))
			}
			if !c.isMN(b, mn) || c.isMN(b, mnKey{subtype: mh.MNIDNAI, id: mn.id + "x"}) || c.isMN(b, mnKey{subtype: mh.MNIDEUI48, id: mn.id}) {
				t.Errorf("mn %d octets: isMN wrong", mnLen)
			}
			if c.llid(b) != ll || !c.llidIs(b, ll) || c.llidIs(b, ll+"x") || c.hasLLID(b) != (llLen > 0) {
				t.Errorf("llid %d octets: read back %d", llLen, len(c.llid(b)))
			}
			if s := c.strsOf(b); s.mnID != mn.id || s.llid != ll {
				t.Errorf("strsOf: %d and %d octets, want %d and %d", len(s.mnID), len(s.llid), mnLen, llLen)
			}
			// Shorter again: nothing left in the long map.
			c.setMN(b, mnKey{subtype: mh.MNIDNAI, id: "a@b"})
			c.setLLID(b, "")
			if _, ok := c.long[b.slot]; ok || c.mn(b).id != "a@b" || c.llid(b) != "" {
				t.Errorf("mn %d, llid %d: after shortening, long %v, mn %q", mnLen, llLen, c.long[b.slot], c.mn(b).id)
			}
			c.setMN(b, mn)
			c.setLLID(b, ll)
			c.discard(b)
			if len(c.long) != 0 {
				t.Fatalf("discard left %d long identifiers", len(c.long))
			}
		}
	}
}

// A binding written to a record and loaded back keeps identifiers of any
// length.
func TestCacheLongIdentifierRecord(t *testing.T) {
	c := newCache()
	b := c.alloc()
	mn := mnKey{subtype: mh.MNIDNAI, id: strings.Repeat("0", 200) + "@wlan.mnc015.mcc234.3gppnetwork.org"}
	c.setMN(b, mn)
	c.setLLID(b, strings.Repeat("\x07", 40))
	b.id = 7
	b.mag = c.intern("ap1")
	b.coa = packIP(netip.MustParseAddr("2001:db8::11"))
	rec, err := decodeBinding(encodeBinding(c, b))
	if err != nil {
		t.Fatal(err)
	}
	if rec.mn != mn || rec.llid != c.llid(b) {
		t.Errorf("record: mn %d octets, llid %d; want %d and %d", len(rec.mn.id), len(rec.llid), len(mn.id), len(c.llid(b)))
	}
}

// The mobile nodes' index against a plain model, with hashes that never
// collide and with every identifier sharing one hash (mnMask 0): each
// walk finds exactly the mobile node's sessions, through additions and
// removals at the head, middle and tail of the chains.
func TestCacheMobileNodeIndex(t *testing.T) {
	for _, mask := range []uint64{^uint64(0), 0, 1} {
		t.Run(fmt.Sprintf("mask%x", mask), func(t *testing.T) {
			c := newCache()
			c.mnMask = mask
			rng := rand.New(rand.NewPCG(1, mask))
			mns := []mnKey{
				{mh.MNIDNAI, "a@example.net"}, {mh.MNIDNAI, "b@example.net"},
				{mh.MNIDEUI48, "\x02\x00\x00\x00\x00\x01"}, {mh.MNIDNAI, "\x02\x00\x00\x00\x00\x01"},
				{mh.MNIDNAI, strings.Repeat("x", 100) + "@example.net"},
				{mh.MNIDNAI, strings.Repeat("x", 99) + "y@example.net"},
			}
			model := map[mnKey][]uint64{}
			var nextID uint64 = 1
			check := func(step int) {
				t.Helper()
				for _, k := range mns {
					var got []uint64
					for b := c.firstOfMN(k); b != nil; b = c.nextOf(b) {
						got = append(got, b.id)
					}
					var fromOf []uint64
					for _, b := range c.ofMN(k) {
						fromOf = append(fromOf, b.id)
					}
					want := slices.Clone(model[k])
					slices.Sort(got)
					slices.Sort(fromOf)
					slices.Sort(want)
					if !slices.Equal(got, want) || !slices.Equal(fromOf, want) {
						t.Fatalf("step %d, %v: walk %v, ofMN %v, want %v", step, k, got, fromOf, want)
					}
				}
			}
			for step := range 400 {
				k := mns[rng.IntN(len(mns))]
				if ids := model[k]; len(ids) > 0 && rng.IntN(3) == 0 {
					// Remove one of its sessions: head, middle or tail.
					i := rng.IntN(len(ids))
					c.remove(c.get(ids[i]))
					model[k] = slices.Delete(ids, i, i+1)
				} else {
					b := c.alloc()
					b.id = nextID
					nextID++
					c.setMN(b, k)
					c.setLLID(b, fmt.Sprint(step))
					b.mag = c.intern("ap1")
					b.hnp = packPfx(netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(step)}), 64))
					b.nhnp = 1
					b.deadline = int64(rng.IntN(1000))
					c.add(b)
					model[k] = append(model[k], b.id)
				}
				check(step)
			}
			for k, ids := range model {
				for _, id := range ids {
					c.remove(c.get(id))
				}
				delete(model, k)
				check(-1)
			}
			if len(c.byMN) != 0 || len(c.byID) != 0 || len(c.long) != 0 {
				t.Errorf("empty cache keeps byMN %d, byID %d, long %d", len(c.byMN), len(c.byID), len(c.long))
			}
		})
	}
}

// The lookups a PBU makes allocate nothing.
func TestCacheLookupsAllocateNothing(t *testing.T) {
	c := newCache()
	k := mnKey{mh.MNIDNAI, "mn12345@bench.example.net"}
	b := c.alloc()
	b.id = 1
	c.setMN(b, k)
	c.setLLID(b, "\x02\x00\x00\x00\x00\x01")
	c.add(b)
	if a := testing.AllocsPerRun(100, func() {
		f := c.firstOfMN(k)
		if f == nil || c.nextOf(f) != nil || !c.isMN(f, k) || !c.llidIs(f, "\x02\x00\x00\x00\x00\x01") {
			t.Fatal("lookup failed")
		}
	}); a != 0 {
		t.Errorf("%v allocations per lookup", a)
	}
}
