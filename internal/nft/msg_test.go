package nft

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// TestMarshalGolden: messages whose bytes are written out here, checked
// by hand against nf_tables.h (nfgenmsg, then attributes: length and
// type in host order, NUL-terminated names, big-endian integers).
//
// The hex is written for a little-endian host; on a big-endian one the
// attribute headers (and only they) are turned to host order before the
// comparison, so the same table checks that values stay big-endian.
func TestMarshalGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  Msg
		typ  uint16
		hex  string
	}{
		{
			"new table", &NewTable{Family: FamilyINet, Name: "pmip"}, 0x0a00,
			"01000000" + // nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0
				"09000100706d697000000000" + // NFTA_TABLE_NAME "pmip\0" + 3 padding
				"0800020000000000", // NFTA_TABLE_FLAGS 0
		},
		{
			"delete table", &DelTable{Family: FamilyINet, Name: "t"}, 0x0a02,
			"01000000" + "0600010074000000" + "0800020000000000",
		},
		{
			"rule: return", &NewRule{Family: FamilyIPv6, Table: "t", Chain: "c", Exprs: []Expr{&Verdict{Code: VerdictReturn}}}, 0x0a06,
			"0a000000" + // NFPROTO_IPV6
				"0600010074000000" + // NFTA_RULE_TABLE "t"
				"0600020063000000" + // NFTA_RULE_CHAIN "c"
				"34000480" + // NFTA_RULE_EXPRESSIONS, nested
				"30000180" + // NFTA_LIST_ELEM, nested
				"0e000100696d6d65646961746500" + "0000" + // NFTA_EXPR_NAME "immediate\0"
				"1c000280" + // NFTA_EXPR_DATA, nested
				"0800010000000000" + // NFTA_IMMEDIATE_DREG NFT_REG_VERDICT
				"10000280" + "0c000280" + // NFTA_IMMEDIATE_DATA { NFTA_DATA_VERDICT {
				"08000100fffffffb", // NFTA_VERDICT_CODE NFT_RETURN (-5) } }
		},
		{
			"element: ether . ipv6 /64", &NewSetElem{Family: FamilyINet, Table: "pmip", Set: "src6h", Elems: []Element{{
				Key: append([]byte{2, 0, 0, 0, 0, 1, 0, 0}, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			}}}, 0x0a0c,
			"01000000" +
				"0a0002007372633668000000" + // NFTA_SET_ELEM_LIST_SET "src6h\0"
				"09000100706d697000000000" + // NFTA_SET_ELEM_LIST_TABLE "pmip\0"
				"28000380" + // NFTA_SET_ELEM_LIST_ELEMENTS
				"24000180" + // NFTA_LIST_ELEM
				"20000180" + // NFTA_SET_ELEM_KEY
				"1c000100" + "0200000000010000" + "20010db8000100000000000000000000", // NFTA_DATA_VALUE, MAC padded to 8, prefix
		},
	} {
		m := Marshal(c.msg)
		if got := uint16(m.Header.Type); got != c.typ {
			t.Errorf("%s: type %#04x, want %#04x", c.name, got, c.typ)
		}
		want, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		if !littleEndian {
			want = append(want[:4:4], headersToHost(want[4:])...)
		}
		if !bytes.Equal(m.Data, want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, m.Data, want)
		}
		if m.Header.Flags&netlink.Acknowledge == 0 {
			t.Errorf("%s: no NLM_F_ACK", c.name)
		}
	}
}

// headersToHost rewrites little-endian attribute headers in host order,
// opening nested attributes (NLA_F_NESTED).
func headersToHost(b []byte) []byte {
	var out []byte
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint16(b))
		typ := binary.LittleEndian.Uint16(b[2:])
		if n < 4 || n > len(b) {
			return append(out, b...)
		}
		out = binary.NativeEndian.AppendUint16(out, uint16(n))
		out = binary.NativeEndian.AppendUint16(out, typ)
		data := b[4:n]
		if typ&nlaFNested != 0 {
			data = headersToHost(data)
		}
		out = append(out, data...)
		p := min((n+3)&^3, len(b))
		out = append(out, b[n:p]...)
		b = b[p:]
	}
	return out
}

