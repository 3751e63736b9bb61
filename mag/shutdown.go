package mag

import (
	"context"
)

// DeregisterAll ends every binding of the Binding Update List, as a MAG
// that stops serving its access links must: a Proxy Binding Update with
// lifetime 0 for each client the LMA may hold a binding for (RFC 5213
// 6.9.1.4), retransmitted as RFC 5213 6.9.4 says, the data plane entries
// removed and final Router Advertisements with zero lifetimes sent to the
// clients still on the link (RFC 4861 6.2.5, via Advertiser.Withdraw).
// Clients waiting for their identity (identity.go) and rejected ones held
// off are forgotten; from then on the engine registers no new client.
//
// It returns once every deregistration is acknowledged or given up, or
// when ctx ends, or when Run has returned (no acknowledgement can be read
// any more), with the number of deregistrations still unanswered then
// (the LMA expires those bindings itself when their lifetime runs out).
// Run must still be running for the acknowledgements to be read; stop the
// attach triggers first so that they do not keep the access side busy.
func (e *Engine) DeregisterAll(ctx context.Context) (unanswered int) {
	e.mu.Lock()
	e.draining = true
	var fx effects
	n := 0
	for _, b := range e.clients {
		if b.state == stateRegistered || b.state == stateRegistering {
			e.log.Info("deregistering on shutdown", "binding", b)
			n++
		}
		fx = append(fx, e.deregisterLocked(b, dropWithdraw)...)
	}
	for k, h := range e.holds {
		e.endHoldLocked(k)
		l, mac := h.t.link, h.t.mac
		fx = append(fx, func() { e.forgetAccess(l, mac) })
	}
	e.mu.Unlock()
	if n > 0 {
		e.log.Info("deregistration PBUs sent", "clients", n)
	}
	fx.run()

	for {
		left, closed := e.deregistrationsInFlight()
		if left == 0 || closed {
			return left
		}
		// Woken by each deregistration that leaves the list of PBUs in
		// flight (its PBA, its give-up) and by Run's end.
		select {
		case <-ctx.Done():
			return left
		case <-e.deregDone:
		}
	}
}

// deregistrationsInFlight counts lifetime-0 PBUs awaiting their PBA, and
// reports whether Run has ended.
func (e *Engine) deregistrationsInFlight() (n int, closed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.inflight {
		if b.state == stateDeregistering {
			n++
		}
	}
	return n, e.closed
}

// deregistrationEndedLocked wakes a DeregisterAll waiting for the
// deregistrations in flight.
func (e *Engine) deregistrationEndedLocked() {
	select {
	case e.deregDone <- struct{}{}:
	default: // already signalled: DeregisterAll counts again anyway
	}
}
