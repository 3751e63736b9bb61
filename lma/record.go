package lma

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// Store keys. A binding is stored under its id, so a registration, a
// handoff or a deregistration rewrites one key. A refresh, the commonest
// PBU by far, writes only what it changes (the lifetime, the times, the
// timestamp and sequence number) under a second key of the same id, a
// refresh record of 43 octets instead of the binding's ~180: under a
// steady load of refreshes the log grows about a third as fast, and is
// compacted about a quarter as often. The restart counter of RFC 5847 has a key of
// its own.
const (
	bindingKeyPrefix  = "b/"
	refreshKeyPrefix  = "r/"
	restartCounterKey = "meta/restart-counter"
)

func bindingKey(id uint64) []byte { return appendBindingKey(nil, id) }

func appendBindingKey(buf []byte, id uint64) []byte {
	return strconv.AppendUint(append(buf, bindingKeyPrefix...), id, 16)
}

func refreshKey(id uint64) []byte { return appendRefreshKey(nil, id) }

func appendRefreshKey(buf []byte, id uint64) []byte {
	return strconv.AppendUint(append(buf, refreshKeyPrefix...), id, 16)
}

func parseBindingKey(k []byte) (uint64, bool) { return parseKey(k, bindingKeyPrefix) }

func parseRefreshKey(k []byte) (uint64, bool) { return parseKey(k, refreshKeyPrefix) }

func parseKey(k []byte, prefix string) (uint64, bool) {
	if len(k) <= len(prefix) || string(k[:len(prefix)]) != prefix {
		return 0, false
	}
	id, err := strconv.ParseUint(string(k[len(prefix):]), 16, 64)
	return id, err == nil
}

// recordVersion is the first octet of every stored binding; a decoder
// meeting a version it does not know refuses the record rather than
// guess. Version 2 added the record's generation (binding.gen), which
// ties a refresh record to the binding record it refines; version 1
// records (generation 0) are still read. An LMA older than version 2
// cannot read a store written by a newer one.
const (
	recordVersion1 = 1
	recordVersion  = 2
)

// refreshVersion is the first octet of every refresh record.
const refreshVersion = 1

var errRecord = errors.New("lma: bad binding record")

// encodeBinding renders what survives a restart: everything except the
// in-memory links. 192 octets hold a typical record (160-180 since the
// generation was added) without growing the buffer.
func encodeBinding(c *cache, b *binding) []byte {
	return appendBinding(make([]byte, 0, 192), c, b)
}

// appendBinding appends b's record to buf.
func appendBinding(buf []byte, c *cache, b *binding) []byte {
	buf = append(buf, recordVersion, byte(b.state))
	buf = binary.BigEndian.AppendUint64(buf, b.id)
	buf = append(buf, byte(b.mnSubtype))
	buf = appendBytes(buf, c.mnBytes(b))
	buf = appendBytes(buf, c.llidBytes(b))
	buf = append(buf, byte(b.att))
	buf = appendBytes(buf, c.mag(b))
	buf = appendIP(buf, b.coa)
	buf = appendBytes(buf, c.name(b.tunnel))
	buf = append(buf, b.nhnp)
	for i := range int(b.nhnp) {
		if i == 0 {
			buf = appendPfx(buf, b.hnp)
		} else {
			buf = appendPrefix(buf, c.more[b.slot][i-1])
		}
	}
	buf = appendPfx(buf, b.hoa)
	buf = appendIP(buf, b.v4router)
	var flags byte
	if b.greUpSet {
		flags |= 1
	}
	if b.greDownSet {
		flags |= 2
	}
	buf = append(buf, flags)
	buf = binary.BigEndian.AppendUint32(buf, b.greUp)
	buf = binary.BigEndian.AppendUint32(buf, b.greDown)
	buf = appendIP(buf, b.linkLocal)
	buf = appendBytes(buf, c.policy(b))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.lifetime))
	for _, t := range []int64{b.registered, b.updated, b.deadline} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(t))
	}
	buf = binary.BigEndian.AppendUint64(buf, b.timestamp)
	buf = binary.BigEndian.AppendUint16(buf, b.seq)
	return binary.BigEndian.AppendUint32(buf, b.gen)
}

