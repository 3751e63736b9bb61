package lma

import (
	"github.com/openpmip/pmip/internal/mh"
)

// Binding Errors are rate-limited as ICMPv6 errors are (RFC 6275 9.3.3,
// RFC 4443 2.4 (f)): a token bucket of bindingErrorBurst messages refilled
// at bindingErrorRate a second, shared by all senders, so that a flood of
// unknown messages (from spoofed sources, too) is not reflected.
const (
	bindingErrorRate  = 10
	bindingErrorBurst = 10
)

// handleUnknownType answers a Mobility Header of an MH Type this LMA does
// not know. RFC 6275 9.2: "the MH Type field MUST have a known value
// ... Otherwise, the node MUST discard the message and issue a Binding
// Error message as described in Section 9.3.3, with the Status field set
// to 2 (unrecognized MH Type value)". RFC 6275 9.3.3: the Binding Error
// goes to the offending packet's source, from the address it was sent to
// (the LMA's: the socket's own), with the Home Address field the
// unspecified address, there being no Home Address option in Proxy Mobile
// IPv6; and it is rate-limited. Over UDP/IPv4 (RFC 5844 4) it goes back
// the same way.
func (e *Engine) handleUnknownType(p *packet, m *mh.UnknownMessage) {
	e.stats.dropped.Add(1)
	if !e.beLimit.Allow(p.recv) {
		e.stats.bindingErrorsLimited.Add(1)
		return
	}
	b, err := mh.Marshal(&mh.BindingError{Status: mh.BindingErrorUnrecognizedMHType})
	if err != nil {
		// A fixed message: only a broken encoder gets here.
		e.log.Error("lma: encoding a Binding Error", "err", err)
		return
	}
	e.stats.bindingErrors.Add(1)
	if e.debug() {
		e.log.Debug("lma: Binding Error for an unknown MH type", "from", p.from, "type", uint8(m.MHType))
	}
	e.send(p.conn, p.from, b)
}
