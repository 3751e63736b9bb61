package nft

// Constants of the kernel's nf_tables netlink interface. Every value is
// the kernel's user API: include/uapi/linux/netfilter/nfnetlink.h (NFNL),
// include/uapi/linux/netfilter/nf_tables.h (NFT, NFTA), with the
// enum named beside each group; const_test.go checks those that
// golang.org/x/sys/unix also carries against it.

// nfnetlink.h: the nfnetlink subsystem of nf_tables and the batch
// delimiters (NFNL_MSG_BATCH_BEGIN = NLMSG_MIN_TYPE).
const (
	nfnlSubsysNFTables = 10   // NFNL_SUBSYS_NFTABLES
	nfnlMsgBatchBegin  = 0x10 // NFNL_MSG_BATCH_BEGIN
	nfnlMsgBatchEnd    = 0x11 // NFNL_MSG_BATCH_END
	nfnetlinkV0        = 0    // NFNETLINK_V0, nfgenmsg.version
	sizeofNFGenMsg     = 4    // struct nfgenmsg: family, version, __be16 res_id
)

// nf_tables.h enum nf_tables_msg_types.
const (
	msgNewTable   = 0  // NFT_MSG_NEWTABLE
	msgGetTable   = 1  // NFT_MSG_GETTABLE
	msgDelTable   = 2  // NFT_MSG_DELTABLE
	msgNewChain   = 3  // NFT_MSG_NEWCHAIN
	msgGetChain   = 4  // NFT_MSG_GETCHAIN
	msgNewRule    = 6  // NFT_MSG_NEWRULE
	msgNewSet     = 9  // NFT_MSG_NEWSET
	msgGetSet     = 10 // NFT_MSG_GETSET
	msgNewSetElem = 12 // NFT_MSG_NEWSETELEM
	msgGetSetElem = 13 // NFT_MSG_GETSETELEM
	msgDelSetElem = 14 // NFT_MSG_DELSETELEM
)

// netlink.h: attribute header flags (struct nlattr nla_type).
const (
	nlaFNested    = 1 << 15 // NLA_F_NESTED
	nlaFByteOrder = 1 << 14 // NLA_F_NET_BYTEORDER
)

// Families (include/uapi/linux/netfilter.h enum NFPROTO_*).
const (
	FamilyINet = 1  // NFPROTO_INET
	FamilyIPv4 = 2  // NFPROTO_IPV4
	FamilyIPv6 = 10 // NFPROTO_IPV6
)

// nf_tables.h enum nft_table_attributes.
const (
	tableName  = 1 // NFTA_TABLE_NAME
	tableFlags = 2 // NFTA_TABLE_FLAGS
)

// nf_tables.h enum nft_chain_attributes and enum nft_hook_attributes.
const (
	chainTable    = 1 // NFTA_CHAIN_TABLE
	chainName     = 3 // NFTA_CHAIN_NAME
	chainHook     = 4 // NFTA_CHAIN_HOOK
	chainPolicy   = 5 // NFTA_CHAIN_POLICY
	chainType     = 7 // NFTA_CHAIN_TYPE
	hookHooknum   = 1 // NFTA_HOOK_HOOKNUM
	hookPriority  = 2 // NFTA_HOOK_PRIORITY
	listElem      = 1 // NFTA_LIST_ELEM (enum nft_list_attributes)
	ruleTable     = 1 // NFTA_RULE_TABLE (enum nft_rule_attributes)
	ruleChain     = 2 // NFTA_RULE_CHAIN
	ruleExprs     = 4 // NFTA_RULE_EXPRESSIONS
	exprName      = 1 // NFTA_EXPR_NAME (enum nft_expr_attributes)
	exprData      = 2 // NFTA_EXPR_DATA
	dataValue     = 1 // NFTA_DATA_VALUE (enum nft_data_attributes)
	dataVerdict   = 2 // NFTA_DATA_VERDICT
	verdictCode   = 1 // NFTA_VERDICT_CODE (enum nft_verdict_attributes)
	setFieldLen   = 1 // NFTA_SET_FIELD_LEN (enum nft_set_field_attributes)
	setDescConcat = 2 // NFTA_SET_DESC_CONCAT (enum nft_set_desc_attributes)
)

