package lma

import (
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// maxHNPOptions bounds the Home Network Prefix options one PBU may carry:
// a policy hands out at most 16 prefixes per session (lmaconfig's
// prefix_count), and a PBA echoing hundreds of them would not fit.
const maxHNPOptions = 16

// pba builds the Proxy Binding Acknowledgement of RFC 5213 5.3.6 for r: b
// is the session when accepted, nil when rejected (then the PBU's own
// options are echoed).
func (e *Engine) pba(r *request, status mh.Status, b *binding) *mh.ProxyBindingAck {
	a := &mh.ProxyBindingAck{Options: make([]mh.Option, 0, 8+len(r.hnpOpts))}
	e.fillPBA(a, nil, r, status, b)
	return a
}

// loopPBA is pba built in the loop's scratch message, valid until the
// next loopPBA: for a PBA marshalled at once, on the loop (commit). At
// 50,000 PBU/s the message, its option list and its prefix options were
// a fifth of the LMA's garbage (docs/lma.md).
func (e *Engine) loopPBA(r *request, status mh.Status, b *binding) *mh.ProxyBindingAck {
	s := &e.ackScratch
	clear(s.ack.Options) // let the last PBA's options go
	s.ack = mh.ProxyBindingAck{Options: s.ack.Options[:0]}
	if s.hnps == nil {
		s.hnps = make([]mh.HomeNetworkPrefix, 0, maxHNPOptions)
	}
	s.hnps = s.hnps[:0]
	e.fillPBA(&s.ack, &s.hnps, r, status, b)
	return &s.ack
}

// ackScratch is loopPBA's reused message; loop-owned.
type ackScratch struct {
	ack  mh.ProxyBindingAck
	hnps []mh.HomeNetworkPrefix // cap maxHNPOptions: pointers into it stay valid
}

// fillPBA fills a (its Options empty) as pba says. With hnps, the
// accepted session's prefix options are appended there and pointed to,
// instead of allocated one by one.
func (e *Engine) fillPBA(a *mh.ProxyBindingAck, hnps *[]mh.HomeNetworkPrefix, r *request, status mh.Status, b *binding) {
	// RFC 5213 5.3.6: P flag set, Sequence Number copied from the PBU.
	a.Status, a.Flags, a.Sequence = status, mh.BAFlagP, r.pbu.Sequence
	accepted := status.Accepted() && b != nil
	if accepted && b.state == stateActive {
		a.Lifetime = b.lifetime
	}
	// RFC 5213 5.3.6: the Mobile Node Identifier option, copied.
	if r.mnid != nil {
		a.Options = append(a.Options, r.mnid)
	}
	// RFC 5213 5.3.6: the home network prefixes assigned to the session
	// (all of them), or the PBU's when rejected.
	if accepted && b.nhnp > 0 && len(r.hnpOpts) > 0 {
		for i := range int(b.nhnp) {
			if hnps != nil && len(*hnps) < cap(*hnps) {
				*hnps = append(*hnps, mh.HomeNetworkPrefix{Prefix: e.bc.hnpAt(b, i)})
				a.Options = append(a.Options, &(*hnps)[len(*hnps)-1])
				continue
			}
			a.Options = append(a.Options, &mh.HomeNetworkPrefix{Prefix: e.bc.hnpAt(b, i)})
		}
	} else {
		for _, o := range r.hnpOpts {
			a.Options = append(a.Options, o)
		}
	}
	// RFC 5213 5.3.6: Handoff Indicator, Access Technology Type and
	// Mobile Node Link-layer Identifier copied from the PBU.
	// (The PBU's single-instance options were picked out in one pass;
	// a PBU repeating one was dropped as malformed.)
	if r.hiOpt != nil {
		a.Options = append(a.Options, r.hiOpt)
	}
	if r.attOpt != nil {
		a.Options = append(a.Options, r.attOpt)
	}
	if r.llidOpt != nil {
		a.Options = append(a.Options, r.llidOpt)
	}
	// RFC 5213 5.3.6: a Link-local Address option in the PBU is answered
	// with the session's link-local address when the MAG asked with
	// ALL_ZERO and one is known, else copied.
	if r.lla != nil {
		lla := r.lla
		if accepted && r.lla.Addr.IsUnspecified() && b.linkLocal.valid() {
			lla = &mh.LinkLocalAddress{Addr: b.linkLocal.addr()}
		}
		a.Options = append(a.Options, lla)
	}
	// RFC 5213 5.5, 5.3.6: the Timestamp option is copied, except on
	// TIMESTAMP_MISMATCH, which carries the LMA's current time so that the
	// MAG can see the offset.
	if status == mh.StatusTimestampMismatch {
		a.Options = append(a.Options, mh.TimestampFromTime(r.tsNow))
	} else if r.ts != nil {
		a.Options = append(a.Options, r.ts)
	}
	// RFC 5844 3.2.2: the IPv4 home address and its default router.
	if r.v4req != nil {
		switch {
		case accepted && b.hoa.valid():
			a.Options = append(a.Options,
				&mh.IPv4HomeAddressReply{Status: mh.IPv4HoASuccess, Prefix: b.hoa.prefix()},
				&mh.IPv4DefaultRouterAddress{Addr: b.v4router.addr()})
		case !status.Accepted():
			a.Options = append(a.Options, &mh.IPv4HomeAddressReply{Status: v4ReplyStatus(status), Prefix: r.v4req.Prefix})
		}
	}
	// RFC 5845 3, 6.1: the uplink GRE key the MAG must use.
	if accepted && b.greUpSet && e.bc.tunnel(b) == lmaconfig.TunnelGRE {
		a.Options = append(a.Options, &mh.GREKey{HasKey: true, Key: b.greUp})
	}
	// RFC 5844 4: over IPv4 transport the IPv4 Care-of Address option is
	// echoed.
	if r.v4coa != nil {
		a.Options = append(a.Options, r.v4coa)
	}
}

// v4ReplyStatus is the IPv4 Home Address Reply status that goes with a
// rejecting PBA status (RFC 5844 3.3.2).
func v4ReplyStatus(s mh.Status) mh.IPv4HoAStatus {
	switch s {
	case mh.StatusNotAuthorizedForIPv4MobilityService:
		return mh.IPv4HoAAdministrativelyProhibited
	case mh.StatusNotAuthorizedForIPv4HomeAddress:
		return mh.IPv4HoAIncorrectAddress
	}
	return mh.IPv4HoAFailureUnspecified
}

// rejectV4 rejects with a given IPv4 Home Address Reply status.
func (e *Engine) rejectV4(r *request, status mh.Status, v4 mh.IPv4HoAStatus) {
	e.stats.status(status)
	pba := e.pba(r, status, nil)
	for _, o := range pba.Options {
		if rep, ok := o.(*mh.IPv4HomeAddressReply); ok {
			rep.Status = v4
		}
	}
	e.reply(r, pba)
}