// appendRefresh appends b's refresh record to buf: what a refresh of an
// active session changes (RFC 5213 5.3.3: the lifetime and the times;
// 5.5: the last accepted timestamp; RFC 6275 9.5.1: the sequence
// number), and the generation of the binding record it applies to.
func appendRefresh(buf []byte, b *binding) []byte {
	buf = append(buf, refreshVersion)
	buf = binary.BigEndian.AppendUint32(buf, b.gen)
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.lifetime))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.updated))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.deadline))
	buf = binary.BigEndian.AppendUint64(buf, b.timestamp)
	return binary.BigEndian.AppendUint16(buf, b.seq)
}

// refreshRecord is a decoded refresh record of binding id.
type refreshRecord struct {
	id                uint64
	gen               uint32
	lifetime          time.Duration
	updated, deadline int64
	timestamp         uint64
	seq               uint16
}

// refreshRecordSize is the length of every refresh record.
const refreshRecordSize = 1 + 4 + 4*8 + 2

// decodeRefresh parses a record written by appendRefresh.
func decodeRefresh(data []byte) (refreshRecord, error) {
	if len(data) != refreshRecordSize {
		return refreshRecord{}, fmt.Errorf("%w: refresh record of %d octets, want %d", errRecord, len(data), refreshRecordSize)
	}
	if data[0] != refreshVersion {
		return refreshRecord{}, fmt.Errorf("%w: refresh record version %d, this LMA reads %d", errRecord, data[0], refreshVersion)
	}
	r := &reader{b: data[1:]}
	x := refreshRecord{gen: r.u32(), lifetime: time.Duration(r.u64()), updated: int64(r.u64()), deadline: int64(r.u64()), timestamp: r.u64(), seq: r.u16()}
	if x.lifetime < 0 {
		return refreshRecord{}, fmt.Errorf("%w: refresh record with lifetime %v", errRecord, x.lifetime)
	}
	return x, nil
}

// apply makes b what it was after the refresh x recorded.
func (x *refreshRecord) apply(b *binding) {
	b.lifetime, b.updated, b.deadline = x.lifetime, x.updated, x.deadline
	b.timestamp, b.seq = x.timestamp, x.seq
}

// appendBytes writes a string of at most 65535 octets with its length.
func appendBytes[T string | []byte](buf []byte, s T) []byte {
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...)
}

func appendAddr(buf []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(buf, 0)
	}
	s := a.AsSlice()
	buf = append(buf, byte(len(s)))
	return append(buf, s...)
}

// appendIP is appendAddr of a packed address, without unpacking it.
func appendIP(buf []byte, a ip) []byte {
	switch a.fam {
	case 4:
		buf = append(buf, 4)
		return append(buf, a.a[12:]...)
	case 6:
		buf = append(buf, 16)
		return append(buf, a.a[:]...)
	}
	return append(buf, 0)
}

func appendPfx(buf []byte, p pfx) []byte {
	buf = appendIP(buf, p.a)
	if p.valid() {
		buf = append(buf, p.bits)
	}
	return buf
}

func appendPrefix(buf []byte, p netip.Prefix) []byte {
	buf = appendAddr(buf, p.Addr())
	if p.IsValid() {
		buf = append(buf, byte(p.Bits()))
	}
	return buf
}

// reader decodes a record; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: %d octets missing", errRecord, n-len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() string { return string(r.take(int(r.u16()))) }

func (r *reader) addr() netip.Addr {
	n := int(r.u8())
	if n == 0 {
		return netip.Addr{}
	}
	if n != 4 && n != 16 {
		if r.err == nil {
			r.err = fmt.Errorf("%w: address of %d octets", errRecord, n)
		}
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(r.take(n))
	return a
}

func (r *reader) prefix() netip.Prefix {
	a := r.addr()
	if !a.IsValid() {
		return netip.Prefix{}
	}
	p, err := a.Prefix(int(r.u8()))
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%w: %v", errRecord, err)
	}
	return netip.PrefixFrom(a, p.Bits())
}