// googleMsgs returns the messages google/nftables queues for fn, without
// the batch delimiters.
func googleMsgs(t *testing.T, fn func(c *nftables.Conn, tb *nftables.Table)) []netlink.Message {
	t.Helper()
	var sent []netlink.Message
	c, err := nftables.New(nftables.WithTestDial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if reqs == nil {
			return nil, io.EOF
		}
		var acks []netlink.Message
		for _, r := range reqs {
			sent = append(sent, r)
			acks = append(acks, netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: r.Header.Sequence}, Data: make([]byte, 20)})
		}
		return acks, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	fn(c, &nftables.Table{Name: "pmip", Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(sent) < 2 {
		t.Fatalf("google/nftables sent %d messages", len(sent))
	}
	return sent[1 : len(sent)-1]
}

// describe renders a payload attribute by attribute (nested ones
// opened), for a readable diff.
func describe(b []byte) string {
	if len(b) < 4 {
		return hex.EncodeToString(b)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "nfgenmsg %x\n", b[:4])
	var walk func(b []byte, depth int)
	walk = func(b []byte, depth int) {
		for len(b) >= 4 {
			n := int(binary.NativeEndian.Uint16(b))
			typ := binary.NativeEndian.Uint16(b[2:])
			if n < 4 || n > len(b) {
				fmt.Fprintf(&sb, "%s(bad) %x\n", strings.Repeat("  ", depth), b)
				return
			}
			data := b[4:n]
			fmt.Fprintf(&sb, "%stype %#x len %d", strings.Repeat("  ", depth), typ, n)
			if typ&nlaFNested != 0 {
				sb.WriteString(" {\n")
				walk(data, depth+1)
				fmt.Fprintf(&sb, "%s}\n", strings.Repeat("  ", depth))
			} else {
				fmt.Fprintf(&sb, " %x\n", data)
			}
			b = b[min((n+3)&^3, len(b)):]
		}
	}
	walk(b[4:], 0)
	return sb.String()
}

// TestMarshalAsGoogleNFTables: each message built by this package and by
// github.com/google/nftables v0.3.0 (the library it replaces, which the
// kernel accepted from us for two sessions) has the same bytes, header
// type and flags. What legitimately differs is normalised: google asks
// NLM_F_ECHO for rules (a copy of the rule we never read).
//
// On a big-endian host one more: google/nftables writes a set's user data
// (NFTNL_UDATA_SET_KEYBYTEORDER) little-endian, libnftnl, which nft reads
// it with, and we in host order.
func TestMarshalAsGoogleNFTables(t *testing.T) {
	key6 := append([]byte{2, 0, 0, 0, 0, 1, 0, 0}, make([]byte, 16)...)
	key6[8], key6[9] = 0x20, 0x01
	end6 := append([]byte(nil), key6...)
	end6[23] = 0xff
	accept := nftables.ChainPolicyAccept
	drop := nftables.ChainPolicyDrop
	ether6 := nftables.MustConcatSetType(nftables.TypeEtherAddr, nftables.TypeIP6Addr)
	flows := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	for _, c := range []struct {
		name   string
		ours   []Msg
		google func(c *nftables.Conn, tb *nftables.Table)
	}{
		{"table", []Msg{&NewTable{Family: FamilyINet, Name: "pmip"}, &DelTable{Family: FamilyINet, Name: "pmip"}},
			func(c *nftables.Conn, tb *nftables.Table) { c.AddTable(tb); c.DelTable(tb) }},
		{"table ipv4", []Msg{&NewTable{Family: FamilyIPv4, Name: "x"}},
			func(c *nftables.Conn, _ *nftables.Table) {
				c.AddTable(&nftables.Table{Name: "x", Family: nftables.TableFamilyIPv4})
			}},
		{"base chains", []Msg{
			&NewChain{Family: FamilyINet, Table: "pmip", Name: "antispoof1", Type: "filter", Hook: HookPrerouting, Priority: PriorityRaw, Policy: VerdictAccept},
			&NewChain{Family: FamilyINet, Table: "pmip", Name: "dhcp1", Type: "filter", Hook: HookForward, Priority: PriorityFilter, Policy: VerdictDrop},
			&NewChain{Family: FamilyINet, Table: "pmip", Name: "in", Type: "filter", Hook: HookInput, Priority: PriorityMangle, Policy: VerdictAccept},
		}, func(c *nftables.Conn, tb *nftables.Table) {
			c.AddChain(&nftables.Chain{Name: "antispoof1", Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, Policy: &accept})
			c.AddChain(&nftables.Chain{Name: "dhcp1", Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
			c.AddChain(&nftables.Chain{Name: "in", Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityMangle, Policy: &accept})
		}},
		{"sets", []Msg{
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "access", ID: 1, Key: []Datatype{TypeIfName}}},
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "peer4", ID: 2, Key: []Datatype{TypeIPAddr}}},
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "src6h", ID: 3, Key: []Datatype{TypeEtherAddr, TypeIP6Addr}}},
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "src6", ID: 4, Flags: SetInterval, Key: []Datatype{TypeEtherAddr, TypeIP6Addr}}},
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "flows4", ID: 5, Flags: SetInterval | SetMap, Key: []Datatype{TypeIPAddr, TypeIPAddr, TypeInetProto, TypeInetService}, Data: TypeMark}},
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "gsrc46", ID: 6, Flags: SetInterval, Key: []Datatype{TypeIPAddr, TypeInteger, TypeIP6Addr}}},
			&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "tsrc6", ID: 7, Flags: SetInterval, Key: []Datatype{TypeIfName, TypeIP6Addr}}},
		}, func(c *nftables.Conn, tb *nftables.Table) {
			for _, s := range []*nftables.Set{
				{Table: tb, ID: 1, Name: "access", KeyType: nftables.TypeIFName},
				{Table: tb, ID: 2, Name: "peer4", KeyType: nftables.TypeIPAddr},
				{Table: tb, ID: 3, Name: "src6h", KeyType: ether6, Concatenation: true},
				{Table: tb, ID: 4, Name: "src6", KeyType: ether6, Interval: true, Concatenation: true},
				{Table: tb, ID: 5, Name: "flows4", KeyType: flows, DataType: nftables.TypeMark, IsMap: true, Interval: true, Concatenation: true},
				{Table: tb, ID: 6, Name: "gsrc46", KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInteger, nftables.TypeIP6Addr), Interval: true, Concatenation: true},
				{Table: tb, ID: 7, Name: "tsrc6", KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIP6Addr), Interval: true, Concatenation: true},
			} {
				if err := c.AddSet(s, nil); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"elements", []Msg{
			&NewSetElem{Family: FamilyINet, Table: "pmip", Set: "src6h", SetID: 3, Elems: []Element{{Key: key6}}},
			&NewSetElem{Family: FamilyINet, Table: "pmip", Set: "src6", SetID: 4, Elems: []Element{{Key: key6, KeyEnd: end6}}},
			&NewSetElem{Family: FamilyINet, Table: "pmip", Set: "flows4", SetID: 5, Elems: []Element{{Key: make([]byte, 16), KeyEnd: []byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0}, Data: []byte{0x10, 0, 0, 0}}}},
			&DelSetElem{Family: FamilyINet, Table: "pmip", Set: "src6h", SetID: 3, Elems: []Element{{Key: key6}}},
			&DelSetElem{Family: FamilyINet, Table: "pmip", Set: "src6", SetID: 4, Elems: []Element{{Key: key6, KeyEnd: end6}}},
		}, func(c *nftables.Conn, tb *nftables.Table) {
			s6h := &nftables.Set{Table: tb, ID: 3, Name: "src6h"}
			s6 := &nftables.Set{Table: tb, ID: 4, Name: "src6"}
			f4 := &nftables.Set{Table: tb, ID: 5, Name: "flows4"}
			for _, err := range []error{
				c.SetAddElements(s6h, []nftables.SetElement{{Key: key6}}),
				c.SetAddElements(s6, []nftables.SetElement{{Key: key6, KeyEnd: end6}}),
				c.SetAddElements(f4, []nftables.SetElement{{Key: make([]byte, 16), KeyEnd: []byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0}, Val: []byte{0x10, 0, 0, 0}}}),
				c.SetDeleteElements(s6h, []nftables.SetElement{{Key: key6}}),
				c.SetDeleteElements(s6, []nftables.SetElement{{Key: key6, KeyEnd: end6}}),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"rules", []Msg{
			&NewRule{Family: FamilyINet, Table: "pmip", Chain: "antispoof1", Exprs: []Expr{
				&Meta{Key: MetaIIFName, Reg: Reg1},
				&Lookup{Src: Reg1, Set: "access", SetID: 1, Invert: true},
				&Verdict{Code: VerdictReturn},
			}},
			&NewRule{Family: FamilyINet, Table: "pmip", Chain: "antispoof1", Exprs: []Expr{
				&Meta{Key: MetaNFProto, Reg: Reg1},
				&Cmp{Op: CmpEq, Reg: Reg1, Data: []byte{FamilyIPv6}},
				&Meta{Key: MetaIIFType, Reg: Reg1},
				&Cmp{Op: CmpNeq, Reg: Reg1, Data: binary.NativeEndian.AppendUint16(nil, 1)},
				&Payload{Base: BaseLL, Offset: 6, Len: 6, Reg: Reg1},
				&Payload{Base: BaseNetwork, Offset: 8, Len: 16, Reg: Reg32 + 2},
				&Bitwise{Src: Reg32 + 2, Dst: Reg32 + 2, Len: 16, Mask: []byte{255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0}, Xor: make([]byte, 16)},
				&Lookup{Src: Reg1, Set: "src6h", SetID: 3},
				&Verdict{Code: VerdictReturn},
			}},
			&NewRule{Family: FamilyINet, Table: "pmip", Chain: "flows1", Exprs: []Expr{
				&Payload{Base: BaseTransport, Offset: 2, Len: 2, Reg: Reg32 + 9},
				&Lookup{Src: Reg1, Dst: Reg1, HasDst: true, Set: "flows4", SetID: 5},
				&Meta{Key: MetaMark, Reg: Reg1, Set: true},
			}},
			&NewRule{Family: FamilyINet, Table: "pmip", Chain: "antispoof1", Exprs: []Expr{
				&Meta{Key: MetaL4Proto, Reg: Reg1},
				&Counter{},
				&Verdict{Code: VerdictDrop},
				&Verdict{Code: VerdictAccept},
			}},
		}, func(c *nftables.Conn, tb *nftables.Table) {
			ch := &nftables.Chain{Name: "antispoof1", Table: tb}
			c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Lookup{SourceRegister: 1, SetName: "access", SetID: 1, Invert: true},
				&expr.Verdict{Kind: expr.VerdictReturn},
			}})
			c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10}},
				&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(1)},
				&expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6, DestRegister: 1},
				&expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16, DestRegister: 10},
				&expr.Bitwise{SourceRegister: 10, DestRegister: 10, Len: 16, Mask: []byte{255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0}, Xor: make([]byte, 16)},
				&expr.Lookup{SourceRegister: 1, SetName: "src6h", SetID: 3},
				&expr.Verdict{Kind: expr.VerdictReturn},
			}})
			c.AddRule(&nftables.Rule{Table: tb, Chain: &nftables.Chain{Name: "flows1", Table: tb}, Exprs: []expr.Any{
				&expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2, DestRegister: 17},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: "flows4", SetID: 5},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
			}})
			c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictDrop},
				&expr.Verdict{Kind: expr.VerdictAccept},
			}})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := googleMsgs(t, c.google)
			if len(want) != len(c.ours) {
				t.Fatalf("%d messages, google/nftables %d", len(c.ours), len(want))
			}
			for i, m := range c.ours {
				got := Marshal(m)
				w := want[i]
				const echo = 0x8 // NLM_F_ECHO
				if got.Header.Type != w.Header.Type || got.Header.Flags != w.Header.Flags&^echo {
					t.Errorf("%s: header type %#x flags %#x, google %#x %#x", m, got.Header.Type, got.Header.Flags, w.Header.Type, w.Header.Flags)
				}
				wantData := w.Data
				if !littleEndian && got.Header.Type == nfnlSubsysNFTables<<8|msgNewSet {
					wantData = bytes.Replace(wantData, []byte{udataSetKeyByteOrder, 4, 2, 0, 0, 0}, []byte{udataSetKeyByteOrder, 4, 0, 0, 0, 2}, 1)
				}
				if !bytes.Equal(got.Data, wantData) {
					t.Errorf("%s:\n got %s\nwant %s", m, describe(got.Data), describe(wantData))
				}
			}
		})
	}
}
