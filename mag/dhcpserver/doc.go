// Package dhcpserver is the MAG's collocated DHCPv4 server (RFC 5844
// 3.4.1, "DHCP server co-located with the mobile access gateway") and the
// ARP responder for its clients' default router.
//
// The LMA assigns, the MAG obeys: the server hands out exactly the IPv4
// home address, prefix length and default router that the Proxy Binding
// Acknowledgement carried, which it reads from the engine (Engine.Lookup).
// It never allocates an address itself.
//
//	client                     Server                          Engine
//	  │ DHCPDISCOVER ─────────>│ Lookup: no lease               │
//	  │                        │ remember xid, OnClientSeen ───>│ PBU ─> LMA
//	  │   (nothing offered     │                                │
//	  │    before the PBA)     │<──────────── LeaseReady(mac) ──│ <─ PBA
//	  │<────────── DHCPOFFER ──│ same xid, at once              │
//	  │ DHCPREQUEST ──────────>│ Lookup: lease                  │
//	  │<──────────── DHCPACK ──│                                │
//	  │ ARP who-has router ───>│ Lookup: registered, on-link    │
//	  │<─ router is-at MAG MAC │                                │
//
// Frames travel on two packet sockets (Listen): the server builds and
// parses Ethernet, IPv4 and UDP itself, so it needs no IPv4 address on the
// access link and reaches clients that have none yet (RFC 2131 4.1). Tests
// inject in-memory conns instead (dhcpservertest).
//
// Against floods (issue 4, "Bad input") the server bounds the clients
// waiting for a lease (Config.MaxPending, beyond which new clients are
// dropped), paces attach triggers overall (token bucket: a burst beyond
// it queues, in arrival order, rather than being dropped) and per client
// (Config.TriggerInterval), counts every drop (Stats) and rate-limits its
// warnings.
package dhcpserver