// bindingRecord is a stored binding as decodeBinding reads it, before the
// cache packs it (cache.load).
type bindingRecord struct {
	id                   uint64
	mn                   mnKey
	llid                 string
	att                  mh.AccessTechnology
	mag                  string
	coa                  netip.Addr
	tunnel               lmaconfig.Tunnel
	hnps                 []netip.Prefix
	hoa                  netip.Prefix
	v4router             netip.Addr
	greUp, greDown       uint32
	greUpSet, greDownSet bool
	linkLocal            netip.Addr
	policy               string
	lifetime             time.Duration
	registered, updated  int64
	deadline             int64
	timestamp            uint64
	seq                  uint16
	state                bindingState
	gen                  uint32
}

// load puts a decoded record in a free slot of the cache, not indexed
// (add it, or discard it).
func (c *cache) load(rec *bindingRecord) *binding {
	b := c.alloc()
	b.id = rec.id
	c.setMN(b, rec.mn)
	c.setLLID(b, rec.llid)
	b.att = rec.att
	b.mag = c.intern(rec.mag)
	b.coa = packIP(rec.coa)
	c.setTunnel(b, rec.tunnel)
	c.setHNPs(b, rec.hnps)
	b.hoa = packPfx(rec.hoa)
	b.v4router = packIP(rec.v4router)
	b.greUp, b.greDown, b.greUpSet, b.greDownSet = rec.greUp, rec.greDown, rec.greUpSet, rec.greDownSet
	b.linkLocal = packIP(rec.linkLocal)
	b.policy = c.intern(rec.policy)
	b.lifetime = rec.lifetime
	b.registered, b.updated, b.deadline = rec.registered, rec.updated, rec.deadline
	b.timestamp, b.seq, b.state = rec.timestamp, rec.seq, rec.state
	b.gen = rec.gen
	return b
}

// decodeBinding parses a record written by encodeBinding.
func decodeBinding(data []byte) (*bindingRecord, error) {
	r := &reader{b: data}
	v := r.u8()
	if r.err == nil && v != recordVersion && v != recordVersion1 {
		return nil, fmt.Errorf("%w: version %d, this LMA reads %d and %d", errRecord, v, recordVersion1, recordVersion)
	}
	b := &bindingRecord{}
	b.state = bindingState(r.u8())
	b.id = r.u64()
	b.mn.subtype = mh.MNIDSubtype(r.u8())
	b.mn.id = r.str()
	b.llid = r.str()
	b.att = mh.AccessTechnology(r.u8())
	b.mag = r.str()
	b.coa = r.addr()
	b.tunnel = lmaconfig.Tunnel(r.str())
	n := int(r.u8())
	for range n {
		if p := r.prefix(); p.IsValid() {
			b.hnps = append(b.hnps, p)
		}
	}
	b.hoa = r.prefix()
	b.v4router = r.addr()
	flags := r.u8()
	b.greUpSet, b.greDownSet = flags&1 != 0, flags&2 != 0
	b.greUp = r.u32()
	b.greDown = r.u32()
	b.linkLocal = r.addr()
	b.policy = r.str()
	b.lifetime = time.Duration(r.u64())
	b.registered = int64(r.u64())
	b.updated = int64(r.u64())
	b.deadline = int64(r.u64())
	b.timestamp = r.u64()
	b.seq = r.u16()
	if v == recordVersion {
		b.gen = r.u32()
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d octets after the end", errRecord, len(r.b))
	}
	if b.state > stateDeregistered || b.mn.id == "" || !b.coa.IsValid() {
		return nil, fmt.Errorf("%w: binding %d has no mobile node, no care-of address or an unknown state", errRecord, b.id)
	}
	return b, nil
}