// Netfilter hooks (include/uapi/linux/netfilter.h enum nf_inet_hooks) and
// the priorities nft names (include/uapi/linux/netfilter_ipv4.h enum
// nf_ip_hook_priorities, the same numbers in netfilter_ipv6.h).
const (
	HookPrerouting = 0 // NF_INET_PRE_ROUTING
	HookInput      = 1 // NF_INET_LOCAL_IN
	HookForward    = 2 // NF_INET_FORWARD

	PriorityRaw    = -300 // NF_IP_PRI_RAW
	PriorityMangle = -150 // NF_IP_PRI_MANGLE
	PriorityFilter = 0    // NF_IP_PRI_FILTER
)

// nf_tables.h enum nft_set_attributes.
const (
	setTable    = 1  // NFTA_SET_TABLE
	setName     = 2  // NFTA_SET_NAME
	setFlagsA   = 3  // NFTA_SET_FLAGS
	setKeyType  = 4  // NFTA_SET_KEY_TYPE
	setKeyLen   = 5  // NFTA_SET_KEY_LEN
	setDataType = 6  // NFTA_SET_DATA_TYPE
	setDataLen  = 7  // NFTA_SET_DATA_LEN
	setDesc     = 9  // NFTA_SET_DESC
	setID       = 10 // NFTA_SET_ID
	setUserdata = 13 // NFTA_SET_USERDATA
)

// Set flags, nf_tables.h enum nft_set_flags.
const (
	SetInterval = 0x4  // NFT_SET_INTERVAL
	SetMap      = 0x8  // NFT_SET_MAP
	SetConcat   = 0x80 // NFT_SET_CONCAT
)

// nf_tables.h enum nft_set_elem_list_attributes and enum
// nft_set_elem_attributes.
const (
	elemListTable    = 1  // NFTA_SET_ELEM_LIST_TABLE
	elemListSet      = 2  // NFTA_SET_ELEM_LIST_SET
	elemListElements = 3  // NFTA_SET_ELEM_LIST_ELEMENTS
	elemListSetID    = 4  // NFTA_SET_ELEM_LIST_SET_ID
	elemKey          = 1  // NFTA_SET_ELEM_KEY
	elemData         = 2  // NFTA_SET_ELEM_DATA
	elemFlags        = 3  // NFTA_SET_ELEM_FLAGS
	elemKeyEnd       = 10 // NFTA_SET_ELEM_KEY_END

	// ElemIntervalEnd marks the closing element of an interval in a set
	// without KEY_END (nf_tables.h enum nft_set_elem_flags,
	// NFT_SET_ELEM_INTERVAL_END).
	ElemIntervalEnd = 0x1
)

// Registers (nf_tables.h enum nft_registers): NFT_REG_1 is 16 bytes,
// the same memory as NFT_REG32_00..03; a concatenation's field k starts
// at the 4-byte register NFT_REG32_00 + offset/4.
const (
	RegVerdict = 0 // NFT_REG_VERDICT
	Reg1       = 1 // NFT_REG_1
	Reg32      = 8 // NFT_REG32_00
)

