// Package nft speaks the few nf_tables netlink messages the data plane
// needs, and nothing else: a transaction of NEWTABLE, DELTABLE, NEWCHAIN
// (base chains), NEWSET, NEWSETELEM, DELSETELEM and NEWRULE (with the
// meta, cmp, payload, bitwise, lookup, counter and immediate verdict
// expressions), and the dumps of tables, chains, sets and set elements
// that a resync reads back. Layouts follow the kernel's user API,
// include/uapi/linux/netfilter/nf_tables.h and nfnetlink.h, as
// net/netfilter/nf_tables_api.c parses them.
//
// It replaces github.com/google/nftables in the daemons: that library is
// kept whole by the linker (it registers its expression parsers at init)
// and cost the MAG about 324 kB of amd64 binary, so about as much
// resident memory, and 69 kB after xz on mipsle (docs/mag.md, section
// 6). google/nftables stays a test dependency: the tests build the same
// objects with it and compare the bytes of each message.
//
// Attribute headers are in the host's byte order, the integers inside
// nf_tables attributes big-endian; the user data nft reads back
// (NFTA_SET_USERDATA) is in host order as libnftnl writes it.
package nft
