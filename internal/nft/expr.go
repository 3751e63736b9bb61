package nft

// Expr is one expression of a rule (NFTA_LIST_ELEM of
// NFTA_RULE_EXPRESSIONS: NFTA_EXPR_NAME and NFTA_EXPR_DATA). Registers
// are Reg1 (16 bytes) or Reg32+k (4 bytes each, the same memory).
type Expr interface {
	exprName() string
	appendData(e *enc)
}

// Meta loads the packet's meta information Key (MetaNFProto,
// MetaIIFName, ...) into register Reg (nft_meta.c, NFTA_META_KEY and
// NFTA_META_DREG), or with Set stores register Reg into it
// (NFTA_META_SREG, as `meta mark set`).
type Meta struct {
	Key uint32
	Reg uint32
	Set bool
}

// Cmp compares register Reg with Data (nft_cmp.c: NFTA_CMP_SREG,
// NFTA_CMP_OP, NFTA_CMP_DATA); the rule stops when it does not hold.
type Cmp struct {
	Op   uint32
	Reg  uint32
	Data []byte
}

// Payload loads Len bytes at Offset from header Base into register Reg
// (nft_payload.c: NFTA_PAYLOAD_DREG, BASE, OFFSET, LEN). The rule stops
// where the packet has no such header (a non-first fragment's
// transport header).
type Payload struct {
	Base   uint32
	Offset uint32
	Len    uint32
	Reg    uint32
}

// Bitwise computes Dst = (Src & Mask) ^ Xor over Len bytes
// (nft_bitwise.c, boolean operation: NFTA_BITWISE_SREG, DREG, LEN, MASK,
// XOR).
type Bitwise struct {
	Src  uint32
	Dst  uint32
	Len  uint32
	Mask []byte
	Xor  []byte
}

// Lookup looks register Src up in set Set (nft_lookup.c: NFTA_LOOKUP_SET,
// NFTA_LOOKUP_SET_ID, NFTA_LOOKUP_SREG): the rule goes on when it is
// there, or with Invert (NFT_LOOKUP_F_INV) when it is not. For a map,
// HasDst loads the element's data into register Dst (NFTA_LOOKUP_DREG).
type Lookup struct {
	Set    string
	SetID  uint32
	Src    uint32
	Dst    uint32
	HasDst bool
	Invert bool
}

// Counter counts the packets and bytes that reach it (nft_counter.c,
// starting from zero: NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS).
type Counter struct{}

// Verdict ends the rule with a verdict (nft_immediate.c: NFTA_IMMEDIATE_DREG
// NFT_REG_VERDICT and NFTA_IMMEDIATE_DATA holding NFTA_DATA_VERDICT,
// NFTA_VERDICT_CODE): VerdictDrop, VerdictAccept, VerdictReturn.
type Verdict struct{ Code int32 }

func (*Meta) exprName() string    { return "meta" }
func (*Cmp) exprName() string     { return "cmp" }
func (*Payload) exprName() string { return "payload" }
func (*Bitwise) exprName() string { return "bitwise" }
func (*Lookup) exprName() string  { return "lookup" }
func (*Counter) exprName() string { return "counter" }
func (*Verdict) exprName() string { return "immediate" }

func (x *Meta) appendData(e *enc) {
	e.u32(metaKey, x.Key)
	if x.Set {
		e.u32(metaSreg, x.Reg)
	} else {
		e.u32(metaDreg, x.Reg)
	}
}

func (x *Cmp) appendData(e *enc) {
	e.u32(cmpSreg, x.Reg)
	e.u32(cmpOp, x.Op)
	e.value(cmpData, x.Data)
}

func (x *Payload) appendData(e *enc) {
	e.u32(payloadDreg, x.Reg)
	e.u32(payloadBase, x.Base)
	e.u32(payloadOffset, x.Offset)
	e.u32(payloadLen, x.Len)
}

func (x *Bitwise) appendData(e *enc) {
	e.u32(bitwiseSreg, x.Src)
	e.u32(bitwiseDreg, x.Dst)
	e.u32(bitwiseLen, x.Len)
	e.value(bitwiseMask, x.Mask)
	e.value(bitwiseXor, x.Xor)
}

func (x *Lookup) appendData(e *enc) {
	e.u32(lookupSreg, x.Src)
	if x.HasDst {
		e.u32(lookupDreg, x.Dst)
	}
	if x.Invert {
		e.u32(lookupFlags, lookupFInv)
	}
	e.str(lookupSet, x.Set)
	e.u32(lookupSetID, x.SetID)
}

func (*Counter) appendData(e *enc) {
	e.u64(counterBytes, 0)
	e.u64(counterPkts, 0)
}

func (x *Verdict) appendData(e *enc) {
	e.u32(immediateDreg, RegVerdict)
	data := e.nest(immediateData | nlaFNested)
	v := e.nest(dataVerdict | nlaFNested)
	e.u32(verdictCode, uint32(x.Code))
	e.end(v)
	e.end(data)
}
