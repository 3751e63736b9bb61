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
// kept whole by the linker (it registers its expression parsers at
// init). Measured at the switch (docs/mag.md, section 6): the MAG's amd64
// binary 213 kB smaller (this package is 23 kB of it), its resident
// memory with 64 clients 7,840-8,040 -> 7,656-7,688 kB (under the 7,812
// kB budget), the mipsle binary 45 kB smaller after xz, the LMA's 217
// kB. google/nftables stays a test dependency: the tests build the same
// objects with it and compare the bytes of each message, and
// internal/dataplane compares every message it sends with what it sent
// through google/nftables.
//
// Attribute headers are in the host's byte order, the integers inside
// nf_tables attributes big-endian; the user data nft reads back
// (NFTA_SET_USERDATA) is in host order as libnftnl writes it.
package nft
