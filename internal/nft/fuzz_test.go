package nft

import (
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzParse: the decoders of what a resync reads back never panic on any
// payload, fail only with ErrMalformed or io.ErrUnexpectedEOF, and
// elements they accept marshal back to a message that decodes to the same
// elements.
func FuzzParse(f *testing.F) {
	for _, m := range []Msg{
		&NewTable{Family: FamilyINet, Name: "pmip"},
		&NewChain{Family: FamilyINet, Table: "pmip", Name: "antispoof1", Type: "filter", Hook: HookPrerouting, Priority: PriorityRaw, Policy: VerdictAccept},
		&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "src6", ID: 3, Flags: SetInterval, Key: []Datatype{TypeEtherAddr, TypeIP6Addr}}},
		&NewSetElem{Family: FamilyINet, Table: "pmip", Set: "src6", Elems: []Element{
			{Key: make([]byte, 24), KeyEnd: make([]byte, 24)},
			{Key: []byte{1}, Data: []byte{0, 0, 0, 1}, Flags: ElemIntervalEnd},
		}},
	} {
		f.Add(Marshal(m).Data)
	}
	f.Add([]byte{1, 0, 0, 0, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ok := func(err error) {
			if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither ErrMalformed nor io.ErrUnexpectedEOF", err)
			}
		}
		_, err := ParseTable(b)
		ok(err)
		_, err = ParseChain(b)
		ok(err)
		_, err = ParseSet(b)
		ok(err)
		table, set, elems, err := ParseElements(b)
		ok(err)
		if err != nil {
			return
		}
		again := Marshal(&NewSetElem{Family: b[0], Table: table, Set: set, Elems: elems})
		table2, set2, elems2, err := ParseElements(again.Data)
		if err != nil {
			t.Fatalf("re-marshalled elements do not parse: %v", err)
		}
		if table2 != table || set2 != set || !reflect.DeepEqual(norm(elems2), norm(elems)) {
			t.Fatalf("round trip: %q %q %+v, then %q %q %+v", table, set, elems, table2, set2, elems2)
		}
	})
}

// norm treats an empty and a missing field alike: an empty key end or
// data is not sent.
func norm(es []Element) []Element {
	out := make([]Element, len(es))
	for i, e := range es {
		if len(e.KeyEnd) == 0 {
			e.KeyEnd = nil
		}
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out[i] = e
	}
	return out
}
