package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// templates builds PBUs without marshalling each one: per number of
// digits in the mobile node's index, one PBU marshalled by internal/mh,
// into a copy of which the index, the Sequence Number and the Timestamp
// are written. Marshalling 50,000 PBUs a second cost the load generator
// a dozen allocations each, and its garbage collection showed in the
// latencies it measured.
type templates struct {
	byDigits [20]*template
}

type template struct {
	b               []byte
	nai, seq, stamp int // offsets of the index digits, Sequence Number, Timestamp value
	timed           bool
}

// The sentinel values marshalled into a template to find their offsets.
const (
	sentinelSeq   = 0xa55a
	sentinelStamp = 0x5aa5c33c_96699669
)

// build appends mobile node mn's PBU to buf.
func (t *templates) build(buf []byte, c *config, mn int, seq uint16, ts time.Time) ([]byte, error) {
	var digits [20]byte
	num := strconv.AppendInt(digits[:0], int64(mn), 10)
	tp := t.byDigits[len(num)]
	if tp == nil {
		var err error
		if tp, err = newTemplate(c, len(num)); err != nil {
			return nil, err
		}
		t.byDigits[len(num)] = tp
	}
	buf = append(buf, tp.b...)
	copy(buf[tp.nai:], num)
	binary.BigEndian.PutUint16(buf[tp.seq:], seq)
	if tp.timed {
		binary.BigEndian.PutUint64(buf[tp.stamp:], mh.TimestampFromTime(ts).Value)
	}
	return buf, nil
}

// pbuMessage is the PBU the load generator sends for mobile node id.
func pbuMessage(c *config, id string, seq uint16, ts *mh.Timestamp) *mh.ProxyBindingUpdate {
	hi := mh.HandoffNewInterface
	if c.mode != "register" {
		hi = mh.HandoffStateNotChanged
	}
	opts := []mh.Option{
		mh.NewNAI(id),
		&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
		&mh.HandoffIndicatorOption{HI: hi},
		&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
	}
	if ts != nil {
		opts = append(opts, ts)
	}
	return &mh.ProxyBindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: 4 * time.Hour, Options: opts}
}

func newTemplate(c *config, digits int) (*template, error) {
	placeholder := "mn" + string(bytes.Repeat([]byte{'#'}, digits)) + "@" + c.realm
	var ts *mh.Timestamp
	if c.timestamps {
		ts = &mh.Timestamp{Value: sentinelStamp}
	}
	b, err := mh.Marshal(pbuMessage(c, placeholder, sentinelSeq, ts))
	if err != nil {
		return nil, err
	}
	tp := &template{b: b}
	// RFC 6275 6.1.7: the Sequence Number follows the 6-octet header.
	tp.seq = 6
	if binary.BigEndian.Uint16(b[6:]) != sentinelSeq {
		return nil, fmt.Errorf("template: no sequence number at offset 6")
	}
	tp.nai = bytes.Index(b, []byte(placeholder)) + 2
	if tp.nai < 2 {
		return nil, fmt.Errorf("template: NAI not found")
	}
	if c.timestamps {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], sentinelStamp)
		tp.stamp = bytes.Index(b, v[:])
		if tp.stamp < 0 {
			return nil, fmt.Errorf("template: timestamp not found")
		}
		tp.timed = true
	}
	return tp, nil
}
