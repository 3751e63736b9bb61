// Package mh is the Mobility Header wire format of Proxy Mobile IPv6: one
// Go type per message and per mobility option, pure functions, no sockets
// and no clock.
//
// Parse reads a Mobility Header starting at its Payload Proto octet (RFC
// 6275 6.1.1) and returns one of the message types of this package;
// Marshal writes one back, inserting the Pad1/PadN options that each
// option's alignment requirement (RFC 6275 6.2, "xn+y") and the 8-octet
// length rule need. Marshal leaves the checksum zero: the raw IPv6 socket
// asks the kernel to fill it (IPV6_CHECKSUM); Checksum computes it for the
// callers that carry the header themselves (UDP/IPv4, pcaps, tests).
//
// Unknown mobility options are kept byte-exact as *RawOption and unknown
// message types as *UnknownMessage, so a packet round-trips through
// Parse and Marshal without losing what this package does not understand.
package mh
