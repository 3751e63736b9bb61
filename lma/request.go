package lma

import (
	"slices"

	"github.com/openpmip/pmip/internal/mh"
)

// pbaRoom is the room a PBA's buffer starts with: one with the options of
// RFC 5213 5.3.6, a few prefixes and RFC 5844's IPv4 options fits, so
// mh.AppendMarshal allocates only the buffer.
const pbaRoom = 192

// pick fills r's options from one pass over a PBU's options and reports
// which mandatory ones it saw, whether a single-instance option came
// twice, and how many IPv4 Home Address Requests there were.
func (r *request) pick(opts []mh.Option) (hasHI, hasATT, dup bool, v4reqs int) {
	r.mnid, r.hiOpt, r.attOpt, r.llidOpt = nil, nil, nil, nil
	r.ts, r.gre, r.lla, r.v4coa, r.v4req, r.hnpOpts = nil, nil, nil, nil, nil, nil
	for _, o := range opts {
		switch o := o.(type) {
		case *mh.MobileNodeIdentifier:
			dup = dup || r.mnid != nil
			r.mnid = o
		case *mh.HandoffIndicatorOption:
			dup = dup || hasHI
			r.hi, hasHI, r.hiOpt = o.HI, true, o
		case *mh.AccessTechnologyTypeOption:
			dup = dup || hasATT
			r.att, hasATT, r.attOpt = o.ATT, true, o
		case *mh.MobileNodeLinkLayerID:
			dup = dup || r.llidOpt != nil
			r.llid, r.llidOpt = string(o.ID), o
		case *mh.Timestamp:
			dup = dup || r.ts != nil
			r.ts = o
		case *mh.GREKey:
			dup = dup || r.gre != nil
			r.gre = o
		case *mh.LinkLocalAddress:
			dup = dup || r.lla != nil
			r.lla = o
		case *mh.IPv4CareOfAddress:
			dup = dup || r.v4coa != nil
			r.v4coa = o
		case *mh.HomeNetworkPrefix:
			r.hnpOpts = append(r.hnpOpts, o)
		case *mh.IPv4HomeAddressRequest:
			if r.v4req == nil {
				r.v4req = o
			}
			v4reqs++
		}
	}
	return hasHI, hasATT, dup, v4reqs
}

// own returns a copy of r whose packet, PBU and options are its own: the
// packet's bytes are the receiver's buffer, which the next read
// overwrites, and the PBU the loop handled came from its reused
// mh.Decoder, which the next message overwrites. A request kept past its
// message needs it: a PBU parked for MaxDelayBeforeNewBCEAssign. It
// reports false only if the bytes no longer parse as the PBU they decoded
// to on the loop, which mh's tests of Decoder against Parse rule out.
func (r *request) own() (*request, bool) {
	p := *r.p
	p.data = slices.Clone(p.data)
	pbu, ok := parsePBU(p.data)
	if !ok {
		return nil, false
	}
	c := *r
	c.p, c.pbu = &p, pbu
	c.pick(pbu.Options)
	return &c, true
}

// requestFrom parses a PBU's bytes (which it then refers to) into a
// request with its options picked out and nothing else: enough for pba
// to build a rejection without a binding (it reads the sequence number
// and the options), off the loop when a binding's write failed.
func requestFrom(data []byte) (*request, bool) {
	pbu, ok := parsePBU(data)
	if !ok {
		return nil, false
	}
	r := &request{pbu: pbu}
	r.pick(pbu.Options)
	return r, true
}

// parsePBU parses data, which decoded to a PBU on the loop, into a PBU of
// its own (mh.Parse, not the loop's Decoder).
func parsePBU(data []byte) (*mh.ProxyBindingUpdate, bool) {
	m, err := mh.Parse(data)
	pbu, ok := m.(*mh.ProxyBindingUpdate)
	return pbu, err == nil && ok
}
