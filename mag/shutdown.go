package mag

import (
	"context"
	"time"
)

// deregisterPoll is how often DeregisterAll looks whether the last
// deregistration was answered. The answers arrive on Run's goroutine; a
// poll keeps this hook out of the engine's PBA path.
const deregisterPoll = 5 * time.Millisecond

// DeregisterAll ends every binding of the Binding Update List, as a MAG
// that stops serving its access links must: a Proxy Binding Update with
// lifetime 0 for each client the LMA may hold a binding for (RFC 5213
// 6.9.1.4), retransmitted as RFC 5213 6.9.4 says, the data plane entries
// removed and final Router Advertisements with zero lifetimes sent to the
// clients still on the link (RFC 4861 6.2.5, via Advertiser.Withdraw).
//
// It returns once every deregistration is acknowledged or given up, or
// when ctx ends, with the number of deregistrations still unanswered
// then (the LMA expires those bindings itself when their lifetime runs
// out). Run must still be running, or no acknowledgement is read; stop
// the attach triggers first so no new registration starts meanwhile.
func (e *Engine) DeregisterAll(ctx context.Context) (unanswered int) {
	e.mu.Lock()
	var fx effects
	n := 0
	for _, b := range e.clients {
		e.log.Info("deregistering on shutdown", "binding", b)
		fx = append(fx, e.deregisterLocked(b, dropWithdraw)...)
		n++
	}
	e.mu.Unlock()
	if n > 0 {
		e.log.Info("deregistration PBUs sent", "clients", n)
	}
	fx.run()

	t := time.NewTicker(deregisterPoll)
	defer t.Stop()
	for {
		left := e.deregistrationsInFlight()
		if left == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return left
		case <-t.C:
		}
	}
}

// deregistrationsInFlight counts lifetime-0 PBUs awaiting their PBA.
func (e *Engine) deregistrationsInFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, b := range e.inflight {
		if b.state == stateDeregistering {
			n++
		}
	}
	return n
}
