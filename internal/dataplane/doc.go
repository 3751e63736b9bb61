// Package dataplane is the only code of openpmip that changes kernel state:
// tunnels, addresses, routes, policy rules and the nftables anti-spoofing
// table of both daemons.
//
// The engines describe the whole data plane they want as a [State] and hand
// it to [Reconciler.Set], which compares it with what the kernel holds and
// makes the difference, in a documented order (see [Plan]). Set is
// idempotent: the same State twice changes nothing the second time. A nil or
// empty State tears down everything the package owns.
//
// # Ownership
//
// The package only ever reads, changes or removes objects it owns, and it
// recognises them after a daemon restart without any state file:
//
//   - links: tunnels whose name starts with [Options.LinkPrefix] ("pmip" by
//     default) and whose kind is one of ip6tnl, ip6gre, sit, gre;
//   - routes and policy rules: rtm_protocol / FRA_PROTOCOL equal to
//     [Options.Protocol] (RTPROT 0x9e by default; add "158 pmip" to
//     /etc/iproute2/rt_protos.d/pmip.conf to see the name in `ip route`);
//   - addresses: IFA_PROTO equal to [Options.Protocol] (Linux 6.1+; older
//     kernels drop the attribute, so addresses left over from a previous run
//     are adopted only when the new State asks for them again);
//   - nftables: the inet table [Options.Table] ("pmip").
//
// Settings of devices that are not ours, and of the namespace, are set
// too, and never restored (a daemon that stops or restarts must not cut
// the forwarding of its router; the previous values are in no file of
// ours): the MAC address of the MAG's access interfaces ([LinkMAC], the
// fixed router address of RFC 5213 6.9.3), how the kernel makes their
// link-local addresses ([AddrGenMode], none: the fixed one of RFC 5213 6.8
// is an [Address] of ours), and network sysctls ([Sysctl]: forwarding,
// accept_ra). The daemons write nothing under /proc themselves. Our own
// tunnels get IPv4 reverse-path filtering off when created (with
// net.ipv4.conf.all.rp_filter=0 from the engines, see [Tunnel]).
//
// # Tunnels and GRE keys
//
// The LMA has one tunnel device per MAG, shared by all the clients that MAG
// serves (RFC 5213 5.6.1). GRE keys are per mobility session (RFC 5845 3),
// so one device per key would mean one device per client: instead a single
// flow-based ("external", collect_md) ip6gre or gre device carries every
// keyed session, and each client's route names its key and its MAG in a
// lightweight-tunnel encapsulation ([Encap]), the netlink equivalent of
// `ip route add P encap ip6 id KEY dst MAG dev pmip-gre6`. Adding a client
// is one route, never a device.
//
// # Anti-spoofing and flows
//
// On the MAG, packets that arrive on an access interface must come from the
// sending client's own prefix or IPv4 home address, or they are dropped
// rather than tunnelled ([Filter]). The check is one nftables lookup in a
// set keyed by the client's MAC address and source address; adding or
// removing a client is one set element, never a ruleset rewrite. On the
// LMA, packets that arrive from a MAG's tunnel must come from a home
// address of a session that tunnel serves ([TunnelSource]), one element
// per prefix likewise; keyed GRE, which shares one flow-based device among
// all sessions, is checked before decapsulation as (MAG . key . inner
// source) ([GRESource]). The same
// table holds a map from traffic selectors to packet marks ([Flow]), the
// mark choosing a routing table that points into a tunnel, so that moving a
// flow (RFC 7864) is one map element.
package dataplane
