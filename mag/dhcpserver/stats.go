package dhcpserver

import "sync/atomic"

// Stats are the server's counters since it started.
type Stats struct {
	// Frames read from the DHCP socket, and those dropped because they
	// were malformed (bad headers, checksums, DHCP encoding, chaddr not
	// the sender's MAC) or not for us (replies, BOOTP, relayed, other
	// ports: normally filtered in the kernel already).
	Received, Malformed, Ignored uint64
	// Client messages by type (RFC 2131 3).
	Discovers, Requests, Declines, Releases, Informs uint64
	// Server messages sent.
	Offers, Acks, Naks uint64
	// New clients remembered (each then told to the engine at once or
	// after queuing), and those dropped because MaxPending clients were
	// waiting: every DISCOVER or REQUEST from a new client is one or the
	// other.
	NewClients, PendingFull uint64
	// OnClientSeen calls, and new clients that queued for the trigger
	// rate before the engine was told of them.
	Triggers, Queued uint64
	// Pending transactions answered after LeaseReady, and those that
	// expired first.
	Answered, Expired uint64
	// Leases from the engine that could not be served (Lease.validate).
	BadLeases uint64
	// ARP frames read, and replies sent for the default router or
	// another on-link address.
	ARPReceived, ARPReplies uint64
	// Routers announced to clients that moved here (LeaseReady with no
	// DHCP exchange waiting): one ARP request each.
	ARPAnnouncements uint64
	// Write errors on either socket.
	WriteErrors uint64
}

type counters struct {
	received, malformed, ignored                     atomic.Uint64
	discovers, requests, declines, releases, informs atomic.Uint64
	offers, acks, naks                               atomic.Uint64
	newClients, triggers, queued, pendingFull        atomic.Uint64
	answered, expired, badLeases                     atomic.Uint64
	arpReceived, arpReplies, writeErrors             atomic.Uint64
	arpAnnouncements                                 atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received: c.received.Load(), Malformed: c.malformed.Load(), Ignored: c.ignored.Load(),
		Discovers: c.discovers.Load(), Requests: c.requests.Load(), Declines: c.declines.Load(),
		Releases: c.releases.Load(), Informs: c.informs.Load(),
		Offers: c.offers.Load(), Acks: c.acks.Load(), Naks: c.naks.Load(),
		NewClients: c.newClients.Load(), PendingFull: c.pendingFull.Load(),
		Triggers: c.triggers.Load(), Queued: c.queued.Load(),
		Answered: c.answered.Load(), Expired: c.expired.Load(), BadLeases: c.badLeases.Load(),
		ARPReceived: c.arpReceived.Load(), ARPReplies: c.arpReplies.Load(), WriteErrors: c.writeErrors.Load(),
		ARPAnnouncements: c.arpAnnouncements.Load(),
	}
}
