package lma

import (
	"net/netip"
	"slices"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// handle dispatches one received message (on the loop).
func (e *Engine) handle(p *packet) {
	// The loop's Decoder: no allocation per message. What it returns is
	// overwritten by the next message; a request kept longer takes its
	// own copy (request.own).
	m, err := e.dec.Decode(p.data)
	if err != nil {
		// RFC 6275 9.2: a malformed Mobility Header (bad length, bad
		// payload proto, an option that lies about its length) is
		// silently discarded.
		e.stats.malformed.Add(1)
		e.log.Debug("lma: malformed mobility header dropped", "from", p.from, "err", err)
		return
	}
	switch m := m.(type) {
	case *mh.ProxyBindingUpdate:
		e.handlePBU(p, m)
	case *mh.Heartbeat:
		e.handleHeartbeat(p, m)
	case *mh.BindingRevocationAck:
		e.handleBRA(p, m)
	case *mh.UnknownMessage:
		// RFC 6275 9.2: Binding Error, status 2.
		e.handleUnknownType(p, m)
	default:
		// PBQ (draft-jikim-dmm-pmip), BRIs from MAGs, Update
		// Notifications: not served by this LMA.
		e.stats.dropped.Add(1)
		e.log.Debug("lma: message not handled", "from", p.from, "type", m.Type())
	}
}

// request is a PBU that passed the checks of RFC 5213 5.3.1 that need no
// binding, with its options picked out.
type request struct {
	p    *packet
	pbu  *mh.ProxyBindingUpdate
	mag  *lmaconfig.MAG
	coa  netip.Addr
	mnid *mh.MobileNodeIdentifier
	mn   mnKey
	pol  *lmaconfig.Policy
	hi   mh.HandoffIndicator
	att  mh.AccessTechnology
	llid string
	// hnpOpts are the Home Network Prefix options as sent; want the
	// non-zero prefixes among them, masked (RFC 5213 5.4.1).
	hnpOpts []*mh.HomeNetworkPrefix
	want    []netip.Prefix
	v4req   *mh.IPv4HomeAddressRequest
	ts      *mh.Timestamp
	gre     *mh.GREKey
	lla     *mh.LinkLocalAddress
	v4coa   *mh.IPv4CareOfAddress
	// The options a PBA copies (RFC 5213 5.3.6).
	hiOpt   *mh.HandoffIndicatorOption
	attOpt  *mh.AccessTechnologyTypeOption
	llidOpt *mh.MobileNodeLinkLayerID
	// tunnel is the encapsulation chosen; okStatus the accepting status
	// that says how GRE was settled (0, 2 or 3).
	tunnel   lmaconfig.Tunnel
	okStatus mh.Status
	lifetime time.Duration
	// tsNow is the LMA's clock when the PBU arrived: the time RFC 5213
	// 5.5 checks its timestamp against, and the one a TIMESTAMP_MISMATCH
	// reply carries.
	tsNow time.Time
}

// handlePBU is RFC 5213 5.3.1, in the order of its checks.
func (e *Engine) handlePBU(p *packet, pbu *mh.ProxyBindingUpdate) {
	e.stats.pbus.Add(1)
	// RFC 5213 5.3.1 and 8.1: a Proxy Binding Update has the P flag. A
	// plain Mobile IPv6 Binding Update is for a home agent, which this
	// LMA is not: drop it.
	if pbu.Flags&mh.BUFlagP == 0 {
		e.stats.dropped.Add(1)
		e.log.Debug("lma: binding update without the P flag dropped", "from", p.from)
		return
	}
	if e.writes.backlog() > maxWriteBacklog {
		// The store is not keeping up: shed the PBU unanswered; the MAG
		// retransmits (RFC 5213 6.9.4) once the backlog drains.
		e.stats.shed.Add(1)
		return
	}
	// RFC 5213 5.5 compares the timestamp with the LMA's current time
	// when the PBU is received: its arrival, not the moment a busy loop
	// gets to it, or an overloaded LMA would turn valid PBUs that merely
	// queued into TIMESTAMP_MISMATCH (156). A message injected without an
	// arrival time is checked against now.
	arrived := p.recv
	if arrived.IsZero() {
		arrived = e.clk.Now()
	}
	r := &request{p: p, pbu: pbu, coa: p.from.Addr().Unmap().WithZone(""), tsNow: arrived}

	// One pass over the options (request.pick). Those that may appear
	// once make a PBU that repeats them malformed: RFC 6275 9.2 discards
	// it silently (several Home Network Prefix options are allowed, RFC
	// 5213 5.3.1; repeated IPv4 Home Address Requests have a status of
	// their own below).
	hasHI, hasATT, dup, v4reqs := r.pick(pbu.Options)
	if dup {
		e.stats.malformed.Add(1)
		e.log.Debug("lma: PBU repeats a single-instance option, dropped", "from", p.from)
		return
	}
	if len(r.hnpOpts) > maxHNPOptions {
		e.stats.malformed.Add(1)
		e.log.Debug("lma: PBU with too many home network prefix options, dropped", "from", p.from, "count", len(r.hnpOpts))
		return
	}

	// RFC 5213 5.3.1: the mobile node is identified by the Mobile Node
	// Identifier option; without it, MISSING_MN_IDENTIFIER_OPTION (160).
	// An identifier of no octets identifies nobody and counts as missing.
	if r.mnid == nil || len(r.mnid.Identifier) == 0 {
		e.reject(r, mh.StatusMissingMNIdentifierOption)
		return
	}
	r.mn = mnKey{subtype: r.mnid.Subtype, id: string(r.mnid.Identifier)}

	// RFC 5213 5.3.1: only a trusted MAG may send PBUs; others get
	// MAG_NOT_AUTHORIZED_FOR_PROXY_REG (154).
	r.mag = e.mags[r.coa]
	if r.mag == nil {
		e.reject(r, mh.StatusMAGNotAuthorizedForProxyReg)
		return
	}
	// RFC 5844 4: a MAG on IPv4 transport names its IPv4 Proxy-CoA in an
	// IPv4 Care-of Address option. This LMA does not traverse NATs
	// (RFC 5555 4.1), so the option must name the source address:
	// otherwise Invalid Care-of Address (174, RFC 5555 6.3).
	if r.coa.Is4() && (r.v4coa == nil || r.v4coa.Addr != r.coa) {
		e.reject(r, mh.StatusInvalidCareOfAddress)
		return
	}

	// RFC 5213 5.3.1: the mobile node must be authorized for
	// network-based mobility (a policy profile, RFC 5213 4.2); else
	// PROXY_REG_NOT_ENABLED (152).
	r.pol = e.pol.lookup(r.mn)
	if r.pol == nil {
		e.reject(r, mh.StatusProxyRegNotEnabled)
		return
	}

	// RFC 5213 5.3.1: Handoff Indicator and Access Technology Type
	// options are mandatory: 161 and 162.
	if !hasHI {
		e.reject(r, mh.StatusMissingHandoffIndicatorOption)
		return
	}
	if !hasATT {
		e.reject(r, mh.StatusMissingAccessTechTypeOption)
		return
	}
	// RFC 5213 8.4: 0 is reserved and 6 and above unassigned; such a PBU
	// cannot be classified by RFC 5213 5.4.1.
	if r.hi == mh.HandoffReserved || r.hi > mh.HandoffStateNotChanged {
		e.reject(r, mh.StatusReasonUnspecified)
		return
	}

	// RFC 5844 3.2.1: one IPv4 home address per mobility session:
	// MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED (173).
	if v4reqs > 1 {
		e.reject(r, mh.StatusMultipleIPv4HoANotSupported)
		return
	}
	// RFC 5213 5.3.1 with RFC 5844 3.2.1: a PBU asks for IPv6 home
	// network prefixes, an IPv4 home address, or both; asking for
	// neither is MISSING_HOME_NETWORK_PREFIX_OPTION (158).
	if len(r.hnpOpts) == 0 && r.v4req == nil {
		e.reject(r, mh.StatusMissingHomeNetworkPrefixOption)
		return
	}
	// RFC 5844 3.2.1: IPv6 home prefixes for a mobile node whose profile
	// has none: NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE (172); an IPv4
	// request for a node without IPv4 service:
	// NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE (170).
	if len(r.hnpOpts) > 0 && !r.pol.IPv6() {
		e.reject(r, mh.StatusNotAuthorizedForIPv6MobilityService)
		return
	}
	if r.v4req != nil && r.pol.IPv4 == lmaconfig.IPv4None {
		e.reject(r, mh.StatusNotAuthorizedForIPv4MobilityService)
		return
	}
	for _, o := range r.hnpOpts {
		// RFC 5213 6.9.1.1: ALL_ZERO asks the LMA to assign; anything
		// else names a prefix the MAG wants (re-registration, handoff,
		// MAG restart).
		if o.Prefix.Addr().IsUnspecified() {
			continue
		}
		w := o.Prefix.Masked()
		if !slices.Contains(r.want, w) {
			r.want = append(r.want, w)
		}
	}

	// Tunnel and GRE key negotiation (RFC 5845 3, 6.2).
	if st := e.chooseTunnel(r); st != 0 {
		e.reject(r, st)
		return
	}

	// RFC 5213 5.5: message ordering by timestamps, unless the LMA uses
	// sequence numbers (TimestampBasedApproachInUse false).
	if e.cfg.Timestamps {
		if r.ts == nil {
			// RFC 5213 5.5: with the timestamp approach in use a PBU
			// without a Timestamp option cannot be ordered.
			e.reject(r, mh.StatusTimestampMismatch)
			return
		}
		// RFC 5213 5.5: the timestamp must be within
		// TimestampValidityWindow of the LMA's clock at arrival, else
		// TIMESTAMP_MISMATCH (156).
		d := r.ts.Time().Sub(r.tsNow)
		if d < 0 {
			d = -d
		}
		if d > e.cfg.TimestampValidityWindow {
			e.reject(r, mh.StatusTimestampMismatch)
			return
		}
	}

	// Granted lifetime: RFC 5213 5.3.1 lets the LMA grant less than
	// asked for; 0 is a deregistration (RFC 5213 5.3.5).
	r.lifetime = pbu.Lifetime
	if r.lifetime > e.cfg.MaxLifetime {
		r.lifetime = e.cfg.DefaultLifetime
	}
	e.decide(r, nil, false)
}

// chooseTunnel settles the encapsulation from the carrier, the MAG's and
// the policy's allowed tunnels and the GRE Key option. It returns a
// rejecting status or 0, and sets r.tunnel and r.okStatus.
func (e *Engine) chooseTunnel(r *request) mh.Status {
	allowed := func(t lmaconfig.Tunnel) bool {
		return slices.Contains(r.mag.Tunnels, t) && slices.Contains(r.pol.Tunnels, t)
	}
	plain := lmaconfig.TunnelIP6IP6
	if r.coa.Is4() {
		plain = lmaconfig.TunnelIPIP // RFC 5844 4: IPv4 transport
	}
	if r.gre != nil {
		if allowed(lmaconfig.TunnelGRE) {
			r.tunnel = lmaconfig.TunnelGRE
			// RFC 5845 6.3: the T flag asks for the TLV-header UDP
			// encapsulation, which this LMA does not offer:
			// GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED (3), plain
			// GRE is used.
			if r.pbu.Flags&mh.BUFlagT != 0 {
				r.okStatus = mh.StatusGRETLVHeaderNotSupported
			}
			return 0
		}
		// RFC 5845 6.2: the MAG offered GRE but the LMA will not use
		// it: accept without a key, GRE_KEY_OPTION_NOT_REQUIRED (2).
		if allowed(plain) && !r.pol.GREKeyRequired {
			r.tunnel, r.okStatus = plain, mh.StatusGREKeyOptionNotRequired
			return 0
		}
		return mh.StatusAdministrativelyProhibited
	}
	// RFC 5845 6.2: the policy demands GRE keys and the PBU has no GRE
	// Key option: GRE_KEY_OPTION_REQUIRED (163).
	if r.pol.GREKeyRequired {
		return mh.StatusGREKeyOptionRequired
	}
	if allowed(plain) {
		r.tunnel = plain
		return 0
	}
	if allowed(lmaconfig.TunnelGRE) {
		return mh.StatusGREKeyOptionRequired
	}
	// No encapsulation both the MAG and the mobile node may use.
	return mh.StatusAdministrativelyProhibited
}

// parkKey identifies a PBU held back by MaxDelayBeforeNewBCEAssign.
type parkKey struct {
	mag  string
	mn   mnKey
	llid string
	att  mh.AccessTechnology
}

// parked is a PBU with Handoff Indicator 4 waiting for the previous MAG's
// deregistration (RFC 5213 5.4.1.3).
type parked struct {
	r     *request
	old   *binding
	timer clock.Timer
}

// decide looks up the Binding Cache (RFC 5213 5.4.1) and dispatches to
// registration, refresh, handoff or deregistration. resolved, when set, is
// the outcome of a parked PBU: handoff onto that binding; forceNew asks for
// a new mobility session.
func (e *Engine) decide(r *request, resolved *binding, forceNew bool) {
	if r.lifetime == 0 {
		e.deregister(r)
		return
	}
	b, status := e.lookup(r)
	switch {
	case status != 0:
		e.reject(r, status)
		return
	case resolved != nil:
		b = resolved
	case forceNew:
		b = nil
	case b != nil && r.hi == mh.HandoffStateUnknown && b.coa.addr() != r.coa && len(r.want) == 0 && b.state != stateDeregistered:
		// RFC 5213 5.4.1.3: handoff state unknown and the session is
		// at another MAG: wait up to MaxDelayBeforeNewBCEAssign for
		// that MAG's deregistration (then it is a handoff), else make
		// a new mobility session. Nothing changes meanwhile. If that
		// deregistration already came (the session lingers for
		// MinDelayBeforeBCEDelete, 5.3.5), it is a handoff now.
		e.park(r, b)
		return
	}
	// A parked PBU resolved as a handoff was ordered when it arrived; the
	// previous MAG's deregistration since then carries its own clock.
	ordered := resolved == nil
	if b != nil && ordered && e.cfg.Timestamps && r.ts.Value < b.timestamp {
		// RFC 5213 5.5: older than the last accepted PBU of this
		// session: TIMESTAMP_LOWER_THAN_PREV_ACCEPTED (157).
		e.reject(r, mh.StatusTimestampLowerThanPrevAccepted)
		return
	}
	if b != nil && ordered && !e.cfg.Timestamps && !seqNewer(r.pbu.Sequence, b.seq) {
		// RFC 5213 5.5 with RFC 6275 9.5.1: without timestamps the
		// Sequence Number orders the session's PBUs; an old one gets
		// SEQUENCE_NUMBER_OUT_OF_WINDOW (135) with the last accepted
		// number.
		e.rejectSeq(r, b.seq)
		return
	}
	if b == nil {
		e.register(r)
		return
	}
	e.update(r, b)
}

// seqNewer reports whether a is after b in the 16-bit sequence space
// (RFC 6275 9.5.1: "modulo 2**16").
func seqNewer(a, b uint16) bool { return int16(a-b) > 0 }

// lookup is RFC 5213 5.4.1: which existing mobility session, if any, the
// PBU is about. A non-zero status rejects the PBU.
func (e *Engine) lookup(r *request) (*binding, mh.Status) {
	// RFC 5213 5.4.1.1: with non-zero home network prefixes, the session
	// is the binding holding them.
	if len(r.want) > 0 {
		var found *binding
		for _, w := range r.want {
			b := e.bc.withHNP(w)
			if b == nil {
				continue
			}
			if !e.bc.isMN(b, r.mn) {
				// The prefix belongs to another mobile node: RFC 5213
				// 5.3.2, NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX (155).
				return nil, mh.StatusNotAuthorizedForHomeNetworkPrefix
			}
			if found != nil && found != b {
				// Prefixes of two sessions in one PBU.
				return nil, mh.StatusBCEPBUPrefixSetDoNotMatch
			}
			found = b
		}
		if found != nil {
			// RFC 5213 5.4.1.1: the PBU must carry exactly the
			// session's prefixes, else BCE_PBU_PREFIX_SET_DO_NOT_MATCH
			// (159).
			if !e.bc.samePrefixSet(found, r.want) {
				return nil, mh.StatusBCEPBUPrefixSetDoNotMatch
			}
			return found, 0
		}
		// No session holds them: a new session asking for these
		// prefixes (checked by register).
		return nil, 0
	}
	// ALL_ZERO or IPv4 only: RFC 5213 5.4.1.2 decides from the Handoff
	// Indicator, the access technology and the link-layer identifier.
	// The mobile node's sessions, walked in place (no slice per PBU).
	c := e.bc
	mine := c.firstOfMN(r.mn)
	sameIface := func(b *binding) bool {
		if r.llid != "" && e.bc.hasLLID(b) {
			return e.bc.llidIs(b, r.llid) && b.att == r.att
		}
		return b.att == r.att
	}
	if r.v4req != nil && !r.v4req.Prefix.Addr().IsUnspecified() {
		// RFC 5844 3.2.1: a requested IPv4 home address names its
		// session like a prefix does.
		if b := e.bc.withHoA(r.v4req.Prefix.Addr()); b != nil {
			if !e.bc.isMN(b, r.mn) {
				return nil, mh.StatusNotAuthorizedForIPv4HomeAddress
			}
			return b, 0
		}
	}
	switch r.hi {
	case mh.HandoffNewInterface:
		// RFC 5213 5.4.1.2: attachment over a new interface is a new
		// mobility session. A retransmission of the same initial PBU
		// (same MAG, same interface; its PBA was lost) must not make a
		// second one: it finds the session it created.
		for b := mine; b != nil; b = c.nextOf(b) {
			if b.coa.addr() == r.coa && sameIface(b) && e.bc.llidIs(b, r.llid) {
				return b, 0
			}
		}
		return nil, 0
	case mh.HandoffBetweenInterfaces:
		// RFC 5213 5.4.1.2: handoff between two interfaces of the mobile
		// node: the session moves from the other interface; without a
		// single candidate it is a new session.
		if mine != nil && c.nextOf(mine) == nil {
			return mine, 0
		}
		for b := mine; b != nil; b = c.nextOf(b) {
			if b.coa.addr() == r.coa && sameIface(b) {
				return b, 0
			}
		}
		return nil, 0
	default:
		// 3 (between MAGs, same interface), 4 (unknown), 5 (not
		// changed): the session of the same interface, by access
		// technology and link-layer identifier (RFC 5213 5.4.1.2).
		var match *binding
		for b := mine; b != nil; b = c.nextOf(b) {
			if sameIface(b) {
				if b.coa.addr() == r.coa {
					return b, 0
				}
				if match == nil {
					match = b
				}
			}
		}
		return match, 0
	}
}

// samePrefixSet reports whether want is exactly b's home network
// prefixes (want holds no duplicates).
func (c *cache) samePrefixSet(b *binding, want []netip.Prefix) bool {
	if int(b.nhnp) != len(want) {
		return false
	}
	for _, w := range want {
		if !c.hasHNP(b, w) {
			return false
		}
	}
	return true
}

// park holds r back for MaxDelayBeforeNewBCEAssign (RFC 5213 5.4.1.3). A
// retransmission of a parked PBU replaces it and keeps the timer.
func (e *Engine) park(r *request, old *binding) {
	k := parkKey{mag: r.mag.Name, mn: r.mn, llid: r.llid, att: r.att}
	// Kept past this message: a copy of its own (a new name, so that
	// escape analysis, which does not follow assignments in order, keeps
	// the loop's request off the heap).
	kept, ok := r.own()
	if !ok {
		e.log.Error("lma: a parked PBU does not parse again; dropped (the MAG retransmits)", "mn", k.mn)
		return
	}
	if pk := e.parked[k]; pk != nil {
		pk.r, pk.old = kept, old
		return
	}
	pk := &parked{r: kept, old: old}
	e.parked[k] = pk
	pk.timer = e.clk.AfterFunc(e.cfg.MaxDelayBeforeNewBCEAssign, func() {
		e.post(func() {
			if e.parked[k] != pk {
				return
			}
			delete(e.parked, k)
			// No deregistration came: a new mobility session.
			e.decide(pk.r, nil, true)
		})
	})
	e.log.Debug("lma: handoff state unknown, waiting for the previous MAG", "mn", r.mn, "old", e.bc.describe(old))
}

// unparkFor resolves the PBUs parked on b as handoffs onto it (the
// previous MAG deregistered it, RFC 5213 5.4.1.3).
func (e *Engine) unparkFor(b *binding) {
	for k, pk := range e.parked {
		if pk.old == b {
			pk.timer.Stop()
			delete(e.parked, k)
			e.decide(pk.r, b, false)
		}
	}
}

// reply sends a PBA on the carrier the PBU came in on (RFC 5844 4: over
// IPv4 transport, to the port it came from).
func (e *Engine) reply(r *request, pba *mh.ProxyBindingAck) {
	data, err := mh.AppendMarshal(make([]byte, 0, pbaRoom), pba)
	if err != nil {
		e.log.Error("lma: marshalling a PBA", "err", err, "pba", pba)
		return
	}
	e.send(r.p.conn, r.p.from, data)
	e.observeLatency(r.p.recv)
}

// observeLatency records the departure of the PBA of a PBU that arrived
// at recv (zero: injected without an arrival, not observed). The writer
// calls it once a binding's write is durable and its PBA queued; a
// handoff's PBA is held (silent to the writer) and handoffAck observes it
// when it leaves.
func (e *Engine) observeLatency(recv time.Time) {
	if e.observe != nil && !recv.IsZero() {
		e.observe(e.clk.Now().Sub(recv))
	}
}

// reject answers r with a rejecting status and changes nothing.
func (e *Engine) reject(r *request, status mh.Status) {
	e.stats.status(status)
	if e.debug() {
		e.log.Debug("lma: PBU rejected", "from", r.p.from, "mn", r.mn, "status", status)
	}
	e.reply(r, e.pba(r, status, nil))
}

// rejectSeq answers with SEQUENCE_NUMBER_OUT_OF_WINDOW and the last
// accepted sequence number (RFC 6275 9.5.1).
func (e *Engine) rejectSeq(r *request, last uint16) {
	e.stats.status(mh.StatusSequenceOutOfWindow)
	pba := e.pba(r, mh.StatusSequenceOutOfWindow, nil)
	pba.Sequence = last
	e.reply(r, pba)
}
