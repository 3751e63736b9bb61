package mag

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/mag/magconfig"
)

// state is where a Binding Update List entry stands.
type state uint8

const (
	// registering: initial registration PBU in flight, nothing served.
	stateRegistering state = iota + 1
	// registered: the LMA accepted; the client is served. A refresh PBU
	// may be in flight (refreshing).
	stateRegistered
	// deregistering: removed from the list, the lifetime-0 PBU in flight.
	stateDeregistering
	// rejected: the LMA refused; kept RejectHoldoff to absorb triggers.
	stateRejected
)

func (s state) String() string {
	switch s {
	case stateRegistering:
		return "registering"
	case stateRegistered:
		return "registered"
	case stateDeregistering:
		return "deregistering"
	case stateRejected:
		return "rejected"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// binding is one Binding Update List entry (RFC 5213 6.1): a client on one
// access link, what the MAG asked for and what the LMA granted.
type binding struct {
	key   macKey
	mac   net.HardwareAddr
	link  *link
	state state

	// Who the client is (RFC 5213 6.9.1.1: the MAG identifies the mobile
	// node and applies its policy).
	identity string // 802.1X identity from hostapd, "" if none
	bss      string // hostapd interface of the last association, "" if none
	policy   magconfig.ClientPolicy
	mnid     *mh.MobileNodeIdentifier

	// What the triggers showed.
	hi        mh.HandoffIndicator // of the initial registration
	linkLocal netip.Addr          // the client's own link-local address
	request4  netip.Addr          // IPv4 address the client asked DHCP for

	// The PBU in flight, if any (RFC 5213 6.9.4).
	inflight  bool
	seq       uint16
	ts        uint64        // Timestamp option value of the PBU in flight
	lifetime  time.Duration // requested by the PBU in flight
	timeout   time.Duration // current retransmission timeout
	firstSent time.Time
	refresh   bool // the PBU in flight extends an accepted binding
	resynced  bool // one resend after a timestamp or sequence status used
	retx      clock.Timer

	// What the last accepted PBA granted (RFC 5213 6.9.1.2).
	prefixes  []netip.Prefix
	hoa       netip.Prefix // IPv4 home address and home network length
	router4   netip.Addr   // IPv4 default router (RFC 5844 3.3.3)
	granted   time.Duration
	expires   time.Time
	greDown   uint32 // the key we gave the LMA for downlink (RFC 5845 3)
	greUp     uint32 // the key the LMA gave us for uplink
	greKeyed  bool   // greUp is valid
	table     uint32 // per-client table with GRE keys, 0 otherwise
	timer     clock.Timer
	accepted  time.Time
	attachAt  time.Time
	trace     regTrace // the initial registration's steps (trace.go)
	gen       uint64   // invalidates timers armed for an older state
	holdUntil time.Time
}

// String prefixes the binding's log lines.
func (b *binding) String() string {
	id := "?"
	if b.mnid != nil {
		id = b.mnid.String()
	}
	return fmt.Sprintf("%s(%s)", b.mac, id)
}

func (b *binding) stopTimers() {
	if b.retx != nil {
		b.retx.Stop()
		b.retx = nil
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
}

// served reports whether the client holds an accepted binding.
func (b *binding) served() bool { return b.state == stateRegistered }

// lease4 reports whether the binding carries a usable IPv4 home address.
func (b *binding) lease4() bool { return b.served() && b.hoa.IsValid() }

// probes are the addresses at which the sniffer asks a silent client
// whether it is still there (its link-local, its IPv4 home address).
func (b *binding) probes() []netip.Addr {
	var ps []netip.Addr
	if b.linkLocal.IsValid() {
		ps = append(ps, b.linkLocal)
	}
	if b.hoa.IsValid() {
		ps = append(ps, b.hoa.Addr())
	}
	return ps
}

// mnidOf builds the Mobile Node Identifier option the policy names (RFC
// 5213 6.9.1.1, RFC 4283 3, RFC 8371 4.4).
func mnidOf(p magconfig.ClientPolicy) (*mh.MobileNodeIdentifier, error) {
	switch p.MNIDType {
	case magconfig.MNIDNAI:
		if len(p.MNID) == 0 || len(p.MNID) > magconfig.MaxNAILength {
			return nil, fmt.Errorf("mag: NAI of %d octets", len(p.MNID))
		}
		return mh.NewNAI(string(p.MNID)), nil
	case magconfig.MNIDEUI48:
		if len(p.MNID) != 6 {
			return nil, fmt.Errorf("mag: EUI-48 identifier of %d octets", len(p.MNID))
		}
		return mh.NewEUI48(net.HardwareAddr(p.MNID)), nil
	}
	return nil, fmt.Errorf("mag: unknown identifier type %d", p.MNIDType)
}

func sameMNID(a, b *mh.MobileNodeIdentifier) bool {
	return a != nil && b != nil && a.Subtype == b.Subtype && string(a.Identifier) == string(b.Identifier)
}
