package lma

import (
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport/transporttest"
)

// RFC 6275 9.2 and 9.3.3: a Mobility Header of an unknown MH Type is
// discarded and answered with a Binding Error, status 2, Home Address ::,
// to its sender, over the carrier it came by; rate-limited. A malformed
// one is dropped silently and counted; a message of a known type the LMA
// does not serve (a Binding Error among them, so two nodes never loop)
// gets no answer.
func TestBindingError(t *testing.T) {
	unknown := func(typ mh.Type) *mh.UnknownMessage {
		return &mh.UnknownMessage{MHType: typ, Data: []byte{0, 0}}
	}
	for _, tt := range []struct {
		name string
		from func(h *harness) *transporttest.Conn
		m    mh.Message
		raw  []byte
		be   bool
	}{
		{name: "RFC 6275 9.2: unknown type over IPv6", from: func(h *harness) *transporttest.Conn { return h.ap1 }, m: unknown(42), be: true},
		{name: "RFC 5844 4: unknown type over UDP/IPv4", from: func(h *harness) *transporttest.Conn { return h.ap4 }, m: unknown(200), be: true},
		{name: "unknown type from an unconfigured node is answered too", from: func(h *harness) *transporttest.Conn { return h.rog }, m: unknown(17), be: true},
		{name: "RFC 6275 9.2: malformed, dropped silently", from: func(h *harness) *transporttest.Conn { return h.ap1 },
			raw: []byte{59, 3, 42, 0, 0, 0, 0, 0}},
		{name: "a Binding Error gets no answer", from: func(h *harness) *transporttest.Conn { return h.ap1 },
			m: &mh.BindingError{Status: mh.BindingErrorUnrecognizedMHType}},
		{name: "a known type not served (BRI to the LMA) gets no answer", from: func(h *harness) *transporttest.Conn { return h.ap1 },
			m: &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 1, Flags: mh.RevocationProxy}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testCfg(t, true, ""))
			from := tt.from(h)
			before := h.state()
			if tt.raw != nil {
				h.sendRaw(from, tt.raw)
			} else {
				h.send(from, tt.m)
			}
			if !tt.be {
				h.nothing(from)
				if tt.raw != nil && h.e.Counters().Malformed != 1 {
					t.Errorf("malformed not counted: %+v", h.e.Counters())
				}
				return
			}
			be, ok := h.recv(from).(*mh.BindingError)
			if !ok {
				t.Fatal("no Binding Error")
			}
			if be.Status != mh.BindingErrorUnrecognizedMHType || be.HomeAddress != netip.IPv6Unspecified() || len(be.Options) != 0 {
				t.Errorf("Binding Error %v", be)
			}
			if c := h.e.Counters(); c.BindingErrors != 1 || c.Dropped != 1 {
				t.Errorf("counters %+v", c)
			}
			if before != h.state() {
				t.Error("an unknown message changed state")
			}
		})
	}
}

// RFC 6275 9.3.3: Binding Errors are rate-limited (a bucket of
// bindingErrorBurst, refilled at bindingErrorRate a second).
func TestBindingErrorRateLimit(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	flood := func(n int) int {
		for range n {
			h.send(h.ap1, &mh.UnknownMessage{MHType: 99, Data: []byte{0, 0}})
		}
		h.sync()
		got := h.ap1.Pending()
		h.drain(h.ap1)
		return got
	}
	if got := flood(bindingErrorBurst + 5); got != bindingErrorBurst {
		t.Errorf("a burst of %d unknown messages: %d Binding Errors, want %d", bindingErrorBurst+5, got, bindingErrorBurst)
	}
	if got := flood(3); got != 0 {
		t.Errorf("with the bucket empty: %d Binding Errors", got)
	}
	h.advance(time.Second / bindingErrorRate * 2)
	if got := flood(5); got != 2 {
		t.Errorf("after two tokens' time: %d Binding Errors, want 2", got)
	}
	if c := h.e.Counters(); c.BindingErrors != bindingErrorBurst+2 || c.BindingErrorsLimited != 5+3+3 {
		t.Errorf("counters: %d sent, %d limited", c.BindingErrors, c.BindingErrorsLimited)
	}
}
