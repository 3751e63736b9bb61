// Package lma is the local mobility anchor of Proxy Mobile IPv6 (RFC 5213
// 5): it answers Proxy Binding Updates from authorized MAGs, keeps the
// Binding Cache, assigns home network prefixes and IPv4 home addresses
// (RFC 5844 3.2) from its pools, negotiates GRE keys (RFC 5845), holds
// the data plane (one tunnel per MAG, a route per home prefix and IPv4
// home address) in step through internal/dataplane, persists every
// accepted binding before acknowledging it, exchanges heartbeats with the
// MAGs (RFC 5847) and revokes bindings (RFC 5846).
//
// # Event flow
//
//	transport.Conn ─ReadBatch─► receive ═ loop (loopMu: owns all protocol state; one mh.Decoder)
//	                                        │  validate (RFC 5213 5.3.1)
//	                                        │  lookup (5.4.1), assign, cache
//	                                        ├─► applier ─► dataplane.Change
//	                                        └─► writes ─► store.Submit ─durable─► sender ─WriteBatch─► PBAs
//
// "The loop" is whoever holds loopMu: a receiver goroutine for the batch
// it has just read (no hand-over to another goroutine on a PBU's path),
// the loop goroutine for timers, the operations API and follow-ups.
//
// The loop never waits for the disk or the kernel: a registration is
// applied in memory, its record (a refresh's: only its refresh record,
// record.go) joins the loop turn's store.Batch, and the
// turn's writes go to the store in one Submit (every 32 PBUs of a received
// batch and after each event); the store's callback, when the group
// commit is durable (store.Options.Durability: synced, or written to the
// kernel), queues the turn's PBAs and sends them with one WriteBatch from
// the store's goroutine. The sender goroutine writes everything else
// (rejections, heartbeats) the same way. Writes keep the log's order, so
// a PBU arriving while its binding's write is in flight is applied after
// it in memory and written after it. A failed write turns the PBA into a
// rejection and removes the binding. A store without Submit gets each
// write from a persister worker instead.
//
// # Memory
//
// The Binding Cache holds no pointers (binding.go): a million bindings
// cost about 414 octets each and the collector does not scan them.
//
// # Timers
//
// All time comes from an injected internal/clock: one timer for the
// earliest binding deadline (lifetime or MinDelayBeforeBCEDelete), one per
// PBU held by MaxDelayBeforeNewBCEAssign, one for heartbeat rounds and one
// per unacknowledged Binding Revocation Indication.
//
// # Operations
//
// Bindings, Pools, MAGs, Counters and RevokeMobileNode serve pmipctl and
// metrics; Reload applies a new configuration on SIGHUP.
package lma
