// Package mag is the mobile access gateway engine of Proxy Mobile IPv6
// (RFC 5213 6, RFC 5844 3 and 4, RFC 5845, RFC 5846, RFC 5847): it turns
// the access side's attach and detach events into registrations with the
// local mobility anchor, and the anchor's answers into a data plane and a
// served client.
//
//	hostapd station event ─┐                          ┌─> internal/dataplane Set
//	sniff RS / DAD / DHCP ─┼─> Engine: one binding ───┤   (tunnel, reverse-tunnel
//	dhcpserver OnClientSeen┘   per MAC (dedup)        │    rules, on-link routes,
//	                             │  PBU (P, A)        │    anti-spoof sources)
//	                             v                    ├─> dhcpserver LeaseReady
//	                    transport.Conn <─> LMA        ├─> ra Serve (HNP)
//	                             │  PBA / Heartbeat   └─> sniff Registered
//	                             v  / BRI
//	                 Binding Update List: retransmission with backoff,
//	                 refresh before expiry, deregistration on detach,
//	                 re-registration after an LMA restart, revocation
//
// The Engine owns the Binding Update List (RFC 5213 6.1): one entry per
// client MAC, whatever told the MAG about the client first. On an access
// link where hostapd reports stations, a client heard first by its own
// frames waits (Config.IdentityWait) for hostapd's event or its control
// socket's answer, so that it registers once, under its 802.1X identity
// (identity.go). The LMA
// decides, the MAG obeys: the home network prefixes advertised and the
// IPv4 home address leased are exactly those of the last accepted Proxy
// Binding Acknowledgement.
//
// Concurrency: one mutex guards the Binding Update List. The engine never
// calls an access-side component (RA advertiser, DHCP server, sniffer) or
// the data plane while holding it, so those may call back into the engine
// from any of their methods. Data plane updates are serialised by a second
// mutex and always hand over the whole desired state computed at the time
// of the call, so a late update never overwrites a newer one. Time comes
// from an injected clock.Clock; tests drive it with clocktest.
package mag