// Expression attributes, nf_tables.h enum nft_immediate_attributes,
// nft_cmp_attributes, nft_lookup_attributes, nft_meta_attributes,
// nft_payload_attributes, nft_bitwise_attributes, nft_counter_attributes.
const (
	immediateDreg = 1 // NFTA_IMMEDIATE_DREG
	immediateData = 2 // NFTA_IMMEDIATE_DATA
	cmpSreg       = 1 // NFTA_CMP_SREG
	cmpOp         = 2 // NFTA_CMP_OP
	cmpData       = 3 // NFTA_CMP_DATA
	lookupSet     = 1 // NFTA_LOOKUP_SET
	lookupSreg    = 2 // NFTA_LOOKUP_SREG
	lookupDreg    = 3 // NFTA_LOOKUP_DREG
	lookupSetID   = 4 // NFTA_LOOKUP_SET_ID
	lookupFlags   = 5 // NFTA_LOOKUP_FLAGS
	metaDreg      = 1 // NFTA_META_DREG
	metaKey       = 2 // NFTA_META_KEY
	metaSreg      = 3 // NFTA_META_SREG
	payloadDreg   = 1 // NFTA_PAYLOAD_DREG
	payloadBase   = 2 // NFTA_PAYLOAD_BASE
	payloadOffset = 3 // NFTA_PAYLOAD_OFFSET
	payloadLen    = 4 // NFTA_PAYLOAD_LEN
	bitwiseSreg   = 1 // NFTA_BITWISE_SREG
	bitwiseDreg   = 2 // NFTA_BITWISE_DREG
	bitwiseLen    = 3 // NFTA_BITWISE_LEN
	bitwiseMask   = 4 // NFTA_BITWISE_MASK
	bitwiseXor    = 5 // NFTA_BITWISE_XOR
	counterBytes  = 1 // NFTA_COUNTER_BYTES
	counterPkts   = 2 // NFTA_COUNTER_PACKETS

	lookupFInv = 1 // NFT_LOOKUP_F_INV (enum nft_lookup_flags)
)

// Comparison operators, nf_tables.h enum nft_cmp_ops.
const (
	CmpEq  = 0 // NFT_CMP_EQ
	CmpNeq = 1 // NFT_CMP_NEQ
)

// Meta keys, nf_tables.h enum nft_meta_keys.
const (
	MetaMark    = 3  // NFT_META_MARK
	MetaIIFName = 6  // NFT_META_IIFNAME
	MetaIIFType = 8  // NFT_META_IIFTYPE
	MetaNFProto = 15 // NFT_META_NFPROTO
	MetaL4Proto = 16 // NFT_META_L4PROTO
)

// Payload bases, nf_tables.h enum nft_payload_bases.
const (
	BaseLL        = 0 // NFT_PAYLOAD_LL_HEADER
	BaseNetwork   = 1 // NFT_PAYLOAD_NETWORK_HEADER
	BaseTransport = 2 // NFT_PAYLOAD_TRANSPORT_HEADER
)

// Verdicts: include/uapi/linux/netfilter.h (NF_DROP, NF_ACCEPT) and
// nf_tables.h enum nft_verdicts (NFT_RETURN). A chain's policy takes the
// netfilter ones.
const (
	VerdictDrop   int32 = 0  // NF_DROP
	VerdictAccept int32 = 1  // NF_ACCEPT
	VerdictReturn int32 = -5 // NFT_RETURN
)

// Data types as nft names them in a set's key and data type
// (nftables' include/datatype.h enum datatypes; the kernel stores them
// for nft and never reads them), with their length in bytes.
var (
	TypeInteger     = Datatype{Magic: 4, Len: 4}   // TYPE_INTEGER (a 32-bit integer)
	TypeIPAddr      = Datatype{Magic: 7, Len: 4}   // TYPE_IPADDR
	TypeIP6Addr     = Datatype{Magic: 8, Len: 16}  // TYPE_IP6ADDR
	TypeEtherAddr   = Datatype{Magic: 9, Len: 6}   // TYPE_ETHERADDR
	TypeInetProto   = Datatype{Magic: 12, Len: 1}  // TYPE_INET_PROTOCOL
	TypeInetService = Datatype{Magic: 13, Len: 2}  // TYPE_INET_SERVICE
	TypeMark        = Datatype{Magic: 19, Len: 4}  // TYPE_MARK
	TypeIfName      = Datatype{Magic: 41, Len: 16} // TYPE_IFNAME (IFNAMSIZ)
)

// nftables' src/datatype.c concat_type_alloc: a concatenation's type is
// its fields' types, TYPE_BITS (6) bits each, the first field highest.
const concatTypeBits = 6

// libnftnl's include/libnftnl/udata.h: the set's user data TLV that nft
// reads back to print keys (NFTNL_UDATA_SET_KEYBYTEORDER), value 2 for
// big-endian (nftables' include/datatype.h BYTEORDER_BIG_ENDIAN).
const (
	udataSetKeyByteOrder = 0
	byteOrderBigEndian   = 2
)
