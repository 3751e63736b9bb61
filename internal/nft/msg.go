package nft

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"
)

// Msg is one nf_tables request of a transaction (see [Conn.Do]): a
// netlink message of the NFNL_SUBSYS_NFTABLES subsystem whose payload is
// a struct nfgenmsg and the object's attributes.
type Msg interface {
	// String names the message in errors, as "NEWSETELEM pmip src6h".
	String() string
	msgType() uint8
	flags() netlink.HeaderFlags
	family() uint8
	appendAttrs(e *enc)
}

// Header flags (include/uapi/linux/netlink.h). Every request asks for
// its acknowledgement, so that each gets its own error (nfnetlink.c
// nfnetlink_rcv_batch sends one per NLM_F_ACK message, success or not).
const (
	flagCreate = 0x400 // NLM_F_CREATE
	flagAppend = 0x800 // NLM_F_APPEND
)

// Marshal renders m as the netlink message that carries it; sequence
// and port are left to the connection.
func Marshal(m Msg) netlink.Message {
	e := enc{b: nfgenmsg(m.family(), 0)}
	m.appendAttrs(&e)
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfnlSubsysNFTables<<8 | uint16(m.msgType())),
			Flags: m.flags(),
		},
		Data: e.b,
	}
}

// nfgenmsg is include/uapi/linux/netfilter/nfnetlink.h struct nfgenmsg:
// family, version NFNETLINK_V0, and res_id (big-endian; the subsystem
// for batch delimiters, 0 otherwise).
func nfgenmsg(family uint8, resID uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{family, nfnetlinkV0}, resID)
}

// batch wraps a transaction's messages: nfnetlink.c nfnetlink_rcv takes
// every message between NFNL_MSG_BATCH_BEGIN and NFNL_MSG_BATCH_END
// (res_id NFNL_SUBSYS_NFTABLES) as one transaction, applied whole or not
// at all.
func batch(msgs []Msg) []netlink.Message {
	out := make([]netlink.Message, 0, len(msgs)+2)
	delim := func(t uint16) netlink.Message {
		return netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(t), Flags: netlink.Request},
			Data:   nfgenmsg(0, nfnlSubsysNFTables),
		}
	}
	out = append(out, delim(nfnlMsgBatchBegin))
	for _, m := range msgs {
		out = append(out, Marshal(m))
	}
	return append(out, delim(nfnlMsgBatchEnd))
}

const (
	ack    = netlink.Request | netlink.Acknowledge
	create = ack | flagCreate
)

// NewTable creates table Name of Family (NFT_MSG_NEWTABLE, attributes
// NFTA_TABLE_NAME and NFTA_TABLE_FLAGS 0); adding a table that exists is
// not an error (no NLM_F_EXCL).
type NewTable struct {
	Family uint8
	Name   string
}

func (m *NewTable) String() string           { return "NEWTABLE " + m.Name }
func (*NewTable) msgType() uint8             { return msgNewTable }
func (*NewTable) flags() netlink.HeaderFlags { return create }
func (m *NewTable) family() uint8            { return m.Family }
func (m *NewTable) appendAttrs(e *enc)       { e.str(tableName, m.Name); e.u32(tableFlags, 0) }

// DelTable deletes table Name of Family with everything in it
// (NFT_MSG_DELTABLE); a table that does not exist is ENOENT.
type DelTable struct {
	Family uint8
	Name   string
}

func (m *DelTable) String() string           { return "DELTABLE " + m.Name }
func (*DelTable) msgType() uint8             { return msgDelTable }
func (*DelTable) flags() netlink.HeaderFlags { return ack }
func (m *DelTable) family() uint8            { return m.Family }
func (m *DelTable) appendAttrs(e *enc)       { e.str(tableName, m.Name); e.u32(tableFlags, 0) }

// NewChain creates a base chain (NFT_MSG_NEWCHAIN): attached to netfilter
// hook Hook (NFTA_CHAIN_HOOK: NFTA_HOOK_HOOKNUM, NFTA_HOOK_PRIORITY) of
// type Type ("filter"), with Policy (NF_ACCEPT or NF_DROP) for packets
// that no rule decides.
type NewChain struct {
	Family   uint8
	Table    string
	Name     string
	Type     string
	Hook     uint32
	Priority int32
	Policy   int32
}

