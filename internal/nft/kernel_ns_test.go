package nft

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/openpmip/pmip/internal/nstest"
	"golang.org/x/sys/unix"
)

// TestKernel, on the host kernel (root; skipped without):
//
//	ns "nft": table inet t {
//	  set h { type ether_addr . ipv6_addr }                 (hash)
//	  set i { type ether_addr . ipv6_addr; flags interval } (pipapo)
//	  map m { type ipv4_addr . inet_service : mark; flags interval }
//	  chain c { type filter hook prerouting priority raw; policy accept;
//	    meta nfproto ipv6 ether saddr . ip6 saddr @h counter return }
//	}
//
// A transaction builds it, the dumps read back what was written, the
// kernel's refusals arrive as errors naming the message, and a refused
// transaction leaves nothing behind.
func TestKernel(t *testing.T) {
	ns := nstest.New(t, "nft")
	var c *Conn
	if err := ns.Do(func() (err error) { c, err = Dial(); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	h := Set{Family: FamilyINet, Table: "t", Name: "h", ID: 1, Key: []Datatype{TypeEtherAddr, TypeIP6Addr}}
	i := Set{Family: FamilyINet, Table: "t", Name: "i", ID: 2, Flags: SetInterval, Key: h.Key}
	m := Set{Family: FamilyINet, Table: "t", Name: "m", ID: 3, Flags: SetInterval | SetMap, Key: []Datatype{TypeIPAddr, TypeInetService}, Data: TypeMark}
	chain := &NewChain{Family: FamilyINet, Table: "t", Name: "c", Type: "filter", Hook: HookPrerouting, Priority: PriorityRaw, Policy: VerdictAccept}
	err := c.Do(
		&NewTable{Family: FamilyINet, Name: "t"},
		&NewSet{h}, &NewSet{i}, &NewSet{m},
		chain,
		&NewRule{Family: FamilyINet, Table: "t", Chain: "c", Exprs: []Expr{
			&Meta{Key: MetaNFProto, Reg: Reg1},
			&Cmp{Op: CmpEq, Reg: Reg1, Data: []byte{FamilyIPv6}},
			&Payload{Base: BaseLL, Offset: 6, Len: 6, Reg: Reg1},
			&Payload{Base: BaseNetwork, Offset: 8, Len: 16, Reg: Reg32 + 2},
			&Lookup{Src: Reg1, Set: "h", SetID: 1},
			&Counter{},
			&Verdict{Code: VerdictReturn},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}

	ts, err := c.Tables(FamilyINet)
	if err != nil || !slices.Contains(ts, Table{FamilyINet, "t"}) {
		t.Errorf("tables %+v, %v", ts, err)
	}
	cs, err := c.Chains(FamilyINet)
	if err != nil || !slices.Contains(cs, Chain{FamilyINet, "t", "c"}) {
		t.Errorf("chains %+v, %v", cs, err)
	}
	ss, err := c.Sets(FamilyINet, "t")
	if err != nil || len(ss) != 3 {
		t.Fatalf("sets %+v, %v", ss, err)
	}
	for _, s := range ss {
		var want Set
		switch s.Name {
		case "h":
			want = h
		case "i":
			want = i
		case "m":
			want = m
		}
		const layout = SetInterval | SetMap | SetConcat
		if s.KeyLen != want.KeyLen() || s.KeyType != want.KeyType() || s.Flags&layout != (want.Flags|SetConcat)&layout || s.DataLen != want.Data.Len {
			t.Errorf("set %s read back as %+v", s.Name, s)
		}
	}

	mac := []byte{2, 0, 0, 0, 0, 1, 0, 0}
	key := append(append([]byte(nil), mac...), 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	end := append(append([]byte(nil), key[:16]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	mkey := []byte{10, 1, 0, 0, 0, 80, 0, 0}
	mend := []byte{10, 1, 0, 255, 0, 80, 0, 0}
	if err := c.Do(
		&NewSetElem{Family: FamilyINet, Table: "t", Set: "h", Elems: []Element{{Key: key}}},
		&NewSetElem{Family: FamilyINet, Table: "t", Set: "i", Elems: []Element{{Key: key, KeyEnd: end}}},
		&NewSetElem{Family: FamilyINet, Table: "t", Set: "m", Elems: []Element{{Key: mkey, KeyEnd: mend, Data: []byte{0x11, 0, 0, 0}}}},
	); err != nil {
		t.Fatal(err)
	}
	read := func(set string) []Element {
		t.Helper()
		es, err := c.Elements(FamilyINet, "t", set)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	if es := read("h"); len(es) != 1 || string(es[0].Key) != string(key) || es[0].KeyEnd != nil {
		t.Errorf("h holds %+v", es)
	}
	if es := read("i"); len(es) != 1 || string(es[0].Key) != string(key) || string(es[0].KeyEnd) != string(end) {
		t.Errorf("i holds %+v", es)
	}
	if es := read("m"); len(es) != 1 || string(es[0].KeyEnd) != string(mend) || string(es[0].Data) != "\x11\x00\x00\x00" {
		t.Errorf("m holds %+v", es)
	}

	// Refusals: each names its message and wraps the kernel's errno.
	refused := func(err error, errno unix.Errno, names string) {
		t.Helper()
		if !errors.Is(err, errno) || !strings.Contains(err.Error(), names) {
			t.Errorf("error %v, want %v naming %q", err, errno, names)
		}
	}
	other := make([]byte, len(key))
	copy(other, key)
	other[6] = 0x99 // not in h
	refused(c.Do(&DelSetElem{Family: FamilyINet, Table: "t", Set: "h", Elems: []Element{{Key: other}}}), unix.ENOENT, "DELSETELEM t h")
	refused(c.Do(&DelTable{Family: FamilyINet, Name: "nope"}), unix.ENOENT, "DELTABLE nope")
	// A base chain cannot move to another priority: EOPNOTSUPP since
	// Linux 5.x (nf_tables_updchain), EBUSY before.
	moved := *chain
	moved.Priority = PriorityFilter
	err = c.Do(&moved)
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "NEWCHAIN t c") {
		t.Errorf("moving a base chain: %v", err)
	}

	// All or nothing: the second message fails, the first is undone.
	refused(c.Do(
		&NewTable{Family: FamilyINet, Name: "u"},
		&NewSetElem{Family: FamilyINet, Table: "u", Set: "nope", Elems: []Element{{Key: key}}},
	), unix.ENOENT, "NEWSETELEM u nope")
	if ts, err := c.Tables(FamilyINet); err != nil || slices.Contains(ts, Table{FamilyINet, "u"}) {
		t.Errorf("after a refused transaction: tables %+v, %v", ts, err)
	}
	// The socket is still in step: a delete now works.
	if err := c.Do(&DelSetElem{Family: FamilyINet, Table: "t", Set: "h", Elems: []Element{{Key: key}}}); err != nil {
		t.Error(err)
	}
	if es := read("h"); len(es) != 0 {
		t.Errorf("h holds %+v after the delete", es)
	}

	// A transaction larger than the default receive buffer holds
	// acknowledgements for (about 265): every one is read, the socket
	// stays in step.
	var big []Msg
	for n := range 1000 {
		k := append([]byte(nil), key...)
		k[4], k[5] = byte(n>>8), byte(n)
		big = append(big, &NewSetElem{Family: FamilyINet, Table: "t", Set: "h", Elems: []Element{{Key: k}}})
	}
	if err := c.Do(big...); err != nil {
		t.Fatalf("1000 elements: %v", err)
	}
	if es := read("h"); len(es) != 1000 {
		t.Errorf("h holds %d elements, want 1000", len(es))
	}
	if err := c.Do(&DelTable{Family: FamilyINet, Name: "t"}); err != nil {
		t.Error(err)
	}
}