func (m *NewChain) String() string           { return "NEWCHAIN " + m.Table + " " + m.Name }
func (*NewChain) msgType() uint8             { return msgNewChain }
func (*NewChain) flags() netlink.HeaderFlags { return create }
func (m *NewChain) family() uint8            { return m.Family }

func (m *NewChain) appendAttrs(e *enc) {
	e.str(chainTable, m.Table)
	e.str(chainName, m.Name)
	at := e.nest(chainHook | nlaFNested)
	e.u32(hookHooknum, m.Hook)
	e.u32(hookPriority, uint32(m.Priority))
	e.end(at)
	e.u32(chainPolicy, uint32(m.Policy))
	e.str(chainType, m.Type)
}

// Datatype is the type of a set's key or data field as nft names it, and
// its length in bytes.
type Datatype struct {
	Magic uint32
	Len   uint32
}

// Set describes a named set or map of a table. A key of several fields
// is a concatenation (NFT_SET_CONCAT), each field padded to a 4-byte
// register. Data is the type of a map's values (Flags has SetMap).
type Set struct {
	Family uint8
	Table  string
	Name   string
	// ID names the set to the other messages of the transaction that
	// creates it (NFTA_SET_ID, NFTA_LOOKUP_SET_ID); 0 elsewhere.
	ID    uint32
	Flags uint32 // SetInterval, SetMap; SetConcat is added for a concatenation
	Key   []Datatype
	Data  Datatype
}

// KeyType is NFTA_SET_KEY_TYPE: the key's field types, concatenated as
// nft does (concatTypeBits each).
func (s *Set) KeyType() uint32 {
	var t uint32
	for _, f := range s.Key {
		t = t<<concatTypeBits | f.Magic&(1<<concatTypeBits-1)
	}
	if len(s.Key) == 1 {
		return s.Key[0].Magic
	}
	return t
}

// KeyLen is NFTA_SET_KEY_LEN: the fields' lengths, each of a
// concatenation rounded up to NFT_REG32_SIZE (4), as the kernel's
// nft_set_desc_concat checks them.
func (s *Set) KeyLen() uint32 {
	if len(s.Key) == 1 {
		return s.Key[0].Len
	}
	var n uint32
	for _, f := range s.Key {
		n += (f.Len + 3) &^ 3
	}
	return n
}

// NewSet creates a set (NFT_MSG_NEWSET). A concatenation carries its
// fields' lengths (NFTA_SET_DESC, NFTA_SET_DESC_CONCAT, one
// NFTA_SET_FIELD_LEN per field) that the kernel's pipapo and hash
// backends need; an interval set carries the user data nft reads to
// print its keys.
type NewSet struct{ Set Set }

func (m *NewSet) String() string           { return "NEWSET " + m.Set.Table + " " + m.Set.Name }
func (*NewSet) msgType() uint8             { return msgNewSet }
func (*NewSet) flags() netlink.HeaderFlags { return create }
func (m *NewSet) family() uint8            { return m.Set.Family }

func (m *NewSet) appendAttrs(e *enc) {
	s := &m.Set
	flags := s.Flags
	if len(s.Key) > 1 {
		flags |= SetConcat
	}
	e.str(setTable, s.Table)
	e.str(setName, s.Name)
	e.u32(setFlagsA, flags)
	e.u32(setKeyType, s.KeyType())
	e.u32(setKeyLen, s.KeyLen())
	e.u32(setID, s.ID)
	if flags&SetMap != 0 {
		e.u32(setDataType, s.Data.Magic)
		e.u32(setDataLen, s.Data.Len)
	}
	if len(s.Key) > 1 {
		desc := e.nest(setDesc | nlaFNested)
		concat := e.nest(setDescConcat | nlaFNested)
		for _, f := range s.Key {
			// NFTA_LIST_ELEM holding NFTA_SET_FIELD_LEN (nf_tables_api.c
			// nft_set_desc_concat_parse); the field's own length, the
			// kernel rounds it up.
			el := e.nest(listElem)
			e.u32(setFieldLen, f.Len)
			e.end(el)
		}
		e.end(concat)
		e.end(desc)
	}
	if flags&SetInterval != 0 {
		// libnftnl udata TLV: type, length, value in host order.
		ud := []byte{udataSetKeyByteOrder, 4}
		ud = binary.NativeEndian.AppendUint32(ud, byteOrderBigEndian)
		e.attr(setUserdata, ud)
	}
}

// Element is one element of a set: its key, the end of its range in an
// interval set of concatenations (NFTA_SET_ELEM_KEY_END), a map's data,
// and its flags (ElemIntervalEnd).
type Element struct {
	Key    []byte
	KeyEnd []byte
	Data   []byte
	Flags  uint32
}

// NewSetElem adds elements to set Set of Table (NFT_MSG_NEWSETELEM);
// adding one that exists is not an error (no NLM_F_EXCL).
type NewSetElem struct {
	Family uint8
	Table  string
	Set    string
	SetID  uint32 // the set's ID when it is created in the same transaction
	Elems  []Element
}

func (m *NewSetElem) String() string           { return "NEWSETELEM " + m.Table + " " + m.Set }
func (*NewSetElem) msgType() uint8             { return msgNewSetElem }
func (*NewSetElem) flags() netlink.HeaderFlags { return create }
func (m *NewSetElem) family() uint8            { return m.Family }
func (m *NewSetElem) appendAttrs(e *enc)       { appendElems(e, m.Table, m.Set, m.SetID, m.Elems) }

// DelSetElem deletes elements from set Set of Table
// (NFT_MSG_DELSETELEM); an element that is not there is ENOENT. Its
// header carries NLM_F_CREATE as google/nftables sent it (the kernel
// ignores it on a deletion), so our bytes stay those the daemons sent
// before.
type DelSetElem struct {
	Family uint8
	Table  string
	Set    string
	SetID  uint32
	Elems  []Element
}

func (m *DelSetElem) String() string           { return "DELSETELEM " + m.Table + " " + m.Set }
func (*DelSetElem) msgType() uint8             { return msgDelSetElem }
func (*DelSetElem) flags() netlink.HeaderFlags { return create }
func (m *DelSetElem) family() uint8            { return m.Family }
func (m *DelSetElem) appendAttrs(e *enc)       { appendElems(e, m.Table, m.Set, m.SetID, m.Elems) }

func appendElems(e *enc, table, set string, id uint32, elems []Element) {
	e.str(elemListSet, set)
	if id != 0 {
		e.u32(elemListSetID, id)
	}
	e.str(elemListTable, table)
	list := e.nest(elemListElements | nlaFNested)
	for _, el := range elems {
		at := e.nest(listElem | nlaFNested)
		if el.Flags != 0 {
			e.u32(elemFlags, el.Flags)
		}
		e.value(elemKey, el.Key)
		if len(el.KeyEnd) > 0 {
			e.value(elemKeyEnd, el.KeyEnd)
		}
		if len(el.Data) > 0 {
			e.value(elemData, el.Data)
		}
		e.end(at)
	}
	e.end(list)
}

// NewRule appends a rule of expressions to chain Chain of Table
// (NFT_MSG_NEWRULE with NLM_F_APPEND: after the chain's last rule).
type NewRule struct {
	Family uint8
	Table  string
	Chain  string
	Exprs  []Expr
}

func (m *NewRule) String() string           { return "NEWRULE " + m.Table + " " + m.Chain }
func (*NewRule) msgType() uint8             { return msgNewRule }
func (*NewRule) flags() netlink.HeaderFlags { return create | flagAppend }
func (m *NewRule) family() uint8            { return m.Family }

func (m *NewRule) appendAttrs(e *enc) {
	e.str(ruleTable, m.Table)
	e.str(ruleChain, m.Chain)
	list := e.nest(ruleExprs | nlaFNested)
	for _, x := range m.Exprs {
		at := e.nest(listElem | nlaFNested)
		e.str(exprName, x.exprName())
		d := e.nest(exprData | nlaFNested)
		x.appendData(e)
		e.end(d)
		e.end(at)
	}
	e.end(list)
}

// getMsg is a dump request (NLM_F_DUMP) of the GET message typ.
func getMsg(typ uint8, family uint8, attrs func(e *enc)) netlink.Message {
	e := enc{b: nfgenmsg(family, 0)}
	if attrs != nil {
		attrs(&e)
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfnlSubsysNFTables<<8 | uint16(typ)),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: e.b,
	}
}
